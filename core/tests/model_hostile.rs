//! Hostile blobs: each is rejected by `load` with a specific error, nothing panics.

mod nets;

use nets::{resnet8, Net, Rng};
use exactq_core::arith::{Activation, Profile};
use exactq_core::kernels::Shape4;
use exactq_core::model::aligned::AlignedBytes;
use exactq_core::model::builder::encode_model;
use exactq_core::model::container::{ContainerWriter, MODEL_TAG};
use exactq_core::model::*;
use exactq_core::Error;

/// conv → add(residual) → mean → fc → softmax: small, but every table and array kind.
fn small_net() -> Net {
    let mut rng = Rng(3);
    let mut net = Net::new(Profile::TfliteDouble, Shape4::new(1, 6, 6, 2), 0.03, -5);
    let x = net.input;
    let y = net.conv(&mut rng, x, 2, 3, 1, true, Activation::Relu, (0.05, -128));
    let z = net.add(y, x, Activation::None, (0.07, 3));
    let m = net.mean(z, (0.04, -10));
    let f = net.fc(&mut rng, m, 4, Activation::None, (0.1, 0));
    net.softmax(f, 1.0);
    net.finish();
    net
}

fn wrap(model: &[u8]) -> AlignedBytes {
    let mut w = ContainerWriter::new();
    w.section(MODEL_TAG, model).unwrap();
    AlignedBytes::copy_from(&w.finish().unwrap())
}

fn load_err(blob: &[u8]) -> ModelError {
    match load(blob) {
        Err(Error::Model(e)) => e,
        other => panic!("expected a model error, got {:?}", other.map(|m| m.graph().ops.len())),
    }
}

/// The planned graph and data of `small_net`, to tamper with and re-encode (valid CRCs).
fn parts() -> (Graph, Vec<u8>) {
    let net = small_net();
    let (graph, _) = net.builder.plan().unwrap();
    (graph, net.builder.data().to_vec())
}

fn reject(graph: &Graph, data: &[u8]) -> ModelError {
    load_err(&wrap(&encode_model(Profile::TfliteDouble, graph, data).unwrap()))
}

#[test]
fn untouched_parts_load() {
    let (graph, data) = parts();
    let blob = wrap(&encode_model(Profile::TfliteDouble, &graph, &data).unwrap());
    assert!(load(&blob).is_ok());
}

#[test]
fn every_truncation_is_rejected() {
    let blob = small_net().builder.build().unwrap();
    for len in 0..blob.len() {
        let cut = AlignedBytes::copy_from(&blob[..len]);
        let e = load_err(&cut);
        assert!(matches!(e, ModelError::Truncated { .. } | ModelError::BadMagic), "len {len}: {e:?}");
    }
    let model = small_net().builder.build_model().unwrap();
    for len in 0..model.len() {
        let e = load_err(&AlignedBytes::copy_from(&model[..len]));
        assert!(matches!(e, ModelError::Truncated { .. } | ModelError::BadMagic | ModelError::InconsistentHeader), "len {len}: {e:?}");
    }
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let blob = small_net().builder.build().unwrap();
    for byte in 0..blob.len() {
        for bit in 0..8 {
            let mut flipped = AlignedBytes::copy_from(&blob);
            flipped[byte] ^= 1 << bit;
            assert!(load(&flipped).is_err(), "flip of byte {byte} bit {bit} accepted");
        }
    }
    // Inside the model payload, the section CRC catches it first.
    let mut flipped = AlignedBytes::copy_from(&blob);
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert_eq!(load_err(&flipped), ModelError::SectionCrcMismatch { tag: MODEL_TAG });
    // A bare model: the model CRC catches it.
    let mut model = small_net().builder.build_model().unwrap();
    let last = model.len() - 1;
    model[last] ^= 1;
    assert_eq!(load_err(&AlignedBytes::copy_from(&model)), ModelError::PayloadCrcMismatch);
}

