//! Reader and checker for `qvec/1` golden kernel vectors (`../shared/vectors/FORMAT.md`).
//!
//! Every case runs through the core's kernels and arithmetic; "scales" variants derive their
//! integer parameters with the core's TFLite derivations. Nothing is computed here except
//! the plumbing from JSON to the core and the comparison.

use std::fmt;
use std::path::Path;

use exactq_core::arith::activation::ActivationRange;
use exactq_core::arith::multiplier::{
    add_multipliers, conv_per_channel_multipliers, fully_connected_per_tensor_multiplier,
    mul_multiplier, quantize_multiplier, softmax_multiplier, AddMultipliers, QuantizedMultiplier,
    SoftmaxMultiplier,
};
use exactq_core::arith::quantize::quantize_slice;
use exactq_core::arith::requantize::{multiply_by_quantized_multiplier, Profile, Requant};
use exactq_core::kernels::{
    self, AddParams, AvgPool2dParams, Conv2dParams, DepthwiseConv2dParams, FullyConnectedParams,
    MaxPool2dParams, MulParams, Padding, Shape4, SoftmaxParams,
};
use serde_json::Value;

/// A file that cannot be read as `qvec/1`: where, which field, and why.
#[derive(Debug, thiserror::Error)]
pub enum VectorFileError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// File path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{path}: not valid JSON: {source}")]
    Json {
        /// File path.
        path: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A field is missing or has the wrong type or value.
    #[error("{path}: field `{field}`: {reason}")]
    Field {
        /// File path.
        path: String,
        /// JSON path of the field, e.g. `cases[3].input.shape`.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// What happened to one case.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseResult {
    /// Bit-exact.
    Passed,
    /// The first difference.
    Failed(Mismatch),
    /// Not run, and why.
    Skipped(String),
}

/// The first difference between expected and computed values of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Which output (`output`, `multiplier`, `shift`, `result`, or `error`).
    pub what: String,
    /// First differing flat index.
    pub index: usize,
    /// Expected value.
    pub expected: String,
    /// Computed value (or the core's error).
    pub actual: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} differs at index {}: expected {}, got {}",
            self.what, self.index, self.expected, self.actual
        )
    }
}

/// One case's name and result.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    /// The case's `name`.
    pub name: String,
    /// Its result.
    pub result: CaseResult,
}

/// The results of one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The path as given.
    pub path: String,
    /// The file's `op`.
    pub op: String,
    /// The file's `profile`.
    pub profile: String,
    /// Every case, in file order.
    pub cases: Vec<CaseOutcome>,
}

impl FileReport {
    fn count(&self, pred: impl Fn(&CaseResult) -> bool) -> usize {
        self.cases.iter().filter(|c| pred(&c.result)).count()
    }
    /// Cases that matched bit for bit.
    pub fn passed(&self) -> usize {
        self.count(|r| matches!(r, CaseResult::Passed))
    }
    /// Cases that differ.
    pub fn failed(&self) -> usize {
        self.count(|r| matches!(r, CaseResult::Failed(_)))
    }
    /// Cases not run.
    pub fn skipped(&self) -> usize {
        self.count(|r| matches!(r, CaseResult::Skipped(_)))
    }
}

/// Reads and checks one file.
pub fn check_file(path: &Path) -> Result<FileReport, VectorFileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| VectorFileError::Io {
        path: shown.clone(),
        source,
    })?;
    check_str(&text, &shown)
}

