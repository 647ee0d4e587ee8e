//! ONNX export: bad input is a clear error; zoo models export to QDQ graphs; retargeting to
//! float-requant keeps the graph and runs in the interpreter.

use exactq_trainer::data::Split;
use exactq_trainer::nn::ParamStore;
use exactq_trainer::onnx::{export_model, float_requant_blob};
use exactq_trainer::quant::device::Device;
use exactq_trainer::quant::export::device_blob;
use exactq_trainer::quant::ptq::{quantize, PtqConfig};
use exactq_trainer::quant::qmodel::ProfileName;
use exactq_trainer::quant::range::RangeEstimator;
use exactq_trainer::zoo::Arch;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

fn blob(arch: Arch, profile: ProfileName) -> Vec<u8> {
    let graph = arch.graph();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let params = ParamStore::init(&graph, &mut rng);
    let d: usize = arch.input_shape().iter().product();
    let x: Vec<f32> = (0..32 * d).map(|_| (rng.next_u32() >> 8) as f32 / (1u32 << 23) as f32 - 1.0).collect();
    let cfg = PtqConfig { profile, samples: 32, estimator: RangeEstimator::MinMax, bias_correction: false, seed: 0 };
    let q = quantize(&graph, &params, &Split { x, y: vec![0; 32] }, &cfg).unwrap();
    device_blob(&q.model, &q.folded.params).unwrap()
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn garbage_is_refused_with_a_reason() {
    let e = export_model(b"not a model at all, just bytes").unwrap_err().to_string();
    assert!(e.contains("not a valid exactq model"), "{e}");
}

#[test]
fn digits_cnn_exports_qdq_nodes() {
    let onnx = export_model(&blob(Arch::DigitsCnn, ProfileName::TfliteSingle)).unwrap();
    for op in ["QuantizeLinear", "DequantizeLinear", "Conv", "Gemm", "Transpose"] {
        assert!(contains(&onnx, op), "no {op} node");
    }
}

#[test]
fn float_requant_retarget_runs_and_refuses_double() {
    let single = blob(Arch::DigitsCnn, ProfileName::TfliteSingle);
    let float = float_requant_blob(&single).unwrap();
    assert_ne!(single, float);
    let x: Vec<f32> = (0..64 * 8).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
    let a = Device::new(&single).unwrap().run(&x).unwrap();
    let b = Device::new(&float).unwrap().run(&x).unwrap();
    // Different rounding, same network: rounding differences are rare (ties, f32 vs 31-bit
    // multipliers), so nearly every logit agrees and none is far off.
    let same = a.iter().zip(&b).filter(|(p, q)| p == q).count();
    assert!(same * 10 >= a.len() * 9, "{same} of {} equal", a.len());
    assert!(a.iter().zip(&b).all(|(p, q)| (*p as i32 - *q as i32).abs() <= 4));
    let e = float_requant_blob(&blob(Arch::DigitsCnn, ProfileName::TfliteDouble)).unwrap_err().to_string();
    assert!(e.contains("tflite-double"), "{e}");
}

/// A PAD of the batch dimension: a blob the ONNX writer cannot express (the ONNX batch is
/// symbolic). Per-channel activations, the other case the writer names, never get this far:
/// the core's loader rejects them.
fn batch_pad_blob() -> Vec<u8> {
    use exactq_core::arith::Profile;
    use exactq_core::model::builder::ModelBuilder;
    let mut b = ModelBuilder::new(Profile::TfliteSingle);
    let x = b.input(&[1, 4, 4, 2], 0.5, -3).unwrap();
    let y = b.pad(x, [1, 0, 0, 0], [0, 0, 0, 0]).unwrap();
    b.set_output(y);
    b.build().unwrap()
}

const BATCH_PAD_ERROR: &str = "op 0 (pad): padding the batch dimension is not exported";

#[test]
fn an_op_without_onnx_mapping_is_named() {
    let e = format!("{:#}", export_model(&batch_pad_blob()).unwrap_err());
    assert!(e.contains(BATCH_PAD_ERROR), "{e}");
}

#[test]
fn cli_export_onnx_names_the_unsupported_op_and_exits_2() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("exactq-onnx-bad");
    std::fs::create_dir_all(&dir).unwrap();
    let blob = dir.join("pad.qmod");
    std::fs::write(&blob, batch_pad_blob()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_exactq"))
        .args(["export", blob.to_str().unwrap(), "--format", "onnx", "-o", dir.join("pad.onnx").to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(BATCH_PAD_ERROR), "{err}");
    assert!(!dir.join("pad.onnx").exists(), "nothing written");
    std::fs::remove_dir_all(&dir).ok();
}

// ------------------------------------------------- standalone PAD / RELU / RELU6 (TFLite imports)

/// The parts of an ONNX graph the checks below read, decoded from the protobuf bytes.
struct OnnxGraph {
    /// `(op_type, inputs, outputs)` in graph order.
    nodes: Vec<(String, Vec<String>, Vec<String>)>,
    /// Initializer name → raw little-endian data.
    inits: std::collections::HashMap<String, Vec<u8>>,
}

/// The fields of one protobuf message: number and value (varints and fixed-width values as
/// integers, length-delimited fields as bytes).
fn proto_fields(mut b: &[u8]) -> Vec<(u64, Result<u64, &[u8]>)> {
    fn varint(b: &mut &[u8]) -> u64 {
        let mut v = 0;
        for shift in (0..64).step_by(7) {
            let byte = b[0];
            *b = &b[1..];
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                break;
            }
        }
        v
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b);
        let value = match key & 7 {
            0 => Ok(varint(&mut b)),
            1 | 5 => {
                let n = if key & 7 == 1 { 8 } else { 4 };
                let (v, rest) = b.split_at(n);
                b = rest;
                Ok(v.iter().rev().fold(0, |acc, &x| acc << 8 | u64::from(x)))
            }
            2 => {
                let n = varint(&mut b) as usize;
                let (v, rest) = b.split_at(n);
                b = rest;
                Err(v)
            }
            w => panic!("wire type {w}"),
        };
        out.push((key >> 3, value));
    }
    out
}