#[test]
fn header_fields() {
    let model = small_net().builder.build_model().unwrap();
    let with = |at: usize, bytes: &[u8]| {
        let mut m = model.clone();
        m[at..at + bytes.len()].copy_from_slice(bytes);
        load_err(&wrap(&m))
    };
    assert_eq!(with(4, &2u16.to_le_bytes()), ModelError::UnsupportedFormatVersion { found: 2 });
    assert_eq!(with(6, &[7]), ModelError::UnknownProfile { code: 7 });
    assert_eq!(with(7, &[1]), ModelError::ReservedNotZero { offset: 7 });
    assert_eq!(with(28, &[1, 0, 0, 0]), ModelError::ReservedNotZero { offset: 28 });
    assert_eq!(with(8, &u32::MAX.to_le_bytes()), ModelError::Truncated { needed: 32 + u32::MAX as usize, available: model.len() });
    assert_eq!(with(16, &u32::MAX.to_le_bytes()), ModelError::InconsistentHeader);
    assert_eq!(with(24, &u32::MAX.to_le_bytes()), ModelError::InconsistentHeader);
    assert_eq!(with(20, &48u32.to_le_bytes()), ModelError::InconsistentHeader);
    assert_eq!(with(0, b"EXQX"), ModelError::BadMagic);
    // Not 16-aligned in memory: constants could not be borrowed.
    let blob = small_net().builder.build().unwrap();
    let mut shifted = AlignedBytes::zeroed(blob.len() + 4);
    shifted[4..].copy_from_slice(&blob);
    assert_eq!(load_err(&shifted[4..]), ModelError::MisalignedBlob);
    // A checkpoint without a model section.
    let mut w = ContainerWriter::new();
    w.section(*b"TRNR", &[0; 8]).unwrap();
    assert_eq!(load_err(&AlignedBytes::copy_from(&w.finish().unwrap())), ModelError::SectionMissing { tag: MODEL_TAG });
}

#[test]
fn graph_encoding() {
    let (graph, data) = parts();
    let mut model = encode_model(Profile::TfliteDouble, &graph, &data).unwrap();
    // Unknown op tag: the first op's variant index (after arena_size, input, output, tensors...).
    let graph_bytes = postcard::to_allocvec(&graph).unwrap();
    let ops_at = graph_bytes.len() - postcard::to_allocvec(&graph.ops).unwrap().len();
    model[32 + ops_at + 1] = 99; // ops: [len, variant, ...]
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(&model[32..]);
    model[12..16].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(load_err(&wrap(&model)), ModelError::GraphDecode);

    // More tensors than the capacity: the length prefix alone is rejected.
    let mut too_many = postcard::to_allocvec(&(0u32, 0u16, 0u16)).unwrap();
    too_many.extend_from_slice(&[200, 1]); // varint 200 tensors
    let mut bare = graph.clone();
    bare.tensors.clear();
    let mut m = encode_model(Profile::TfliteDouble, &bare, &data).unwrap();
    let start = 32;
    let glen = u32::from_le_bytes(m[16..20].try_into().unwrap()) as usize;
    m[start..start + too_many.len().min(glen)].copy_from_slice(&too_many[..too_many.len().min(glen)]);
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(&m[32..]);
    m[12..16].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(load_err(&wrap(&m)), ModelError::GraphDecode);
}

#[test]
fn indices() {
    let (graph, data) = parts();
    let mut g = graph.clone();
    if let OpDesc::Conv2d(d) = &mut g.ops[0].op {
        d.filter = 500;
    }
    assert_eq!(reject(&g, &data), ModelError::TensorIndexOutOfRange { op: 0, tensor: 500 });

    // Cyclic: the first op reads what the second op writes.
    let mut g = graph.clone();
    let second_output = g.ops[1].op.output();
    if let OpDesc::Conv2d(d) = &mut g.ops[0].op {
        d.input = second_output;
    }
    assert_eq!(reject(&g, &data), ModelError::ReadBeforeWrite { op: 0, tensor: second_output });

    // Two ops write one tensor.
    let mut g = graph.clone();
    let first_output = g.ops[0].op.output();
    if let OpDesc::Add(d) = &mut g.ops[1].op {
        d.output = first_output;
    }
    assert_eq!(reject(&g, &data), ModelError::WrittenTwice { tensor: first_output });

    // A weight used as an activation, an activation used as a weight.
    let mut g = graph.clone();
    let filter = match g.ops[0].op { OpDesc::Conv2d(d) => d.filter, _ => unreachable!() };
    if let OpDesc::Add(d) = &mut g.ops[1].op {
        d.input2 = filter;
    }
    assert_eq!(reject(&g, &data), ModelError::WrongStorage { tensor: filter });

    let mut g = graph.clone();
    g.output = 400;
    assert_eq!(reject(&g, &data), ModelError::GraphIoOutOfRange { tensor: 400 });
    let mut g = graph.clone();
    g.ops.clear();
    assert_eq!(reject(&g, &data), ModelError::EmptyGraph);
}