/// Checks the JSON text of one file; `path` is only used in messages.
pub fn check_str(text: &str, path: &str) -> Result<FileReport, VectorFileError> {
    let root: Value = serde_json::from_str(text).map_err(|source| VectorFileError::Json {
        path: path.to_string(),
        source,
    })?;
    let r = Reader { path };
    let format = r.str(&root, "format", "format")?;
    if format != "qvec/1" {
        return Err(r.err("format", format!("expected \"qvec/1\", found {format:?}")));
    }
    let op = r.str(&root, "op", "op")?.to_string();
    let profile_name = r.str(&root, "profile", "profile")?.to_string();
    let cases = r.field(&root, "cases", "cases")?;
    let cases = cases
        .as_array()
        .ok_or_else(|| r.err("cases", "expected an array"))?;
    let profile = Profile::parse(&profile_name).ok();
    let mut outcomes = Vec::with_capacity(cases.len());
    for (i, case) in cases.iter().enumerate() {
        let at = format!("cases[{i}]");
        if !case.is_object() {
            return Err(r.err(&at, "expected an object"));
        }
        let name = r.str(case, "name", &at)?.to_string();
        let result = match profile {
            None => CaseResult::Skipped(format!("profile {profile_name:?} is not supported")),
            Some(profile) => run_case(&r, &op, profile, case, &at)?,
        };
        outcomes.push(CaseOutcome { name, result });
    }
    Ok(FileReport {
        path: path.to_string(),
        op,
        profile: profile_name,
        cases: outcomes,
    })
}

/// Field access with error messages naming the file and the JSON path.
struct Reader<'a> {
    path: &'a str,
}

/// input1, input2 and output of an element-wise case.
type ElementwiseTensors = (Tensor<i8>, Tensor<i8>, Tensor<i8>);

/// A tensor as read from a file.
struct Tensor<T> {
    shape: Vec<usize>,
    data: Vec<T>,
}

impl<'a> Reader<'a> {
    fn err(&self, field: &str, reason: impl Into<String>) -> VectorFileError {
        VectorFileError::Field {
            path: self.path.to_string(),
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    fn field<'v>(
        &self,
        obj: &'v Value,
        name: &str,
        at: &str,
    ) -> Result<&'v Value, VectorFileError> {
        let full = join(at, name);
        obj.get(name).ok_or_else(|| self.err(&full, "missing"))
    }

