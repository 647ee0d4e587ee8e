//! The check every model image runs: one measured inference, then every embedded input compared
//! byte for byte with the output the host core computed for it.

use crate::exit::{exit, ExitCode};
use crate::marker::bench_mark;
use crate::stack;
use core::fmt::Debug;
use exactq_core::model::Model;
use cortex_m_semihosting::hprintln;

/// Test data embedded in an image (written by the host generator).
pub struct TestData<'a> {
    /// Model name, printed in the report.
    pub name: &'a str,
    /// Every test input, concatenated (int8 as bytes).
    pub inputs: &'a [u8],
    /// The host core's output for every input, concatenated.
    pub expected: &'a [u8],
    pub input_bytes: usize,
    pub output_bytes: usize,
}

/// Differences printed per run at most (the count covers all of them).
const MISMATCHES_SHOWN: usize = 8;

/// Runs `infer(input, output)` (one interpreter invoke) on every input of `data`, compares with the
/// expected bytes and exits: `Pass` if all are identical, `Mismatch` otherwise, `CoreError` if the
/// core rejects anything. Prints the lines `cargo firmware-test` reads:
/// `outputs identical: N/M`, `invoke stack bytes: S`, `peak stack bytes: P`.
pub fn check<E: Debug>(data: &TestData, output: &mut [i8], mut infer: impl FnMut(&[i8], &mut [i8]) -> Result<(), E>) -> ! {
    let output = &mut output[..data.output_bytes];
    let inputs: &[i8] = bytemuck::cast_slice(data.inputs);
    let expected: &[i8] = bytemuck::cast_slice(data.expected);
    let count = inputs.len() / data.input_bytes;
    if count == 0 || inputs.len() != count * data.input_bytes || expected.len() != count * data.output_bytes {
        hprintln!("{}: embedded test data is inconsistent ({} input bytes, {} expected bytes)", data.name, inputs.len(), expected.len());
        exit(ExitCode::CoreError)
    }
    let input = |i: usize| &inputs[i * data.input_bytes..(i + 1) * data.input_bytes];
    let or_exit = |result: Result<(), E>| {
        if let Err(error) = result {
            hprintln!("{}: core error: {:?}", data.name, error);
            exit(ExitCode::CoreError)
        }
    };

    // Exactly one inference between the two marks: the plugin's count difference.
    bench_mark(0);
    let measured = infer(input(0), output);
    bench_mark(1);
    or_exit(measured);

    let mut identical = 0;
    let mut shown = 0;
    for i in 0..count {
        or_exit(infer(input(i), output));
        let want = &expected[i * data.output_bytes..(i + 1) * data.output_bytes];
        if output == want {
            identical += 1;
            continue;
        }
        for (byte, (got, host)) in output.iter().zip(want).enumerate() {
            if got != host && shown < MISMATCHES_SHOWN {
                hprintln!("mismatch: input {} byte {}: device {} host {}", i, byte, got, host);
                shown += 1;
            }
        }
    }
    let peak_before = stack::peak_since_reset();

    // Repaint below the current frame and measure one more inference on its own.
    let (result, invoke_stack) = stack::used_by(|| infer(input(0), output));
    or_exit(result);

    hprintln!("model: {}", data.name);
    hprintln!("outputs identical: {}/{}", identical, count);
    hprintln!("invoke stack bytes: {}", invoke_stack);
    hprintln!("peak stack bytes: {}", peak_before.max(stack::peak_since_reset()));
    exit(if identical == count { ExitCode::Pass } else { ExitCode::Mismatch })
}

/// Loads `blob` with the core into `model` (in place: the graph tables are decoded straight into
/// the caller's `Model`, typically a `static`, so they never sit on the stack) and runs [`check`]
/// with the core's interpreter.
pub fn load_and_check(
    blob: &'static [u8],
    model: &mut Model<'static>,
    data: &TestData,
    arena: &mut [u8],
    output: &mut [i8],
) -> ! {
    if let Err(error) = exactq_core::model::load_into(blob, model) {
        hprintln!("{}: the core rejected the embedded model: {:?}", data.name, error);
        exit(ExitCode::CoreError)
    }
    let model = &*model;
    check(data, output, |input, out| exactq_core::model::invoke(model, input, arena, out))
}
