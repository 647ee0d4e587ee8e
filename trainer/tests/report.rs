//! `exactq report` on real run directories: a digits-cnn trained for a few epochs, quantized
//! (PTQ) and exported; the same directory with artefacts removed; and the page opened in
//! headless Chromium without network.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use exactq_trainer::data;
use exactq_trainer::report::{self, analysis, metrics, Options, Reference};

fn exactq(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exactq")).args(args).current_dir(dir).env_remove("EXACTQ_DATA").output().expect("run exactq")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "exactq failed: {}\n{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("exactq-report-{name}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A complete run directory, built once by `exactq run` (digits-cnn, 3 FP32 epochs, 1 QAT).
fn full_run() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch("full");
        ok(&exactq(&["run", "--model", "digits-cnn", "--epochs", "3", "--qat-epochs", "1", "--out", "run", "--threads", "2"], &dir));
        dir.join("run")
    })
}

const ALL: [&str; 6] = ["fp32.ckpt", "ptq.ckpt", "qat.ckpt", "model.qmod", "summary.json", "history.json"];

fn copy_run(name: &str, files: &[&str]) -> PathBuf {
    let dir = scratch(name);
    for f in files {
        std::fs::copy(full_run().join(f), dir.join(f)).unwrap();
    }
    dir
}

#[test]
fn full_report_has_every_section() {
    let dir = copy_run("sections", &ALL);
    let out = ok(&exactq(&["report", dir.to_str().unwrap(), "--samples", "200"], &dir));
    assert!(out.contains("report.html"), "{out}");
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    for id in ["layer-table", "loss-curve", "metric-curve", "histograms", "confusion-matrix", "deployment-table", "mac-table", "summary-table"] {
        assert!(page.contains(&format!("id=\"{id}\"")), "section {id} missing");
    }
    // No network: nothing refers to another resource.
    for pattern in ["http://", "https://", "<script", "<link", "src="] {
        let stripped = page.replace("http://www.w3.org/2000/svg", "").replace("http://www.w3.org/1999/xlink", "");
        assert!(!stripped.contains(pattern), "page refers to `{pattern}`");
    }
    // Only the firmware figures are missing; QAT curves are there.
    assert!(page.contains("firmware.json) missing"));
    assert!(!page.contains("No QAT epochs recorded"));
    assert!(page.contains("QAT train loss"));
    assert!(page.contains("qat.ckpt"), "reference is the QAT checkpoint's float network");
    // digits-cnn: conv, max pool, conv, reshape, fully connected.
    let rows = page.matches("<tr><td>").count();
    assert!(rows >= 5, "{rows} layer rows");
}

#[test]
fn analysis_matches_the_interpreter_and_a_direct_sqnr() {
    let dir = full_run();
    let blob = std::fs::read(dir.join("model.qmod")).unwrap();
    let reference = Reference::from_quantized(&dir.join("qat.ckpt")).unwrap();
    let data = data::load("digits", None).unwrap();
    let summary = analysis::summarize_blob(&blob).unwrap();
    assert_eq!(summary.bytes, blob.len());
    let kinds: Vec<&str> = summary.ops.iter().map(|o| o.kind).collect();
    assert_eq!(kinds, ["conv2d", "max_pool2d", "conv2d", "reshape", "fully_connected"]);
    // conv3x3 1→16 on 8x8 (same padding): 8·8·16·9 MACs.
    assert_eq!(summary.ops[0].macs, 8 * 8 * 16 * 9);
    let n = 100;
    let a = analysis::analyse(&blob, &summary, &reference, &data.test, data.task, n).unwrap();
    assert!(a.problems.is_empty(), "{:?}", a.problems);
    assert_eq!(a.rows.len(), summary.ops.len());
    // The int8 network of a trained digits-cnn stays close to its float network.
    assert!(a.int8_metric > a.float_metric - 0.05, "int8 {} vs float {}", a.int8_metric, a.float_metric);
    let confusion = a.confusion.as_ref().unwrap();
    assert_eq!(confusion.iter().flatten().sum::<u64>(), n as u64);
    // The last layer's SQNR, recomputed here from the interpreter's output and the float logits.
    let split = data.test.gather(&(0..n).collect::<Vec<_>>());
    let observed = analysis::observe(&blob, &split.x, n).unwrap();
    let logits_q = analysis::dequantize(&observed.output, summary.ops[4].out_quant.unwrap()).unwrap();
    let floats = analysis::float_nodes(&reference.graph, &reference.params, &split.x, n, &[8, 8, 1]).unwrap();
    let logits_f = floats.last().unwrap();
    let (signal, noise) = logits_f.iter().zip(&logits_q).fold((0.0f64, 0.0f64), |(s, e), (&f, &q)| {
        (s + f64::from(f) * f64::from(f), e + (f64::from(f) - f64::from(q)).powi(2))
    });
    let by_hand = 10.0 * (signal / noise).log10();
    let row = a.rows.iter().find(|r| r.op.index == 4).unwrap();
    assert!((row.sqnr_db.unwrap() - by_hand).abs() < 1e-9, "{:?} vs {by_hand}", row.sqnr_db);
    assert_eq!(metrics::sqnr_db(logits_f, &logits_q), row.sqnr_db);
    // Every layer got a sensitivity (except the reshape, which computes nothing).
    assert_eq!(a.rows.iter().filter(|r| r.sensitivity.is_some()).count(), 4);
}

