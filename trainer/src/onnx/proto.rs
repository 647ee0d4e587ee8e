//! The few ONNX protobuf messages the exporter writes, encoded by hand.
//!
//! Field numbers and enum values are those of `onnx/onnx.proto` (ONNX IR version 8). Protobuf
//! wire format: a field is `varint(number << 3 | wire_type)` then its value; wire type 0 is a
//! varint, 2 is length-delimited (strings, bytes, nested messages, packed repeated scalars),
//! 5 is a little-endian 32-bit value (float).

/// `TensorProto.DataType` values used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum DataType {
    Float = 1,
    Uint8 = 2,
    Int8 = 3,
    Int32 = 6,
    Int64 = 7,
}

/// One message being written.
#[derive(Default)]
pub struct Message {
    bytes: Vec<u8>,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl Message {
    pub fn new() -> Self {
        Message::default()
    }

    fn key(&mut self, field: u32, wire_type: u8) {
        put_varint(&mut self.bytes, (u64::from(field) << 3) | u64::from(wire_type));
    }

    /// An `int32`/`int64`/enum field (negative values take ten bytes, as protobuf says).
    pub fn int(&mut self, field: u32, v: i64) -> &mut Self {
        self.key(field, 0);
        put_varint(&mut self.bytes, v as u64);
        self
    }

    /// A `float` field.
    pub fn float(&mut self, field: u32, v: f32) -> &mut Self {
        self.key(field, 5);
        self.bytes.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A `bytes` field.
    pub fn bytes(&mut self, field: u32, v: &[u8]) -> &mut Self {
        self.key(field, 2);
        put_varint(&mut self.bytes, v.len() as u64);
        self.bytes.extend_from_slice(v);
        self
    }

    /// A `string` field.
    pub fn string(&mut self, field: u32, v: &str) -> &mut Self {
        self.bytes(field, v.as_bytes())
    }

    /// A nested message field.
    pub fn message(&mut self, field: u32, m: &Message) -> &mut Self {
        self.bytes(field, &m.bytes)
    }

    /// A packed `repeated int64` field.
    pub fn packed_ints(&mut self, field: u32, vs: &[i64]) -> &mut Self {
        let mut packed = Vec::new();
        for v in vs {
            put_varint(&mut packed, *v as u64);
        }
        self.bytes(field, &packed)
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// `TensorProto { dims = 1, data_type = 2, name = 8, raw_data = 9 }` (raw data little-endian).
pub fn tensor(name: &str, dtype: DataType, dims: &[i64], raw_le: &[u8]) -> Message {
    let mut t = Message::new();
    t.packed_ints(1, dims).int(2, dtype as i64).string(8, name).bytes(9, raw_le);
    t
}

/// Attribute values (`AttributeProto.AttributeType`: FLOAT 1, INT 2, TENSOR 4, INTS 7).
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
}

/// `AttributeProto { name = 1, f = 2, i = 3, ints = 8, type = 20 }`.
fn attribute(name: &str, value: &Attr) -> Message {
    let mut a = Message::new();
    a.string(1, name);
    match value {
        Attr::Float(f) => a.float(2, *f).int(20, 1),
        Attr::Int(i) => a.int(3, *i).int(20, 2),
        Attr::Ints(vs) => {
            // Unpacked, as onnx.proto declares `repeated int64 ints = 8` without [packed] in
            // proto2 syntax; readers accept both.
            for v in vs {
                a.int(8, *v);
            }
            a.int(20, 7)
        }
    };
    a
}

/// `NodeProto { input = 1, output = 2, name = 3, op_type = 4, attribute = 5 }`.
pub fn node(op_type: &str, name: &str, inputs: &[&str], outputs: &[&str], attrs: &[(&str, Attr)]) -> Message {
    let mut n = Message::new();
    for i in inputs {
        n.string(1, i);
    }
    for o in outputs {
        n.string(2, o);
    }
    n.string(3, name).string(4, op_type);
    for (k, v) in attrs {
        n.message(5, &attribute(k, v));
    }
    n
}

/// A dimension: fixed or symbolic (`Dimension { dim_value = 1, dim_param = 2 }`).
pub enum Dim {
    Value(i64),
    Param(&'static str),
}

/// `ValueInfoProto { name = 1, type = 2 }` with `TypeProto { tensor_type = 1 }`,
/// `TypeProto.Tensor { elem_type = 1, shape = 2 }`, `TensorShapeProto { dim = 1 }`.
pub fn value_info(name: &str, dtype: DataType, dims: &[Dim]) -> Message {
    let mut shape = Message::new();
    for d in dims {
        let mut dim = Message::new();
        match d {
            Dim::Value(v) => dim.int(1, *v),
            Dim::Param(p) => dim.string(2, p),
        };
        shape.message(1, &dim);
    }
    let mut tensor_type = Message::new();
    tensor_type.int(1, dtype as i64).message(2, &shape);
    let mut ty = Message::new();
    ty.message(1, &tensor_type);
    let mut v = Message::new();
    v.string(1, name).message(2, &ty);
    v
}

/// `GraphProto { node = 1, name = 2, initializer = 5, input = 11, output = 12 }`.
pub fn graph(name: &str, nodes: &[Message], initializers: &[Message], inputs: &[Message], outputs: &[Message]) -> Message {
    let mut g = Message::new();
    for n in nodes {
        g.message(1, n);
    }
    g.string(2, name);
    for t in initializers {
        g.message(5, t);
    }
    for i in inputs {
        g.message(11, i);
    }
    for o in outputs {
        g.message(12, o);
    }
    g
}

/// `ModelProto { ir_version = 1, producer_name = 2, producer_version = 3, graph = 7,
/// opset_import = 8 }` with `OperatorSetIdProto { domain = 1, version = 2 }` (default domain).
pub fn model(ir_version: i64, opset: i64, producer_version: &str, graph: &Message) -> Vec<u8> {
    let mut opset_id = Message::new();
    opset_id.string(1, "").int(2, opset);
    let mut m = Message::new();
    m.int(1, ir_version).string(2, "exactq").string(3, producer_version).message(7, graph).message(8, &opset_id);
    m.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_the_protobuf_examples() {
        // From the protobuf encoding guide: 150 is `96 01`; field 1 varint 150 is `08 96 01`.
        let mut m = Message::new();
        m.int(1, 150);
        assert_eq!(m.into_bytes(), vec![0x08, 0x96, 0x01]);
        // A negative int64 is its two's complement as a ten-byte varint.
        let mut m = Message::new();
        m.int(1, -1);
        assert_eq!(m.into_bytes(), vec![0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
    }

    #[test]
    fn strings_and_floats_are_framed() {
        let mut m = Message::new();
        m.string(2, "testing").float(3, 1.0);
        let mut want = vec![0x12, 0x07];
        want.extend_from_slice(b"testing");
        want.extend_from_slice(&[0x1D, 0x00, 0x00, 0x80, 0x3F]);
        assert_eq!(m.into_bytes(), want);
    }
}
