//! PAD, standalone RELU and RELU6 through the builder, the loader and the interpreter, against
//! the kernels called directly, plus the loader's checks of their parameters.

use exactq_core::arith::multiplier::relu_multiplier;
use exactq_core::arith::{ActivationRange, Profile, Requant};
use exactq_core::kernels::{self, Shape4};
use exactq_core::model::aligned::AlignedBytes;
use exactq_core::model::builder::{ModelBuilder, OutQuant};
use exactq_core::model::{invoke_observed, load, OpDesc};

fn build(profile: Profile) -> (ModelBuilder, [u16; 4]) {
    let mut b = ModelBuilder::new(profile);
    let x = b.input(&[1, 3, 4, 2], 0.05, -7).unwrap();
    let padded = b.pad(x, [0, 1, 2, 0], [0, 2, 0, 1]).unwrap();
    let relu = b.relu(padded, OutQuant::new(0.02, -128)).unwrap();
    // The declared output quantization differs from the input's: RELU6 must not rescale.
    let relu6 = b.relu6(relu, OutQuant::new(0.5, 3)).unwrap();
    b.set_output(relu6);
    (b, [x, padded, relu, relu6])
}

#[test]
fn pad_relu_relu6_match_the_kernels() {
    for profile in Profile::FIXED_POINT {
        let (builder, _) = build(profile);
        let blob = AlignedBytes::copy_from(&builder.build().unwrap());
        let model = load(blob.as_slice()).unwrap();
        let input: Vec<i8> = (0..24).map(|i| (i * 11 % 256 - 128) as i8).collect();
        let mut arena = vec![0u8; model.arena_size()];
        let mut output = vec![0i8; model.output_len()];
        let mut seen = Vec::new();
        invoke_observed(&model, &input, &mut arena, &mut output, |_, _, v| seen.push(v.to_vec())).unwrap();

        let pad = kernels::PadParams { input: Shape4::new(1, 3, 4, 2), before: [0, 1, 2, 0], after: [0, 2, 0, 1], pad_value: -7 };
        let mut padded = vec![0i8; pad.output().unwrap().elements().unwrap()];
        kernels::pad(&pad, &input, &mut padded).unwrap();
        assert_eq!(seen[0], padded);

        let m = relu_multiplier(0.05, 0.02, profile).unwrap();
        let relu = kernels::ReluParams {
            len: padded.len(),
            input_zero_point: -7,
            output_zero_point: -128,
            activation: ActivationRange::new(-128, 127),
        };
        let mut relu_out = vec![0i8; padded.len()];
        kernels::relu(&relu, &Requant::per_tensor(profile, &m), &padded, &mut relu_out).unwrap();
        assert_eq!(seen[1], relu_out);

        // 6.0 / 0.02 = 300 → clamps at 127: the upper bound is the int8 maximum here.
        let relu6 = kernels::Relu6Params { len: relu_out.len(), bounds: ActivationRange::new(-128, 127) };
        let mut relu6_out = vec![0i8; relu_out.len()];
        kernels::relu6(&relu6, &relu_out, &mut relu6_out).unwrap();
        assert_eq!(output, relu6_out);
        // The pad border holds the zero point, and RELU maps it to the output zero point.
        assert_eq!(seen[0][0], -7);
        assert!(output.iter().all(|&v| v >= -128));
    }
}

/// The same graph with descs written by hand, `edit` applied to each before it is pushed.
fn build_by_hand(edit: impl Fn(&mut OpDesc)) -> Result<Vec<u8>, exactq_core::Error> {
    let (reference, tensors) = build(Profile::TfliteDouble);
    let mut b = ModelBuilder::new(Profile::TfliteDouble);
    let x = b.input(&[1, 3, 4, 2], 0.05, -7)?;
    let padded = b.activation(&[1, 6, 6, 3], 0.05, -7)?;
    let relu = b.activation(&[1, 6, 6, 3], 0.02, -128)?;
    let relu6 = b.activation(&[1, 6, 6, 3], 0.5, 3)?;
    assert_eq!([x, padded, relu, relu6], tensors);
    for op in reference.ops() {
        let mut op = *op;
        edit(&mut op);
        b.push_op(op)?;
    }
    b.set_output(relu6);
    b.build()
}

#[test]
fn loader_rejects_inconsistent_parameters() {
    assert!(build_by_hand(|_| {}).is_ok(), "the hand-built graph is the valid one");
    assert!(build_by_hand(|op| {
        if let OpDesc::Pad(d) = op {
            d.pad_value = 5; // not the zero point
        }
    })
    .is_err());
    assert!(build_by_hand(|op| {
        if let OpDesc::Pad(d) = op {
            d.after[1] = 3; // output shape no longer matches
        }
    })
    .is_err());
    assert!(build_by_hand(|op| {
        if let OpDesc::Relu(d) = op {
            d.activation.min = -100; // not max(-128, zp_out)
        }
    })
    .is_err());
    assert!(build_by_hand(|op| {
        if let OpDesc::Relu(d) = op {
            d.rescale.multiplier /= 2; // not f32(s_in / s_out)
        }
    })
    .is_err());
    assert!(build_by_hand(|op| {
        if let OpDesc::Relu6(d) = op {
            d.bounds.max = 100; // not quantize(6, s_in, zp_in)
        }
    })
    .is_err());
}