    fn opt<'v>(&self, obj: &'v Value, name: &str) -> Option<&'v Value> {
        obj.get(name).filter(|v| !v.is_null())
    }

    fn str<'v>(&self, obj: &'v Value, name: &str, at: &str) -> Result<&'v str, VectorFileError> {
        let full = if at == name {
            name.to_string()
        } else {
            join(at, name)
        };
        let v = obj.get(name).ok_or_else(|| self.err(&full, "missing"))?;
        v.as_str()
            .ok_or_else(|| self.err(&full, "expected a string"))
    }

    fn int_value(&self, v: &Value, full: &str, lo: i64, hi: i64) -> Result<i64, VectorFileError> {
        let n = v
            .as_i64()
            .ok_or_else(|| self.err(full, "expected an integer"))?;
        if n < lo || n > hi {
            return Err(self.err(full, format!("{n} is outside [{lo}, {hi}]")));
        }
        Ok(n)
    }

    fn i32(&self, obj: &Value, name: &str, at: &str) -> Result<i32, VectorFileError> {
        let full = join(at, name);
        let v = self.field(obj, name, at)?;
        Ok(self.int_value(v, &full, i32::MIN as i64, i32::MAX as i64)? as i32)
    }

    fn f64(&self, obj: &Value, name: &str, at: &str) -> Result<f64, VectorFileError> {
        let full = join(at, name);
        let v = self.field(obj, name, at)?;
        v.as_f64()
            .ok_or_else(|| self.err(&full, "expected a number"))
    }

    fn f32(&self, obj: &Value, name: &str, at: &str) -> Result<f32, VectorFileError> {
        Ok(self.f64(obj, name, at)? as f32)
    }

    fn f32_list(&self, v: &Value, full: &str) -> Result<Vec<f32>, VectorFileError> {
        let arr = v
            .as_array()
            .ok_or_else(|| self.err(full, "expected an array of numbers"))?;
        arr.iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_f64()
                    .map(|x| x as f32)
                    .ok_or_else(|| self.err(&format!("{full}[{i}]"), "expected a number"))
            })
            .collect()
    }

    fn i32_list(&self, v: &Value, full: &str) -> Result<Vec<i32>, VectorFileError> {
        let arr = v
            .as_array()
            .ok_or_else(|| self.err(full, "expected an array of integers"))?;
        arr.iter()
            .enumerate()
            .map(|(i, x)| {
                Ok(
                    self.int_value(x, &format!("{full}[{i}]"), i32::MIN as i64, i32::MAX as i64)?
                        as i32,
                )
            })
            .collect()
    }

    fn pair(&self, obj: &Value, name: &str, at: &str) -> Result<[usize; 2], VectorFileError> {
        let full = join(at, name);
        let v = self.field(obj, name, at)?;
        let arr = v
            .as_array()
            .ok_or_else(|| self.err(&full, "expected [h, w]"))?;
        if arr.len() != 2 {
            return Err(self.err(
                &full,
                format!("expected 2 values [h, w], found {}", arr.len()),
            ));
        }
        let h = self.int_value(&arr[0], &format!("{full}[0]"), 0, u32::MAX as i64)? as usize;
        let w = self.int_value(&arr[1], &format!("{full}[1]"), 0, u32::MAX as i64)? as usize;
        Ok([h, w])
    }

    fn padding(&self, obj: &Value, at: &str) -> Result<Padding, VectorFileError> {
        let full = join(at, "padding");
        let v = self.field(obj, "padding", at)?;
        if !v.is_object() {
            return Err(self.err(&full, "expected {top, left, bottom, right}"));
        }
        let side = |name: &str| -> Result<usize, VectorFileError> {
            let f = join(&full, name);
            let x = v.get(name).ok_or_else(|| self.err(&f, "missing"))?;
            Ok(self.int_value(x, &f, 0, u32::MAX as i64)? as usize)
        };
        Ok(Padding::new(
            side("top")?,
            side("left")?,
            side("bottom")?,
            side("right")?,
        ))
    }

    fn shape(&self, t: &Value, full: &str) -> Result<Vec<usize>, VectorFileError> {
        let f = join(full, "shape");
        let v = t.get("shape").ok_or_else(|| self.err(&f, "missing"))?;
        let arr = v
            .as_array()
            .ok_or_else(|| self.err(&f, "expected an array of dimensions"))?;
        arr.iter()
            .enumerate()
            .map(|(i, d)| Ok(self.int_value(d, &format!("{f}[{i}]"), 0, u32::MAX as i64)? as usize))
            .collect()
    }

    fn tensor_parts<'v>(
        &self,
        obj: &'v Value,
        name: &str,
        at: &str,
    ) -> Result<(Vec<usize>, &'v Vec<Value>, String), VectorFileError> {
        let full = join(at, name);
        let t = self.field(obj, name, at)?;
        if !t.is_object() {
            return Err(self.err(&full, "expected a tensor {shape, data}"));
        }
        let shape = self.shape(t, &full)?;
        let f = join(&full, "data");
        let data = t.get("data").ok_or_else(|| self.err(&f, "missing"))?;
        let data = data
            .as_array()
            .ok_or_else(|| self.err(&f, "expected an array"))?;
        let elements = shape.iter().try_fold(1usize, |a, d| a.checked_mul(*d));
        if elements != Some(data.len()) {
            return Err(self.err(&f, format!("{} values for shape {:?}", data.len(), shape)));
        }
        Ok((shape, data, f))
    }

    fn tensor_i8(&self, obj: &Value, name: &str, at: &str) -> Result<Tensor<i8>, VectorFileError> {
        let (shape, data, f) = self.tensor_parts(obj, name, at)?;
        let data = data
            .iter()
            .enumerate()
            .map(|(i, x)| Ok(self.int_value(x, &format!("{f}[{i}]"), -128, 127)? as i8))
            .collect::<Result<_, _>>()?;
        Ok(Tensor { shape, data })
    }

    fn tensor_f32(
        &self,
        obj: &Value,
        name: &str,
        at: &str,
    ) -> Result<Tensor<f32>, VectorFileError> {
        let (shape, data, f) = self.tensor_parts(obj, name, at)?;
        let data = data
            .iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_f64()
                    .map(|x| x as f32)
                    .ok_or_else(|| self.err(&format!("{f}[{i}]"), "expected a number"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Tensor { shape, data })
    }

    fn shape4(&self, t: &[usize], full: &str) -> Result<Shape4, VectorFileError> {
        match *t {
            [n, h, w, c] => Ok(Shape4::new(n, h, w, c)),
            _ => Err(self.err(
                &join(full, "shape"),
                format!("expected 4 dimensions, found {:?}", t),
            )),
        }
    }

    fn bias(&self, case: &Value, at: &str) -> Result<Option<Vec<i32>>, VectorFileError> {
        match self.opt(case, "bias") {
            None => Ok(None),
            Some(v) => Ok(Some(self.i32_list(v, &join(at, "bias"))?)),
        }
    }

    fn activation(&self, case: &Value, at: &str) -> Result<ActivationRange, VectorFileError> {
        let lo = self.i32(case, "activation_min", at)?;
        let hi = self.i32(case, "activation_max", at)?;
        Ok(ActivationRange::new(lo, hi))
    }

    /// `requant {multiplier, shift}` or `scales {input, filter, output}` → one multiplier per
    /// output channel (or one for per tensor).
    fn conv_multipliers(
        &self,
        case: &Value,
        at: &str,
        profile: Profile,
        channels: usize,
        fc_per_tensor: bool,
    ) -> Result<Result<Vec<QuantizedMultiplier>, String>, VectorFileError> {
        if let Some(req) = self.opt(case, "requant") {
            let full = join(at, "requant");
            let m = self.i32_list(
                self.field(req, "multiplier", &full)?,
                &join(&full, "multiplier"),
            )?;
            let s = self.i32_list(self.field(req, "shift", &full)?, &join(&full, "shift"))?;
            if m.len() != s.len() {
                return Err(self.err(
                    &full,
                    format!("{} multipliers but {} shifts", m.len(), s.len()),
                ));
            }
            return Ok(Ok(m
                .into_iter()
                .zip(s)
                .map(|(m, s)| QuantizedMultiplier::new(m, s))
                .collect()));
        }
        if let Some(sc) = self.opt(case, "scales") {
            let full = join(at, "scales");
            let input = self.f32(sc, "input", &full)?;
            let output = self.f32(sc, "output", &full)?;
            let filter = self.f32_list(self.field(sc, "filter", &full)?, &join(&full, "filter"))?;
            let derived = if fc_per_tensor && filter.len() == 1 {
                fully_connected_per_tensor_multiplier(input, filter[0], output, profile)
                    .map(|m| vec![m])
            } else {
                let mut out =
                    vec![QuantizedMultiplier::ZERO; if filter.len() == 1 { 1 } else { channels }];
                conv_per_channel_multipliers(input, &filter, output, profile, &mut out).map(|_| out)
            };
            return Ok(derived.map_err(|e| format!("deriving multipliers from scales: {e}")));
        }
        Err(self.err(at, "neither `requant` nor `scales` is given"))
    }
}

fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_string()
    } else {
        format!("{at}.{name}")
    }
}

/// Compares flat outputs; the first difference (or a length difference) fails the case.
fn compare<T: PartialEq + fmt::Display>(what: &str, expected: &[T], actual: &[T]) -> CaseResult {
    for (i, (e, a)) in expected.iter().zip(actual).enumerate() {
        if e != a {
            return CaseResult::Failed(Mismatch {
                what: what.to_string(),
                index: i,
                expected: e.to_string(),
                actual: a.to_string(),
            });
        }
    }
    if expected.len() != actual.len() {
        return CaseResult::Failed(Mismatch {
            what: format!("{what} length"),
            index: expected.len().min(actual.len()),
            expected: expected.len().to_string(),
            actual: actual.len().to_string(),
        });
    }
    CaseResult::Passed
}

/// A core error on a well-formed case is a failure: the implementation could not run it.
fn core_error(e: exactq_core::Error) -> CaseResult {
    CaseResult::Failed(Mismatch {
        what: "error".into(),
        index: 0,
        expected: "a result".into(),
        actual: format!("core error: {e}"),
    })
}

fn run_case(
    r: &Reader,
    op: &str,
    profile: Profile,
    case: &Value,
    at: &str,
) -> Result<CaseResult, VectorFileError> {
    match op {
        "quantize_multiplier" => {
            let real = r.f64(case, "real", at)?;
            let m = r.i32(case, "multiplier", at)?;
            let s = r.i32(case, "shift", at)?;
            Ok(match quantize_multiplier(real, profile) {
                Ok(q) => compare("(multiplier, shift)", &[m, s], &[q.multiplier, q.shift]),
                Err(e) => core_error(e),
            })
        }
        "multiply_by_quantized_multiplier" => {
            let x = r.i32(case, "x", at)?;
            let m = r.i32(case, "multiplier", at)?;
            let s = r.i32(case, "shift", at)?;
            let expected = r.i32(case, "result", at)?;
            let q = QuantizedMultiplier::new(m, s);
            if let Err(e) = q.validate(profile) {
                return Ok(core_error(e));
            }
            Ok(compare(
                "result",
                &[expected],
                &[multiply_by_quantized_multiplier(x, q, profile)],
            ))
        }
        "quantize" => {
            let input = r.tensor_f32(case, "input", at)?;
            let scale = r.f32(case, "scale", at)?;
            let zp = r.i32(case, "zero_point", at)?;
            let expected = r.tensor_i8(case, "output", at)?;
            let mut out = vec![0i8; input.data.len()];
            Ok(match quantize_slice(&input.data, scale, zp, &mut out) {
                Ok(()) => compare("output", &expected.data, &out),
                Err(e) => core_error(e),
            })
        }
        "fully_connected" => run_fully_connected(r, profile, case, at),
        "conv2d" => run_conv2d(r, profile, case, at),
        "depthwise_conv2d" => run_depthwise(r, profile, case, at),
        "avg_pool2d" | "max_pool2d" => run_pool(r, op, case, at),
        "add" => run_add(r, profile, case, at),
        "mul" => run_mul(r, profile, case, at),
        "softmax" => run_softmax(r, profile, case, at),
        other => Ok(CaseResult::Skipped(format!(
            "op {other:?} is not supported by this checker"
        ))),
    }
}