fn parse_onnx(onnx: &[u8]) -> OnnxGraph {
    let bytes = |fields: &[(u64, Result<u64, &[u8]>)], n: u64| -> Vec<Vec<u8>> {
        fields.iter().filter(|(k, _)| *k == n).map(|(_, v)| v.expect_err("length-delimited").to_vec()).collect()
    };
    let text = |v: Vec<Vec<u8>>| -> Vec<String> { v.into_iter().map(|s| String::from_utf8(s).unwrap()).collect() };
    let model = proto_fields(onnx);
    let graph_bytes = bytes(&model, 7).pop().expect("ModelProto.graph");
    let graph = proto_fields(&graph_bytes);
    let nodes = bytes(&graph, 1)
        .iter()
        .map(|n| {
            let f = proto_fields(n);
            (text(bytes(&f, 4)).remove(0), text(bytes(&f, 1)), text(bytes(&f, 2)))
        })
        .collect();
    let inits = bytes(&graph, 5)
        .iter()
        .map(|t| {
            let f = proto_fields(t);
            (text(bytes(&f, 8)).remove(0), bytes(&f, 9).remove(0))
        })
        .collect();
    OnnxGraph { nodes, inits }
}

impl OnnxGraph {
    /// The one node of type `op`.
    fn only(&self, op: &str) -> &(String, Vec<String>, Vec<String>) {
        let found: Vec<_> = self.nodes.iter().filter(|n| n.0 == op).collect();
        assert_eq!(found.len(), 1, "{op} nodes: {:?}", self.nodes);
        found[0]
    }

    /// The node that produces `value`.
    fn producer(&self, value: &str) -> &(String, Vec<String>, Vec<String>) {
        self.nodes.iter().find(|n| n.2.iter().any(|o| o == value)).unwrap_or_else(|| panic!("nothing produces {value}"))
    }

    /// The node that reads `value` (the only one).
    fn consumer(&self, value: &str) -> &(String, Vec<String>, Vec<String>) {
        let found: Vec<_> = self.nodes.iter().filter(|n| n.1.iter().any(|i| i == value)).collect();
        assert_eq!(found.len(), 1, "readers of {value}: {found:?}");
        found[0]
    }

    fn f32_init(&self, name: &str) -> f32 {
        f32::from_le_bytes(self.inits[name].as_slice().try_into().unwrap())
    }