#[test]
fn missing_artefacts_are_listed_and_the_rest_renders() {
    // Only the FP32 checkpoint: curves from its history, the rest says what is missing.
    let dir = copy_run("float-only", &["fp32.ckpt"]);
    let path = report::write(&dir).unwrap();
    let page = std::fs::read_to_string(path).unwrap();
    assert!(page.contains("id=\"loss-curve\""), "curves from the checkpoint history");
    assert!(page.contains("device blob") && page.contains("model.qmod) missing"));
    assert!(!page.contains("id=\"layer-table\""));
    assert!(page.contains("Not available"));

    // Only the blob: deployment figures, no curves.
    let dir = copy_run("blob-only", &["model.qmod"]);
    let page = std::fs::read_to_string(report::write(&dir).unwrap()).unwrap();
    assert!(page.contains("id=\"deployment-table\"") && page.contains("id=\"mac-table\""));
    assert!(page.contains("fp32.ckpt) missing") && page.contains("qat.ckpt) missing"));
    assert!(!page.contains("id=\"loss-curve\""));

    // An empty directory, and a corrupt blob: still a page, each problem named.
    let dir = scratch("empty");
    std::fs::write(dir.join("model.qmod"), b"not a blob").unwrap();
    std::fs::write(dir.join("history.json"), b"{\"fp32\": 3}").unwrap();
    let page = std::fs::read_to_string(report::write(&dir).unwrap()).unwrap();
    assert!(page.contains("model.qmod) unreadable"), "{page}");
    assert!(page.contains("history.json) unreadable"));
    assert!(page.contains("summary.json) missing"));

    // Not a directory: an error, exit status 2 from the CLI.
    let out = exactq(&["report", "/nonexistent/run"], Path::new(env!("CARGO_TARGET_TMPDIR")));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
}

#[test]
fn report_renders_in_headless_chromium_without_network() {
    let Some(chromium) = ["chromium", "chromium-browser"].into_iter().find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success())) else {
        // CI installs Debian's `chromium` in .ci/run: there the check must run.
        assert!(std::env::var_os("CI").is_none(), "chromium is missing on CI (.ci/run installs it)");
        println!("skipped: chromium not installed (CI installs Debian's `chromium` in .ci/run)");
        return;
    };
    let dir = copy_run("chromium", &ALL);
    let page = report::write_with(&Options { samples: 100, ..Options::for_run_dir(&dir) }).unwrap();
    let profile = scratch("chromium-profile");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            // Any request to the network would fail: the page must not need one.
            "--proxy-server=127.0.0.1:9",
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            &format!("file://{}", page.display()),
        ])
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(dom.contains("id=\"layer-table\""), "no layer table in the DOM");
    assert!(dom.matches("<svg").count() >= 3, "charts missing from the DOM");
    assert!(dom.contains("id=\"confusion-matrix\""));
    let _ = std::fs::remove_dir_all(profile);
}