fn run_fully_connected(
    r: &Reader,
    profile: Profile,
    case: &Value,
    at: &str,
) -> Result<CaseResult, VectorFileError> {
    let input = r.tensor_i8(case, "input", at)?;
    let weights = r.tensor_i8(case, "weights", at)?;
    let expected = r.tensor_i8(case, "output", at)?;
    let (batches, depth) = match *input.shape {
        [b, k] => (b, k),
        _ => return Err(r.err(&join(at, "input.shape"), "expected [batches, input_depth]")),
    };
    let out_d = match *weights.shape {
        [o, _] => o,
        _ => {
            return Err(r.err(
                &join(at, "weights.shape"),
                "expected [output_depth, input_depth]",
            ))
        }
    };
    let weights_zero_point = match r.opt(case, "weights_zero_point") {
        Some(v) => r.int_value(
            v,
            &join(at, "weights_zero_point"),
            i32::MIN as i64,
            i32::MAX as i64,
        )? as i32,
        None => 0,
    };
    let params = FullyConnectedParams {
        batches,
        input_depth: depth,
        output_depth: out_d,
        input_zero_point: r.i32(case, "input_zero_point", at)?,
        weights_zero_point,
        output_zero_point: r.i32(case, "output_zero_point", at)?,
        activation: r.activation(case, at)?,
    };
    let bias = r.bias(case, at)?;
    let multipliers = match r.conv_multipliers(case, at, profile, out_d, true)? {
        Ok(m) => m,
        Err(msg) => return Ok(failed_with(msg)),
    };
    let requant = Requant::per_channel(profile, &multipliers);
    let mut out = vec![0i8; batches.saturating_mul(out_d)];
    let mut scratch = vec![0i16; params.scratch_len()];
    Ok(
        match kernels::fully_connected(
            &params,
            &requant,
            &input.data,
            &weights.data,
            bias.as_deref(),
            &mut out,
            &mut scratch,
        ) {
            Ok(()) => compare("output", &expected.data, &out),
            Err(e) => core_error(e),
        },
    )
}