#[test]
fn shapes() {
    let (graph, data) = parts();
    let input = graph.input as usize;
    let mut g = graph.clone();
    g.tensors[input].shape = heapless::Vec::from_slice(&[65536, 65536, 65536, 2]).unwrap();
    assert_eq!(reject(&g, &data), ModelError::ShapeOverflow { tensor: input as u16 });
    let mut g = graph.clone();
    g.tensors[input].shape = heapless::Vec::from_slice(&[1, 0, 6, 2]).unwrap();
    assert_eq!(reject(&g, &data), ModelError::ZeroDimension { tensor: input as u16 });
    let mut g = graph.clone();
    g.tensors[input].shape.clear();
    assert_eq!(reject(&g, &data), ModelError::BadRank { tensor: input as u16 });
    // Same size, wrong layout for the op.
    let mut g = graph.clone();
    g.tensors[input].shape = heapless::Vec::from_slice(&[1, 3, 12, 2]).unwrap();
    assert!(matches!(reject(&g, &data), ModelError::ShapeMismatch { op: 0 } | ModelError::ArenaOverlap { .. } | ModelError::ArenaRegionOutOfRange { .. }));
    let mut g = graph.clone();
    g.tensors[input].shape = heapless::Vec::from_slice(&[1, 6, 6, 3]).unwrap();
    // 3 input channels for a 2-channel filter: not a whole number of groups.
    assert_eq!(reject(&g, &data), ModelError::BadOpParams { op: 0 });
    // A stride the output shape does not agree with.
    let mut g = graph.clone();
    if let OpDesc::Conv2d(d) = &mut g.ops[0].op {
        d.window.stride_h = 2;
    }
    assert_eq!(reject(&g, &data), ModelError::ShapeMismatch { op: 0 });
    let mut g = graph.clone();
    if let OpDesc::Conv2d(d) = &mut g.ops[0].op {
        d.window.stride_h = 0;
    }
    assert!(matches!(reject(&g, &data), ModelError::BadOpParams { op: 0 } | ModelError::ShapeMismatch { op: 0 }));
}

#[test]
fn quantization() {
    let (graph, data) = parts();
    let input = graph.input as usize;
    let (conv_filter, conv_rescale) = match graph.ops[0].op {
        OpDesc::Conv2d(d) => (d.filter as usize, d.rescale),
        _ => unreachable!(),
    };
    let quant_err = |g: &Graph, d: &[u8]| reject(g, d);

    // Activation zero point outside int8.
    let mut g = graph.clone();
    g.tensors[input].quantization = Quantization::PerTensor { scale: 0.03, zero_point: 300 };
    assert_eq!(quant_err(&g, &data), ModelError::BadQuantization { tensor_or_op: input as u16 });
    // Non-finite and negative scales.
    let mut g = graph.clone();
    g.tensors[input].quantization = Quantization::PerTensor { scale: f32::NAN, zero_point: 0 };
    assert_eq!(quant_err(&g, &data), ModelError::BadQuantization { tensor_or_op: input as u16 });
    // Weights with a zero point.
    let mut g = graph.clone();
    if let Quantization::PerChannel { zero_point, .. } = &mut g.tensors[conv_filter].quantization {
        *zero_point = 1;
    }
    assert_eq!(quant_err(&g, &data), ModelError::BadQuantization { tensor_or_op: conv_filter as u16 });
    // Per-channel scale count differs from the channels.
    let mut g = graph.clone();
    if let Quantization::PerChannel { scales, .. } = &mut g.tensors[conv_filter].quantization {
        scales.len += 1;
    }
    assert_eq!(quant_err(&g, &data), ModelError::BadQuantization { tensor_or_op: conv_filter as u16 });
    // Input scale changed: the stored multipliers (and bias scales) no longer match.
    let mut g = graph.clone();
    g.tensors[input].quantization = Quantization::PerTensor { scale: 0.06, zero_point: -5 };
    assert_eq!(quant_err(&g, &data), ModelError::BadQuantization { tensor_or_op: 0 });
    // A multiplier off by a factor of two in the data section.
    let mut d = data.clone();
    let at = conv_rescale.offset as usize + 4; // shift of channel 0
    let shift = i32::from_le_bytes(d[at..at + 4].try_into().unwrap());
    d[at..at + 4].copy_from_slice(&(shift + 1).to_le_bytes());
    assert_eq!(quant_err(&graph, &d), ModelError::BadQuantization { tensor_or_op: 0 });
    // Rescale array pointing past the data section.
    let mut g = graph.clone();
    if let OpDesc::Conv2d(desc) = &mut g.ops[0].op {
        desc.rescale.offset = data.len() as u32;
    }
    assert_eq!(quant_err(&g, &data), ModelError::DataOutOfRange { tensor_or_op: 0, field: DataField::ChannelRescale });
    // Softmax output not (1/256, -128).
    let mut g = graph.clone();
    let out = g.output as usize;
    g.tensors[out].quantization = Quantization::PerTensor { scale: 1.0 / 255.0, zero_point: -128 };
    assert_eq!(quant_err(&g, &data), ModelError::BadQuantization { tensor_or_op: 4 });
}

