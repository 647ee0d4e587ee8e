//! Where the time of one resnet8 training step goes: forward per op kind, the backward
//! pass and the optimizer, on Fashion-MNIST batches (batch 128).
//!
//! `cargo run --release -p exactq-trainer --example profile_step -- [DATA_DIR] [THREADS] [STEPS]`

use std::collections::BTreeMap;
use std::time::Instant;

use exactq_trainer::data;
use exactq_trainer::nn::optim::{Optimizer, OptimizerConfig};
use exactq_trainer::nn::{builtin_forward, loss, ForwardCtx, Mode, Node, NodeForward, NnError, ParamStore, Tape, Var};
use exactq_trainer::zoo::Arch;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// Times the builtin forward of every node, by op kind.
struct Timed<'a>(&'a mut BTreeMap<&'static str, f64>);

impl NodeForward for Timed<'_> {
    fn forward(&mut self, ctx: &mut ForwardCtx<'_>, _: usize, node: &Node, inputs: &[Var]) -> Result<Option<Var>, NnError> {
        let t = Instant::now();
        let y = builtin_forward(ctx, node, inputs)?;
        *self.0.entry(node.op.kind()).or_default() += t.elapsed().as_secs_f64();
        Ok(Some(y))
    }
}

fn main() {
    exactq_trainer::cli::tune_malloc();
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).cloned().unwrap_or_else(|| "../shared/data".into());
    let threads: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    let steps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20);
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().unwrap();
    let data = data::load("fashion-mnist", Some(std::path::Path::new(&dir))).expect("Fashion-MNIST");
    let graph = Arch::Resnet8.graph();
    let mut params = ParamStore::init(&graph, &mut ChaCha8Rng::seed_from_u64(0));
    let mut opt = Optimizer::new(OptimizerConfig::adam(1e-3), &params);
    let bs = 128;
    let mut fwd: BTreeMap<&'static str, f64> = BTreeMap::new();
    let (mut t_fwd, mut t_bwd, mut t_opt) = (0.0, 0.0, 0.0);
    let t_all = Instant::now();
    for s in 0..steps {
        let idx: Vec<usize> = (s * bs..(s + 1) * bs).collect();
        let batch = data.train.gather(&idx);
        let t0 = Instant::now();
        let mut tape = Tape::recording();
        let x = tape.var(batch.x, vec![bs, 28, 28, 1]).unwrap();
        let mut ctx = ForwardCtx::new(&mut tape, &mut params, Mode::Train);
        let outs = graph.forward(&mut ctx, x, &mut Timed(&mut fwd)).unwrap();
        let vars = ctx.into_param_vars();
        let t1 = Instant::now();
        let (_, mut grads) = loss::softmax_cross_entropy(&mut tape, outs.last().unwrap(), &batch.y).unwrap();
        let g = vars.trainable_grads(&params, &mut grads);
        let t2 = Instant::now();
        opt.step(&mut params, &g).unwrap();
        let t3 = Instant::now();
        t_fwd += (t1 - t0).as_secs_f64();
        t_bwd += (t2 - t1).as_secs_f64();
        t_opt += (t3 - t2).as_secs_f64();
    }
    let total = t_all.elapsed().as_secs_f64();
    println!("resnet8, batch {bs}, {threads} threads, {steps} steps: {:.0} samples/s", (steps * bs) as f64 / total);
    println!("forward  {:>7.1} ms/step", 1e3 * t_fwd / steps as f64);
    for (k, v) in &fwd {
        println!("  {k:<18} {:>7.1} ms/step", 1e3 * v / steps as f64);
    }
    println!("backward {:>7.1} ms/step (loss, every op's backward, gradient read-out)", 1e3 * t_bwd / steps as f64);
    println!("optimizer{:>7.1} ms/step", 1e3 * t_opt / steps as f64);
}
