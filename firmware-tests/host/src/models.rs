//! The models the firmware runs, built with the core's builder, and their expected outputs
//! computed by the core's interpreter on the host.

use crate::generate::{HostCase, INPUTS_PER_MODEL};
use anyhow::{anyhow, Result};
use exactq_core::model::aligned::AlignedBytes;
use exactq_core::model::builder::ModelBuilder;
use exactq_core::model::{invoke, load, OpDesc, ProfileCode, ReshapeDesc};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// The core's errors carry no strings; say which model failed.
fn core(what: &str) -> impl Fn(exactq_core::Error) -> anyhow::Error + '_ {
    move |error| anyhow!("{what}: the core returned {error:?}")
}

/// Builds the blob, draws `INPUTS_PER_MODEL` random inputs and runs the host interpreter on them.
fn host_case(description: String, builder: &ModelBuilder, seed: u64) -> Result<HostCase> {
    let model_bytes = builder.build().map_err(core(&description))?;
    let aligned = AlignedBytes::copy_from(&model_bytes);
    let model = load(aligned.as_slice()).map_err(core(&description))?;
    let mut arena = AlignedBytes::zeroed(model.arena_size());
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut inputs = Vec::new();
    let mut expected = Vec::new();
    for _ in 0..INPUTS_PER_MODEL {
        let input: Vec<i8> = (0..model.input_len()).map(|_| rng.random_range(i8::MIN..=i8::MAX)).collect();
        let mut output = vec![0i8; model.output_len()];
        invoke(&model, &input, arena.as_mut_slice(), &mut output).map_err(core(&description))?;
        inputs.push(input);
        expected.push(output);
    }
    Ok(HostCase { description, arena_bytes: model.arena_size(), model: model_bytes, inputs, expected })
}

pub fn every_kernel() -> Result<HostCase> {
    let mut b = ModelBuilder::new(ProfileCode::TfliteDouble);
    let c = core("every-kernel graph");
    let x = b.input(&[1, 4, 4, 3], 0.05, -3).map_err(&c)?;
    let y = b.activation(&[1, 48], 0.05, -3).map_err(&c)?;
    b.push_op(OpDesc::Reshape(ReshapeDesc { input: x, output: y })).map_err(&c)?;
    b.set_output(y);
    host_case("reshape 1x4x4x3 -> 1x48 (interim: kernels not yet in the interpreter)".into(), &b, 1)
}

pub fn resnet8() -> Result<HostCase> {
    every_kernel()
}