    fn u8_init(&self, name: &str) -> u8 {
        match self.inits[name].as_slice() {
            [v] => *v,
            other => panic!("{name}: {other:?} is not one byte"),
        }
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tflite").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn per_tensor(model: &exactq_core::model::Model<'_>, i: u16) -> (f32, i32) {
    match model.tensor(i).unwrap().quantization {
        exactq_core::model::Quantization::PerTensor { scale, zero_point } => (scale, zero_point),
        other => panic!("tensor {i}: {other:?}"),
    }
}

/// The `DequantizeLinear` of activation `t{i}` as the writer emits it: (scale, uint8 zero point).
fn dequantized_from(g: &OnnxGraph, value: &str, t: u16) -> (f32, u8) {
    let dq = g.producer(value);
    assert_eq!(dq.0, "DequantizeLinear", "{value} comes from {dq:?}");
    assert_eq!(dq.1[0], format!("t{t}"));
    (g.f32_init(&dq.1[1]), g.u8_init(&dq.1[2]))
}

/// Every PAD, RELU and RELU6 fixture (TFLite imports, each followed by a CONV_2D) exports; the
/// op's nodes read and write the tensors the blob's op reads and writes, with the quantization
/// the blob gives them (docs/onnx.md). Their numbers in ONNX Runtime: `tools/onnx-check/run.sh
/// tflite`.
#[test]
fn standalone_pad_relu_and_relu6_from_tflite_export() {
    use exactq_core::model::{aligned::AlignedBytes, load, OpDesc};
    use exactq_trainer::import::convert::import_tflite;
    for name in ["pad_0", "pad_1", "relu_0", "relu_1", "relu6_0", "relu6_1"] {
        let blob = import_tflite(&fixture(&format!("{name}.tflite"))).unwrap_or_else(|e| panic!("{name}: {e}")).blob;
        let onnx = export_model(&blob).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let g = parse_onnx(&onnx);
        let aligned = AlignedBytes::copy_from(&blob);
        let model = load(aligned.as_slice()).unwrap();
        let ops: Vec<OpDesc> = model.graph().ops.iter().map(|e| e.op).collect();
        assert!(matches!(ops.last(), Some(OpDesc::Conv2d(_))), "{name}: {ops:?}");
        g.only("Conv");
        match ops[0] {
            OpDesc::Pad(d) => {
                // Integers padded as they are: the uint8 value itself, no Q/DQ around it.
                let pad = g.only("Pad");
                assert_eq!((&pad.1[0], &pad.2[0]), (&format!("t{}", d.input), &format!("t{}", d.output)), "{name}");
                let pads: Vec<i64> = g.inits[&pad.1[1]].chunks(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect();
                let nchw = |p: [u16; 4]| [0, 3, 1, 2].map(|k| i64::from(p[k]));
                assert_eq!(pads, [nchw(d.before), nchw(d.after)].concat(), "{name}: pads (NCHW)");
                assert!(pads.iter().any(|&p| p > 0), "{name}: pads something");
                assert_eq!(i32::from(g.u8_init(&pad.1[2])), i32::from(d.pad_value) + 128, "{name}: pad value");
                assert_eq!(i32::from(d.pad_value), per_tensor(&model, d.output).1);
                assert!(!g.nodes.iter().any(|n| n.0 == "DequantizeLinear" && n.1[0] == format!("t{}", d.input)), "{name}");
            }
            OpDesc::Relu(d) => {
                // DQ(input) → Relu → Q(output's scale and zero point).
                let relu = g.only("Relu");
                let (s_in, zp_in) = per_tensor(&model, d.input);
                assert_eq!(dequantized_from(&g, &relu.1[0], d.input), (s_in, (zp_in + 128) as u8), "{name}");
                let q = g.consumer(&relu.2[0]);
                assert_eq!((q.0.as_str(), &q.2[0]), ("QuantizeLinear", &format!("t{}", d.output)), "{name}");
                let (s_out, zp_out) = per_tensor(&model, d.output);
                assert_eq!((g.f32_init(&q.1[1]), g.u8_init(&q.1[2])), (s_out, (zp_out + 128) as u8), "{name}");
            }
            OpDesc::Relu6(d) => {
                // DQ(input) → Clip at the dequantized bounds → Q with the *input's* parameters.
                let clip = g.only("Clip");
                let (s_in, zp_in) = per_tensor(&model, d.input);
                assert_eq!(dequantized_from(&g, &clip.1[0], d.input), (s_in, (zp_in + 128) as u8), "{name}");
                let bounds = (g.f32_init(&clip.1[1]), g.f32_init(&clip.1[2]));
                assert_eq!(bounds, (0.0, s_in * (d.bounds.max - zp_in) as f32), "{name}");
                // 6 in input units, or the largest int8 value when 6 is beyond the input's range.
                assert!(bounds.1 <= 6.0 + s_in && (d.bounds.max == 127 || bounds.1 >= 6.0 - s_in), "{name}: upper bound {}", bounds.1);
                let q = g.consumer(&clip.2[0]);
                assert_eq!((q.0.as_str(), &q.2[0]), ("QuantizeLinear", &format!("t{}", d.output)), "{name}");
                assert_eq!((g.f32_init(&q.1[1]), g.u8_init(&q.1[2])), (s_in, (zp_in + 128) as u8), "{name}");
                if name == "relu6_0" {
                    // The case TFLM's RELU6 ignores: the output declares other parameters.
                    assert_ne!(per_tensor(&model, d.output), (s_in, zp_in), "{name}");
                }
            }
            other => panic!("{name}: first op {other:?}"),
        }
    }
}
