//! `exactq check-vectors` end to end: exit codes and messages on passing, tampered, malformed
//! and unsupported files, and on the CMSIS-NN vectors when `../shared` is present.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn exactq(files: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exactq"))
        .arg("check-vectors")
        .args(files)
        .output()
        .expect("the exactq binary runs")
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("exactq-check-vectors");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A 2x2 max pool over one 2x2 image: the expected output is the maximum, 5.
fn max_pool_file(expected: i32, with_stride: bool) -> String {
    let stride = if with_stride {
        r#""stride": [2, 2],"#
    } else {
        ""
    };
    format!(
        r#"{{"format": "qvec/1", "op": "max_pool2d", "profile": "tflite-double", "source": "hand-made",
  "cases": [{{"name": "tiny", "input": {{"shape": [1, 2, 2, 1], "data": [1, 5, -3, 2]}},
    "filter": [2, 2], {stride} "padding": {{"top": 0, "left": 0, "bottom": 0, "right": 0}},
    "activation_min": -128, "activation_max": 127,
    "output": {{"shape": [1, 1, 1, 1], "data": [{expected}]}}}}]}}"#
    )
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn passing_file_exits_zero() {
    let f = temp_file("pass.json", &max_pool_file(5, true));
    let o = exactq(&[&f]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("max_pool2d [tflite-double]: 1 passed, 0 failed, 0 skipped"),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some("1 passed, 0 failed, 0 skipped"));
}

#[test]
fn tampered_file_exits_one_and_names_the_difference() {
    let f = temp_file("tampered.json", &max_pool_file(6, true));
    let o = exactq(&[&f]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("FAIL tiny: output differs at index 0: expected 6, got 5"),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some("0 passed, 1 failed, 0 skipped"));
}

#[test]
fn malformed_file_exits_two_with_path_and_field() {
    let f = temp_file("malformed.json", &max_pool_file(5, false));
    let o = exactq(&[&f]);
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(&f.display().to_string()), "{err}");
    assert!(err.contains("field `cases[0].stride`: missing"), "{err}");

    let f = temp_file("not-json.json", "{ \"format\": ");
    let o = exactq(&[&f]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not valid JSON"), "{}", stderr(&o));

    let f = temp_file(
        "bad-value.json",
        &max_pool_file(5, true).replace("[1, 5, -3, 2]", "[1, 500, -3, 2]"),
    );
    let o = exactq(&[&f]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cases[0].input.data[1]`: 500 is outside [-128, 127]"),
        "{}",
        stderr(&o)
    );

    let o = exactq(&[Path::new("/nonexistent/exactq/vectors.json")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("/nonexistent/exactq/vectors.json: cannot read"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unsupported_op_is_skipped_not_passed() {
    let f = temp_file(
        "unknown-op.json",
        &max_pool_file(5, true).replace("\"max_pool2d\"", "\"lstm\""),
    );
    let o = exactq(&[&f]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("skip tiny: op \"lstm\" is not supported"),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some("0 passed, 0 failed, 1 skipped"));
}

fn shared_vectors() -> Option<PathBuf> {
    let root = match std::env::var_os("EXACTQ_SHARED") {
        Some(s) => PathBuf::from(s),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
    };
    let dir = root.join("vectors/cmsis-nn");
    dir.is_dir().then_some(dir)
}

#[test]
fn cmsis_nn_vectors_all_pass_and_a_tampered_copy_fails() {
    let Some(dir) = shared_vectors() else {
        println!("skipped: ../shared/vectors/cmsis-nn is absent");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let o = exactq(&refs);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        stdout(&o).lines().last(),
        Some("68 passed, 0 failed, 0 skipped")
    );

    // Change one expected output value of the first conv case.
    let text = std::fs::read_to_string(dir.join("conv2d.json")).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let data = &mut json["cases"][0]["output"]["data"][3];
    let v = data.as_i64().unwrap();
    *data = serde_json::Value::from(if v == 127 { 126 } else { v + 1 });
    let f = temp_file("conv2d-tampered.json", &json.to_string());
    let o = exactq(&[&f]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("FAIL conv_1_x_n_1: output differs at index 3"),
        "{out}"
    );
    assert_eq!(out.lines().last(), Some("29 passed, 1 failed, 0 skipped"));
}