/// The fields conv2d and depthwise_conv2d cases share.
struct ConvCase {
    input: Tensor<i8>,
    filter: Tensor<i8>,
    expected: Tensor<i8>,
    input_shape: Shape4,
    filter_shape: Shape4,
    output_shape: Shape4,
    stride: [usize; 2],
    dilation: [usize; 2],
    padding: Padding,
    input_zero_point: i32,
    output_zero_point: i32,
    activation: ActivationRange,
    bias: Option<Vec<i32>>,
    /// The multipliers, or why they could not be derived from the scales.
    multipliers: Result<Vec<QuantizedMultiplier>, String>,
}

fn conv_case(
    r: &Reader,
    profile: Profile,
    case: &Value,
    at: &str,
) -> Result<ConvCase, VectorFileError> {
    let input = r.tensor_i8(case, "input", at)?;
    let filter = r.tensor_i8(case, "filter", at)?;
    let expected = r.tensor_i8(case, "output", at)?;
    let output_shape = r.shape4(&expected.shape, &join(at, "output"))?;
    Ok(ConvCase {
        input_shape: r.shape4(&input.shape, &join(at, "input"))?,
        filter_shape: r.shape4(&filter.shape, &join(at, "filter"))?,
        output_shape,
        stride: r.pair(case, "stride", at)?,
        dilation: if r.opt(case, "dilation").is_some() {
            r.pair(case, "dilation", at)?
        } else {
            [1, 1]
        },
        padding: r.padding(case, at)?,
        input_zero_point: r.i32(case, "input_zero_point", at)?,
        output_zero_point: r.i32(case, "output_zero_point", at)?,
        activation: r.activation(case, at)?,
        bias: r.bias(case, at)?,
        multipliers: r.conv_multipliers(case, at, profile, output_shape.c, false)?,
        input,
        filter,
        expected,
    })
}

/// A failure that is not a value difference (e.g. scales the core rejects).
fn failed_with(message: String) -> CaseResult {
    CaseResult::Failed(Mismatch {
        what: "error".into(),
        index: 0,
        expected: "a result".into(),
        actual: message,
    })
}

fn run_conv2d(
    r: &Reader,
    profile: Profile,
    case: &Value,
    at: &str,
) -> Result<CaseResult, VectorFileError> {
    let c = conv_case(r, profile, case, at)?;
    let params = Conv2dParams {
        input: c.input_shape,
        filter: c.filter_shape,
        output: c.output_shape,
        stride_h: c.stride[0],
        stride_w: c.stride[1],
        dilation_h: c.dilation[0],
        dilation_w: c.dilation[1],
        padding: c.padding,
        input_zero_point: c.input_zero_point,
        output_zero_point: c.output_zero_point,
        activation: c.activation,
    };
    let multipliers = match c.multipliers {
        Ok(m) => m,
        Err(msg) => return Ok(failed_with(msg)),
    };
    let requant = Requant::per_channel(profile, &multipliers);
    let mut out = vec![0i8; c.expected.data.len()];
    let mut scratch = vec![0i16; params.scratch_len()];
    let result = kernels::conv2d(
        &params,
        &requant,
        &c.input.data,
        &c.filter.data,
        c.bias.as_deref(),
        &mut out,
        &mut scratch,
    );
    Ok(match result {
        Ok(()) => compare("output", &c.expected.data, &out),
        Err(e) => core_error(e),
    })
}