#[test]
fn finetune_and_eval_write_the_report_next_to_their_checkpoint() {
    // A directory as the guide builds it by hand: FP32 and PTQ checkpoints, no history or summary.
    let dir = copy_run("auto", &["fp32.ckpt", "ptq.ckpt"]);
    let out = ok(&exactq(&["finetune", "ptq.ckpt", "--out", "qat.ckpt", "--epochs", "1"], &dir));
    assert!(out.contains("wrote ./report.html"), "{out}");
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    // The output checkpoint is both the float reference and the blob (its own MODL section).
    assert!(page.contains("Float reference of the per-layer figures: qat.ckpt"), "reference");
    for id in ["layer-table", "loss-curve", "confusion-matrix", "deployment-table"] {
        assert!(page.contains(&format!("id=\"{id}\"")), "section {id} missing");
    }
    assert!(page.contains("QAT train loss"), "QAT curve from the checkpoint");
    // What the directory lacks is listed; the blob is not missing (it is the checkpoint's).
    for file in ["history.json", "summary.json", "firmware.json"] {
        assert!(page.contains(&format!("./{file}</td><td class=\"l\"><span class=\"missing\">missing")), "{file} listed as missing");
    }
    assert!(!page.contains("model.qmod"), "the blob is the checkpoint's MODL section");
    // The blob size is that of the exported blob, not of the checkpoint.
    let exported = ok(&exactq(&["export", "qat.ckpt", "--out", "model.qmod"], &dir));
    let blob_bytes = std::fs::metadata(dir.join("model.qmod")).unwrap().len();
    assert!(exported.contains(&format!("{blob_bytes} bytes")), "{exported}");
    assert!(page.contains(&format!("<td class=\"l\">{blob_bytes} B</td>")), "blob size {blob_bytes} in the deployment table");

    // eval of the float checkpoint: the report of the whole directory, now with the blob.
    std::fs::remove_file(dir.join("report.html")).unwrap();
    let json = ok(&exactq(&["eval", "fp32.ckpt", "--json"], &dir));
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("stdout stays one JSON object");
    assert_eq!(v["samples"].as_u64(), Some(357));
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(page.contains("id=\"layer-table\""));
    // A blob elsewhere: its own directory, whatever is there (nothing else here).
    let sub = dir.join("blob-only");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::copy(dir.join("model.qmod"), sub.join("model.qmod")).unwrap();
    let out = ok(&exactq(&["eval", "blob-only/model.qmod", "--dataset", "digits"], &dir));
    assert!(out.contains("wrote blob-only/report.html"), "{out}");
    let page = std::fs::read_to_string(sub.join("report.html")).unwrap();
    assert!(page.contains("id=\"deployment-table\"") && page.contains("fp32.ckpt) missing"));

    // --no-report writes nothing.
    std::fs::remove_file(dir.join("report.html")).unwrap();
    let out = ok(&exactq(&["eval", "qat.ckpt", "--no-report"], &dir));
    assert!(!out.contains("wrote"), "{out}");
    ok(&exactq(&["finetune", "qat.ckpt", "--out", "qat2.ckpt", "--epochs", "2", "--no-report"], &dir));
    assert!(!dir.join("report.html").exists());
}

/// A `firmware.json` as `cargo firmware-test --model BLOB --json FILE` writes it.
fn firmware_json(crc: u32) -> String {
    format!(
        r#"{{"target": "thumbv7em-none-eabihf (QEMU mps2-an386, Cortex-M4F), profile firmware", "tool": "cargo firmware-test",
  "resnet8": {{"model_crc32": "0x12345678", "parity": "pass", "flash_bytes": 177264, "instructions_per_inference": 52654514}},
  "model": {{"model_crc32": "{crc:#010x}", "parity": "pass", "outcome": "pass", "outputs_identical": 12, "outputs_total": 12,
    "flash_bytes": 91234, "text_bytes": 78000, "rodata_bytes": 13234, "static_ram_bytes": 3000, "arena_bytes": 2576,
    "peak_stack_bytes": 36000, "invoke_stack_bytes": 1500, "instructions_per_inference": 1234567, "instruction_budget": null}}}}"#
    )
}

#[test]
fn firmware_figures_of_the_run_model_reach_the_deployment_summary() {
    let dir = copy_run("firmware", &["model.qmod"]);
    // Absent: said so, with the command that measures this blob.
    let page = std::fs::read_to_string(report::write(&dir).unwrap()).unwrap();
    assert!(page.contains("firmware figures") && page.contains("firmware.json) missing"));
    assert!(page.contains("id=\"firmware-hint\"") && page.contains("cargo firmware-test --model"));
    assert!(!page.contains("id=\"firmware-table\""));

    // Present, with an entry for this blob (found by its model CRC-32) and one for another model.
    let blob = std::fs::read(dir.join("model.qmod")).unwrap();
    let crc = report::model_crc32(&blob).unwrap();
    std::fs::write(dir.join("firmware.json"), firmware_json(crc)).unwrap();
    let page = std::fs::read_to_string(report::write(&dir).unwrap()).unwrap();
    assert!(page.contains("id=\"firmware-match\""), "the run's entry is recognised");
    let deployment = page.split("id=\"deployment-table\"").nth(1).unwrap().split("</table>").next().unwrap();
    for (label, value) in [
        ("flash on the device", "91234 B"),
        ("static RAM on the device", "3000 B"),
        ("peak stack on the device", "36000 B"),
        ("instructions per inference", "1234567"),
        ("device parity", "pass (12/12 outputs identical to the host)"),
    ] {
        let row = deployment.lines().find(|l| l.contains(label)).unwrap_or_else(|| panic!("no `{label}` row in {deployment}"));
        assert!(row.contains(&format!(">{value}<")), "{row}");
    }
    let table = page.split("id=\"firmware-table\"").nth(1).unwrap().split("</table>").next().unwrap();
    assert!(table.contains("model (this run)") && table.contains("resnet8"));
    assert!(table.contains("52654514"));

    // Only other models' figures: shown, but not as this run's, with the command to measure it.
    std::fs::write(dir.join("firmware.json"), firmware_json(crc ^ 1)).unwrap();
    let page = std::fs::read_to_string(report::write(&dir).unwrap()).unwrap();
    assert!(page.contains("No entry of the firmware figures is this run's model"));
    assert!(!page.contains("flash on the device") && !page.contains("(this run)"));
    assert!(page.contains("id=\"firmware-table\""));
}