#[test]
fn arena_and_data_regions() {
    let (graph, data) = parts();
    let input = graph.input as usize;
    let filter = match graph.ops[0].op {
        OpDesc::Conv2d(d) => d.filter as usize,
        _ => unreachable!(),
    };
    let mut g = graph.clone();
    g.tensors[input].storage = Storage::Arena { offset: g.arena_size };
    assert_eq!(reject(&g, &data), ModelError::ArenaRegionOutOfRange { tensor_or_op: input as u16 });
    let mut g = graph.clone();
    g.tensors[input].storage = Storage::Arena { offset: 8 };
    assert_eq!(reject(&g, &data), ModelError::ArenaRegionOutOfRange { tensor_or_op: input as u16 });
    // Input and the conv output (live together) at the same offset.
    let mut g = graph.clone();
    let conv_out = g.ops[0].op.output() as usize;
    g.tensors[conv_out].storage = g.tensors[input].storage;
    assert!(matches!(reject(&g, &data), ModelError::ArenaOverlap { .. }));
    // Scratch smaller than the conv kernel needs.
    let mut g = graph.clone();
    g.ops[0].scratch.size = 2;
    assert_eq!(reject(&g, &data), ModelError::BadScratch { op: 0 });
    // Arena size claims less than the tensors need.
    let mut g = graph.clone();
    g.arena_size = 16;
    assert!(matches!(reject(&g, &data), ModelError::ArenaRegionOutOfRange { .. }));
    // Weights past the end of the data section, and misaligned int32 bias.
    let mut g = graph.clone();
    g.tensors[filter].storage = Storage::Constant { offset: data.len() as u32 - 4 };
    assert_eq!(reject(&g, &data), ModelError::DataOutOfRange { tensor_or_op: filter as u16, field: DataField::TensorData });
    let bias = match graph.ops[0].op {
        OpDesc::Conv2d(d) => d.bias.unwrap() as usize,
        _ => unreachable!(),
    };
    let mut g = graph.clone();
    g.tensors[bias].storage = Storage::Constant { offset: 2 };
    assert_eq!(reject(&g, &data), ModelError::DataMisaligned { tensor_or_op: bias as u16, field: DataField::TensorData });
    // A weight tensor declared int32 (where int8 is needed).
    let mut g = graph.clone();
    g.tensors[filter].dtype = DType::Int32;
    g.tensors[filter].storage = Storage::Constant { offset: 0 };
    assert!(matches!(reject(&g, &data), ModelError::WrongDtype { .. } | ModelError::DataOutOfRange { .. }));
}