fn run_depthwise(
    r: &Reader,
    profile: Profile,
    case: &Value,
    at: &str,
) -> Result<CaseResult, VectorFileError> {
    let dm = r.i32(case, "depth_multiplier", at)?;
    if dm < 0 {
        return Err(r.err(&join(at, "depth_multiplier"), "must not be negative"));
    }
    let c = conv_case(r, profile, case, at)?;
    let params = DepthwiseConv2dParams {
        input: c.input_shape,
        filter: c.filter_shape,
        output: c.output_shape,
        depth_multiplier: dm as usize,
        stride_h: c.stride[0],
        stride_w: c.stride[1],
        dilation_h: c.dilation[0],
        dilation_w: c.dilation[1],
        padding: c.padding,
        input_zero_point: c.input_zero_point,
        output_zero_point: c.output_zero_point,
        activation: c.activation,
    };
    let multipliers = match c.multipliers {
        Ok(m) => m,
        Err(msg) => return Ok(failed_with(msg)),
    };
    let requant = Requant::per_channel(profile, &multipliers);
    let mut out = vec![0i8; c.expected.data.len()];
    let mut scratch = vec![0i32; params.scratch_len()];
    let result = kernels::depthwise_conv2d(
        &params,
        &requant,
        &c.input.data,
        &c.filter.data,
        c.bias.as_deref(),
        &mut out,
        &mut scratch,
    );
    Ok(match result {
        Ok(()) => compare("output", &c.expected.data, &out),
        Err(e) => core_error(e),
    })
}

fn run_pool(r: &Reader, op: &str, case: &Value, at: &str) -> Result<CaseResult, VectorFileError> {
    let input = r.tensor_i8(case, "input", at)?;
    let expected = r.tensor_i8(case, "output", at)?;
    let window = r.pair(case, "filter", at)?;
    let stride = r.pair(case, "stride", at)?;
    let padding = r.padding(case, at)?;
    let activation = r.activation(case, at)?;
    let in_shape = r.shape4(&input.shape, &join(at, "input"))?;
    let out_shape = r.shape4(&expected.shape, &join(at, "output"))?;
    let mut out = vec![0i8; expected.data.len()];
    let result = if op == "avg_pool2d" {
        let params = AvgPool2dParams {
            input: in_shape,
            output: out_shape,
            filter_h: window[0],
            filter_w: window[1],
            stride_h: stride[0],
            stride_w: stride[1],
            padding,
            activation,
        };
        kernels::avg_pool2d(&params, &input.data, &mut out)
    } else {
        let params = MaxPool2dParams {
            input: in_shape,
            output: out_shape,
            filter_h: window[0],
            filter_w: window[1],
            stride_h: stride[0],
            stride_w: stride[1],
            padding,
            activation,
        };
        kernels::max_pool2d(&params, &input.data, &mut out)
    };
    Ok(match result {
        Ok(()) => compare("output", &expected.data, &out),
        Err(e) => core_error(e),
    })
}

fn elementwise_inputs(
    r: &Reader,
    case: &Value,
    at: &str,
) -> Result<ElementwiseTensors, VectorFileError> {
    let a = r.tensor_i8(case, "input1", at)?;
    let b = r.tensor_i8(case, "input2", at)?;
    let out = r.tensor_i8(case, "output", at)?;
    if a.shape != b.shape {
        return Err(r.err(
            &join(at, "input2.shape"),
            format!("{:?} differs from input1's {:?}", b.shape, a.shape),
        ));
    }
    if a.shape != out.shape {
        return Err(r.err(
            &join(at, "output.shape"),
            format!("{:?} differs from input1's {:?}", out.shape, a.shape),
        ));
    }
    Ok((a, b, out))
}

