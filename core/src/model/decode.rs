//! Decodes the postcard graph straight into a [`Graph`]'s fixed-capacity tables, one tensor and
//! one op at a time. `postcard::from_bytes::<Graph>` builds the whole graph in its own stack
//! frame and then moves it (several times) to the caller: on a device that is kilobytes of
//! stack for nothing. The bytes accepted and the values produced are the same as the derived
//! `Deserialize` of [`Graph`] (`in_place_graph_decoder_matches_derived_deserialize` in
//! `tests/model_hostile.rs`; `tests/model_roundtrip.rs` compares decoded and planned graphs).

use core::fmt;

use serde::de::{DeserializeSeed, Error as _, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::error::ModelError;
use super::format::Graph;
use crate::error::Error;

/// Fills `graph` from `bytes` (every byte must be used). On error `graph` holds a partial
/// decode; the caller clears it.
pub(crate) fn decode_graph_into(bytes: &[u8], graph: &mut Graph) -> Result<(), Error> {
    let mut de = postcard::Deserializer::from_bytes(bytes);
    GraphSeed(graph).deserialize(&mut de).map_err(|_| ModelError::GraphDecode)?;
    match de.finalize() {
        Ok([]) => Ok(()),
        Ok(_) => Err(ModelError::GraphTrailingBytes.into()),
        Err(_) => Err(ModelError::GraphDecode.into()),
    }
}

/// Field names of [`Graph`], in order (postcard ignores them but `deserialize_struct` takes them).
const GRAPH_FIELDS: &[&str] = &["arena_size", "input", "output", "tensors", "ops"];

struct GraphSeed<'g>(&'g mut Graph);

impl<'de> DeserializeSeed<'de> for GraphSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_struct("Graph", GRAPH_FIELDS, self)
    }
}

impl<'de> Visitor<'de> for GraphSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct Graph")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let graph = self.0;
        let missing = |index: usize| A::Error::invalid_length(index, &"struct Graph with 5 elements");
        graph.arena_size = seq.next_element()?.ok_or_else(|| missing(0))?;
        graph.input = seq.next_element()?.ok_or_else(|| missing(1))?;
        graph.output = seq.next_element()?.ok_or_else(|| missing(2))?;
        seq.next_element_seed(VecSeed(&mut graph.tensors))?.ok_or_else(|| missing(3))?;
        seq.next_element_seed(VecSeed(&mut graph.ops))?.ok_or_else(|| missing(4))?;
        Ok(())
    }
}

/// Decodes a sequence by pushing each element onto an existing `heapless::Vec` (cleared first),
/// as `heapless`' own `Deserialize` does into a new one.
struct VecSeed<'v, T, const N: usize>(&'v mut heapless::Vec<T, N>);

impl<'de, T: Deserialize<'de>, const N: usize> DeserializeSeed<'de> for VecSeed<'_, T, N> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for VecSeed<'_, T, N> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let vec = self.0;
        vec.clear();
        while let Some(value) = seq.next_element::<T>()? {
            if vec.push(value).is_err() {
                return Err(A::Error::invalid_length(N + 1, &"at most the table capacity"));
            }
        }
        Ok(())
    }
}