#[test]
fn invoke_checks_its_arguments() {
    let net = resnet8(Profile::TfliteDouble, 2);
    let blob = AlignedBytes::copy_from(&net.builder.build().unwrap());
    let model = load(&blob).unwrap();
    let input = vec![0i8; 784];
    let mut output = vec![0i8; 10];
    let mut small = AlignedBytes::zeroed(model.arena_size() - 1);
    assert_eq!(
        invoke(&model, &input, &mut small, &mut output),
        Err(Error::Model(ModelError::ArenaTooSmall { needed: model.arena_size(), available: model.arena_size() - 1 }))
    );
    let mut arena = AlignedBytes::zeroed(model.arena_size() + 16);
    assert_eq!(invoke(&model, &input, &mut arena[4..], &mut output), Err(Error::Model(ModelError::MisalignedArena)));
    assert_eq!(
        invoke(&model, &input[..783], &mut arena, &mut output),
        Err(Error::Model(ModelError::InputSizeMismatch { expected: 784, found: 783 }))
    );
    assert_eq!(
        invoke(&model, &input, &mut arena, &mut output[..9]),
        Err(Error::Model(ModelError::OutputSizeMismatch { expected: 10, found: 9 }))
    );
    assert!(invoke(&model, &input, &mut arena, &mut output).is_ok());
}

/// `load` decodes the graph in place (its own serde seed, not the derived `Deserialize`): on
/// every byte of the graph set to a few values it accepts and rejects exactly what
/// `postcard::take_from_bytes::<Graph>` does, and decodes the same graph.
#[test]
fn in_place_graph_decoder_matches_derived_deserialize() {
    let (graph, data) = parts();
    let model = encode_model(Profile::TfliteDouble, &graph, &data).unwrap();
    let graph_len = u32::from_le_bytes(model[16..20].try_into().unwrap()) as usize;
    let crc32 = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    let mut checked = 0;
    for at in 0..graph_len {
        for value in [0u8, 1, 2, 0x7f, 0x80, 0xff, model[32 + at] ^ 1] {
            let mut m = model.clone();
            m[32 + at] = value;
            let crc = crc32.checksum(&m[32..]);
            m[12..16].copy_from_slice(&crc.to_le_bytes());
            let derived = postcard::take_from_bytes::<Graph>(&m[32..32 + graph_len]);
            let blob = wrap(&m);
            let loaded = load(&blob);
            match (derived, loaded) {
                (Err(_), Err(Error::Model(ModelError::GraphDecode))) => {}
                (Ok((_, rest)), Err(Error::Model(ModelError::GraphTrailingBytes))) if !rest.is_empty() => {}
                (Ok((g, [])), Ok(loaded)) => assert_eq!(loaded.graph(), &g, "byte {at} = {value}"),
                (Ok((_, [])), Err(Error::Model(e))) => {
                    assert!(!matches!(e, ModelError::GraphDecode | ModelError::GraphTrailingBytes), "byte {at} = {value}: {e:?}")
                }
                (derived, loaded) => panic!(
                    "byte {at} = {value}: derived {:?}, load {:?}",
                    derived.map(|(_, rest)| rest.len()),
                    loaded.map(|m| m.graph().ops.len())
                ),
            }
            checked += 1;
        }
    }
    assert!(checked > 100);
}

/// `load_into` overwrites a loaded model completely, and leaves it empty (and refused by
/// `invoke`) when the blob is rejected.
#[test]
fn load_into_reuses_and_clears_the_model() {
    let small = AlignedBytes::copy_from(&small_net().builder.build().unwrap());
    let big = AlignedBytes::copy_from(&resnet8(Profile::TfliteSingle, 5).builder.build().unwrap());
    let mut bad = big.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 1; // CRC mismatch
    let bad = AlignedBytes::copy_from(&bad);
    let mut model = Model::empty();
    load_into(&small, &mut model).unwrap();
    assert_eq!(model.graph(), load(&small).unwrap().graph());
    load_into(&big, &mut model).unwrap();
    let fresh = load(&big).unwrap();
    assert_eq!(model.graph(), fresh.graph());
    assert_eq!(model.profile(), fresh.profile());
    assert_eq!(model.data(), fresh.data());

    assert!(load_into(&bad, &mut model).is_err());
    assert_eq!(model.graph().ops.len(), 0);
    assert_eq!(model.graph().tensors.len(), 0);
    assert_eq!(model.data(), &[] as &[u8]);
    let mut arena = AlignedBytes::zeroed(64);
    assert!(invoke(&model, &[0; 4], &mut arena, &mut [0; 4]).is_err());
    assert_eq!(Model::default().graph(), Model::empty().graph());
}