fn run_add(
    r: &Reader,
    profile: Profile,
    case: &Value,
    at: &str,
) -> Result<CaseResult, VectorFileError> {
    let (a, b, expected) = elementwise_inputs(r, case, at)?;
    let multipliers = if let Some(sc) = r.opt(case, "scales") {
        let full = join(at, "scales");
        match add_multipliers(
            r.f32(sc, "input1", &full)?,
            r.f32(sc, "input2", &full)?,
            r.f32(sc, "output", &full)?,
            profile,
        ) {
            Ok(m) => m,
            Err(e) => return Ok(core_error(e)),
        }
    } else {
        let q = |m: &str, s: &str| -> Result<QuantizedMultiplier, VectorFileError> {
            Ok(QuantizedMultiplier::new(
                r.i32(case, m, at)?,
                r.i32(case, s, at)?,
            ))
        };
        AddMultipliers {
            left_shift: r.i32(case, "left_shift", at)?,
            input1: q("input1_multiplier", "input1_shift")?,
            input2: q("input2_multiplier", "input2_shift")?,
            output: q("output_multiplier", "output_shift")?,
        }
    };
    let params = AddParams {
        len: a.data.len(),
        input1_zero_point: r.i32(case, "input1_zero_point", at)?,
        input2_zero_point: r.i32(case, "input2_zero_point", at)?,
        output_zero_point: r.i32(case, "output_zero_point", at)?,
        multipliers,
        profile,
        activation: r.activation(case, at)?,
    };
    let mut out = vec![0i8; a.data.len()];
    Ok(match kernels::add(&params, &a.data, &b.data, &mut out) {
        Ok(()) => compare("output", &expected.data, &out),
        Err(e) => core_error(e),
    })
}

fn run_mul(
    r: &Reader,
    profile: Profile,
    case: &Value,
    at: &str,
) -> Result<CaseResult, VectorFileError> {
    let (a, b, expected) = elementwise_inputs(r, case, at)?;
    let multiplier = if let Some(sc) = r.opt(case, "scales") {
        let full = join(at, "scales");
        match mul_multiplier(
            r.f32(sc, "input1", &full)?,
            r.f32(sc, "input2", &full)?,
            r.f32(sc, "output", &full)?,
            profile,
        ) {
            Ok(m) => m,
            Err(e) => return Ok(core_error(e)),
        }
    } else {
        QuantizedMultiplier::new(
            r.i32(case, "output_multiplier", at)?,
            r.i32(case, "output_shift", at)?,
        )
    };
    let params = MulParams {
        len: a.data.len(),
        input1_zero_point: r.i32(case, "input1_zero_point", at)?,
        input2_zero_point: r.i32(case, "input2_zero_point", at)?,
        output_zero_point: r.i32(case, "output_zero_point", at)?,
        activation: r.activation(case, at)?,
    };
    let requant = Requant::per_tensor(profile, &multiplier);
    let mut out = vec![0i8; a.data.len()];
    Ok(
        match kernels::mul(&params, &requant, &a.data, &b.data, &mut out) {
            Ok(()) => compare("output", &expected.data, &out),
            Err(e) => core_error(e),
        },
    )
}

fn run_softmax(
    r: &Reader,
    profile: Profile,
    case: &Value,
    at: &str,
) -> Result<CaseResult, VectorFileError> {
    let input = r.tensor_i8(case, "input", at)?;
    let expected = r.tensor_i8(case, "output", at)?;
    let depth = match input.shape.last() {
        Some(d) => *d,
        None => return Err(r.err(&join(at, "input.shape"), "expected at least one dimension")),
    };
    if expected.shape != input.shape {
        return Err(r.err(&join(at, "output.shape"), "differs from the input shape"));
    }
    let multiplier = if r.opt(case, "multiplier").is_some() {
        SoftmaxMultiplier {
            input: QuantizedMultiplier::new(
                r.i32(case, "multiplier", at)?,
                r.i32(case, "shift", at)?,
            ),
            diff_min: r.i32(case, "diff_min", at)?,
        }
    } else {
        match softmax_multiplier(
            r.f32(case, "beta", at)?,
            r.f32(case, "input_scale", at)?,
            profile,
        ) {
            Ok(m) => m,
            Err(e) => return Ok(core_error(e)),
        }
    };
    let rows = input.data.len().checked_div(depth).unwrap_or(0);
    let params = SoftmaxParams {
        rows,
        depth,
        multiplier,
        profile,
    };
    let mut out = vec![0i8; input.data.len()];
    Ok(match kernels::softmax(&params, &input.data, &mut out) {
        Ok(()) => compare("output", &expected.data, &out),
        Err(e) => core_error(e),
    })
}
