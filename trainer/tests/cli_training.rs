//! End-to-end runs of the `exactq` binary on the embedded digits data: accuracy, exact resume,
//! reproducible bytes, crash safety of checkpoint writes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use exactq_trainer::checkpoint::TrainerState;

fn exactq(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exactq"))
        .args(args)
        .current_dir(dir)
        .env_remove("EXACTQ_DATA")
        .output()
        .expect("run exactq")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "exactq failed: {}\n{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("exactq-test-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn digits_cnn_reaches_97_percent_and_eval_agrees() {
    let dir = scratch("accuracy");
    let started = Instant::now();
    let out = ok(&exactq(&["train", "--model", "digits-cnn", "--out", "d.ckpt", "--threads", "2"], &dir));
    let elapsed = started.elapsed();
    println!("{out}");
    let json = ok(&exactq(&["eval", "d.ckpt", "--json"], &dir));
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    let acc = v["accuracy"].as_f64().unwrap();
    assert_eq!(v["samples"].as_u64(), Some(357));
    assert!(acc >= 0.97, "digits-cnn test accuracy {acc}");
    assert!(elapsed < Duration::from_secs(60), "training took {elapsed:?}");
    assert!(out.contains(&format!("test acc {:.2}%", 100.0 * acc)), "train and eval disagree: {out} vs {json}");
    let inspect = ok(&exactq(&["inspect", "d.ckpt"], &dir));
    assert!(inspect.contains("digits-cnn") && inspect.contains("block1.conv") && inspect.contains("TRNR"), "{inspect}");
}

#[test]
fn resume_is_bit_identical_and_seed_fixes_bytes() {
    let dir = scratch("resume");
    let common = ["--model", "digits-cnn", "--threads", "2", "--seed", "7"];
    let run = |extra: &[&str]| ok(&exactq(&[&["train"][..], &common[..], extra].concat(), &dir));
    // The resumed run takes its learning rate (and every other setting) from the checkpoint.
    run(&["--epochs", "2", "--out", "straight.ckpt", "--lr", "0.003"]);
    run(&["--epochs", "1", "--out", "resumed.ckpt", "--lr", "0.003"]);
    run(&["--epochs", "2", "--out", "resumed.ckpt", "--resume"]);
    run(&["--epochs", "2", "--out", "again.ckpt", "--lr", "0.003"]);
    let straight = std::fs::read(dir.join("straight.ckpt")).unwrap();
    let resumed = std::fs::read(dir.join("resumed.ckpt")).unwrap();
    let again = std::fs::read(dir.join("again.ckpt")).unwrap();
    let a = TrainerState::load(&dir.join("straight.ckpt")).unwrap();
    let b = TrainerState::load(&dir.join("resumed.ckpt")).unwrap();
    for (pa, pb) in a.params.params.iter().zip(&b.params.params) {
        let bits = |p: &exactq_trainer::nn::Param| p.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(pa), bits(pb), "parameter {} differs after resume", pa.name);
    }
    assert_eq!(a, b, "trainer state differs after resume");
    assert_eq!(straight, resumed, "checkpoint bytes differ after resume");
    assert_eq!(straight, again, "same seed, different checkpoint bytes");
    ok(&exactq(&["train", "--model", "digits-cnn", "--threads", "2", "--seed", "8", "--epochs", "2", "--out", "other-seed.ckpt", "--lr", "0.003"], &dir));
    assert_ne!(straight, std::fs::read(dir.join("other-seed.ckpt")).unwrap(), "the seed has no effect");
}

#[test]
fn kill_during_checkpoint_write_keeps_previous_checkpoint() {
    let dir = scratch("kill");
    ok(&exactq(&["train", "--model", "digits-cnn", "--epochs", "1", "--out", "k.ckpt", "--threads", "1"], &dir));
    let before = std::fs::read(dir.join("k.ckpt")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_exactq"))
        .args(["train", "--model", "digits-cnn", "--epochs", "3", "--out", "k.ckpt", "--resume", "--threads", "1"])
        .current_dir(&dir)
        .env("EXACTQ_FAULT_WRITE_PAUSE_MS", "30000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the child is halfway through writing its temporary checkpoint.
    let deadline = Instant::now() + Duration::from_secs(60);
    let tmp_exists = || std::fs::read_dir(&dir).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().contains(".tmp-"));
    while !tmp_exists() {
        assert!(Instant::now() < deadline, "child never started writing a checkpoint");
        assert!(child.try_wait().unwrap().is_none(), "child exited before writing");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SIGKILL: no destructor, no cleanup.
    child.kill().unwrap();
    child.wait().unwrap();
    let after = std::fs::read(dir.join("k.ckpt")).unwrap();
    assert_eq!(before, after, "the previous checkpoint was touched");
    let state = TrainerState::load(&dir.join("k.ckpt")).unwrap();
    assert_eq!(state.progress.epoch, 1);
    assert!(tmp_exists(), "the killed writer's temporary file is expected to remain");
    // And training resumes from it; the next successful write removes the dead writer's file.
    ok(&exactq(&["train", "--model", "digits-cnn", "--epochs", "2", "--out", "k.ckpt", "--resume", "--threads", "1"], &dir));
    assert_eq!(TrainerState::load(&dir.join("k.ckpt")).unwrap().progress.epoch, 2);
    if cfg!(target_os = "linux") {
        assert!(!tmp_exists(), "a stale .k.ckpt.tmp-PID file was left behind");
    }
}
