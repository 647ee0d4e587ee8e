//! The page: plain HTML, an inline `<style>`, inline SVG. Nothing is fetched.

use std::fmt::Write;

use super::analysis::{BlobSummary, LayerAnalysis};
use super::firmware::{DeviceEntry, DeviceFigures, HEADLINE};
use super::charts::{histogram_chart, line_chart, Curve, PALETTE};
use super::metrics::representable_range;
use super::{EpochPoint, History, Report};

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
th{background:#f3f3f3}td.l,th.l{text-align:left}.missing{color:#a00}.ok{color:#070}\
.charts{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}";

fn unavailable(page: &mut String, why: &str) {
    let _ = writeln!(page, "<p class=\"missing\">Not available: {}</p>", escape(why));
}

fn kv_table(page: &mut String, id: &str, rows: &[(String, String)]) {
    let _ = writeln!(page, "<table id=\"{id}\"><tr><th class=\"l\">key</th><th class=\"l\">value</th></tr>");
    for (k, v) in rows {
        let _ = writeln!(page, "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>", escape(k), escape(v));
    }
    page.push_str("</table>\n");
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_infinite() => "∞".into(),
        Some(x) => format!("{x:.digits$}"),
        None => "—".into(),
    }
}

fn curves(page: &mut String, history: &History, metric: &str) -> anyhow::Result<()> {
    type Field = fn(&EpochPoint) -> Option<f32>;
    let pts = |recs: &[EpochPoint], f: Field| -> Vec<(f64, f64)> { recs.iter().filter_map(|r| Some((f64::from(r.epoch), f64::from(f(r)?)))).collect() };
    // QAT continues after the last FP32 epoch on the x axis.
    let offset = history.fp32.iter().map(|r| r.epoch).max().unwrap_or(0);
    let qat_shifted: Vec<EpochPoint> = history.qat.as_deref().unwrap_or(&[]).iter().map(|r| EpochPoint { epoch: r.epoch + offset, ..r.clone() }).collect();
    let qat: &[EpochPoint] = &qat_shifted;
    let candidates: [(&str, &[EpochPoint], Field, usize); 4] = [
        ("FP32 train loss", &history.fp32, |r| Some(r.train_loss), 0),
        ("FP32 val loss", &history.fp32, |r| r.val_loss, 2),
        ("QAT train loss", qat, |r| Some(r.train_loss), 1),
        ("QAT val loss", qat, |r| r.val_loss, 3),
    ];
    let loss: Vec<Curve<'_>> = candidates
        .iter()
        .map(|&(label, recs, f, c)| Curve { label, points: pts(recs, f), color: PALETTE[c] })
        .filter(|c| !c.points.is_empty())
        .collect();
    let mut metric_curves = vec![Curve { label: "FP32", points: pts(&history.fp32, |r| Some(r.val_metric)), color: PALETTE[0] }];
    if !qat.is_empty() {
        metric_curves.push(Curve { label: "QAT (exact int8)", points: pts(qat, |r| Some(r.val_metric)), color: PALETTE[1] });
    }
    let _ = write!(page, "<p>Epochs 1–{offset}: FP32 training; later epochs: QAT fine-tuning of the quantized network.</p>\n<div class=\"charts\">");
    let _ = write!(page, "<figure id=\"loss-curve\">{}</figure>", line_chart("Loss per epoch", "epoch", "loss", &loss)?);
    let _ = write!(page, "<figure id=\"metric-curve\">{}</figure>", line_chart(&format!("Validation {metric} per epoch"), "epoch", metric, &metric_curves)?);
    page.push_str("</div>\n");
    if qat.is_empty() {
        page.push_str("<p class=\"missing\">No QAT epochs recorded (history.json has no `qat` records).</p>\n");
    }
    Ok(())
}

fn layer_table(page: &mut String, a: &LayerAnalysis) {
    let _ = writeln!(
        page,
        "<p>{} test samples. Float {metric}: <b>{:.4}</b>; int8 blob on the core interpreter: <b>{:.4}</b>. \
         Sensitivity = {metric} with that layer computed in float minus the all-int8 {metric}; rows sorted worst first.</p>",
        a.samples,
        a.float_metric,
        a.int8_metric,
        metric = a.metric_name
    );
    page.push_str(
        "<table id=\"layer-table\"><tr><th>op</th><th class=\"l\">layer</th><th class=\"l\">kind</th><th class=\"l\">output shape</th>\
         <th>weight scale (min … max, channels)</th><th>act. scale</th><th>act. zero point</th><th>float range</th>\
         <th>clipping rate</th><th>SQNR (dB)</th><th>sensitivity</th></tr>\n",
    );
    for r in &a.rows {
        let ws = r.op.weight_scales.map_or("—".into(), |(lo, hi, n)| format!("{lo:.3e} … {hi:.3e} ({n})"));
        let (scale, zp) = r.op.out_quant.map_or(("—".into(), "—".into()), |(s, z)| (format!("{s:.4e}"), z.to_string()));
        let range = r.float_range.map_or("—".into(), |(lo, hi)| format!("[{lo:.3}, {hi:.3}]"));
        let clip = r.clipping_rate.map_or("—".into(), |c| format!("{:.3}%", c * 100.0));
        let shape = format!("{:?}", r.op.output_shape);
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.op.index,
            escape(&r.name),
            r.op.kind,
            escape(&shape),
            ws,
            scale,
            zp,
            range,
            clip,
            fmt_opt(r.sqnr_db, 2),
            fmt_opt(r.sensitivity.map(|s| s * 100.0), 2) + if r.sensitivity.is_some() { " pp" } else { "" }
        );
    }
    page.push_str("</table>\n");
    for p in &a.problems {
        let _ = writeln!(page, "<p class=\"missing\">{}</p>", escape(p));
    }
}

fn histograms(page: &mut String, a: &LayerAnalysis) -> anyhow::Result<()> {
    page.push_str("<div class=\"charts\" id=\"histograms\">");
    for r in a.rows.iter().filter(|r| r.histogram.is_some()) {
        let (edges, counts) = r.histogram.as_ref().expect("filtered");
        let (lo, hi) = r.op.out_quant.map(|(s, z)| representable_range(s, z)).unwrap_or((0.0, 0.0));
        let title = format!("op {} `{}`: float activations", r.op.index, r.name);
        let _ = write!(page, "<figure>{}</figure>", histogram_chart(&title, edges, counts, &[(lo, "int8 min"), (hi, "int8 max")])?);
    }
    page.push_str("</div>\n");
    Ok(())
}

fn confusion(page: &mut String, m: &[Vec<u64>]) {
    let max = m.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    page.push_str("<table id=\"confusion-matrix\"><tr><th>true \\ predicted</th>");
    for j in 0..m.len() {
        let _ = write!(page, "<th>{j}</th>");
    }
    page.push_str("</tr>\n");
    for (i, row) in m.iter().enumerate() {
        let _ = write!(page, "<tr><th>{i}</th>");
        for &c in row {
            // Cell shade grows with the count (white → blue).
            let t = c as f64 / max;
            let shade = (255.0 - 140.0 * t) as u8;
            let _ = write!(page, "<td style=\"background:rgb({shade},{shade},255)\">{c}</td>");
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</table>\n");
}

/// The command that measures the run's blob on the emulated Cortex-M4 into the expected file.
fn firmware_command(report: &Report) -> String {
    format!("cargo firmware-test --model {} --json {}", report.blob_path.display(), report.firmware_path.display())
}

/// `firmware.json`: every entry as a column, the run's own model first and marked.
fn device_section(page: &mut String, report: &Report) {
    let figures: &DeviceFigures = match &report.firmware {
        Ok(f) => f,
        Err(why) => {
            unavailable(page, why);
            let _ = writeln!(
                page,
                "<p id=\"firmware-hint\">The flash, RAM and instruction figures come from running the blob on an emulated Cortex-M4 (see docs/firmware.md). From the repository root: <code>{}</code></p>",
                escape(&firmware_command(report))
            );
            return;
        }
    };
    let own = report.model_crc32.and_then(|crc| figures.for_model(crc));
    match (own, report.model_crc32) {
        (Some(e), Some(crc)) => {
            let _ = writeln!(page, "<p class=\"ok\" id=\"firmware-match\">Measured for this run's model: entry <b>{}</b> (model CRC-32 {crc:#010x}).</p>", escape(&e.name));
        }
        (None, Some(crc)) => {
            let _ = writeln!(
                page,
                "<p class=\"missing\" id=\"firmware-hint\">No entry of the firmware figures is this run's model (model CRC-32 {crc:#010x}); the figures below are for other models. To measure this one: <code>{}</code></p>",
                escape(&firmware_command(report))
            );
        }
        _ => page.push_str("<p class=\"missing\">No readable blob, so no entry can be matched to this run's model.</p>\n"),
    }
    if !figures.about.is_empty() {
        kv_table(page, "firmware-about", &figures.about);
    }
    let mut models: Vec<&DeviceEntry> = own.into_iter().collect();
    models.extend(figures.models.iter().filter(|m| !own.is_some_and(|o| std::ptr::eq(o, *m))));
    if models.is_empty() {
        unavailable(page, "the firmware figures hold no model entry");
        return;
    }
    let mut keys: Vec<&str> = Vec::new();
    for m in &models {
        for (k, _) in &m.fields {
            if !keys.contains(&k.as_str()) {
                keys.push(k);
            }
        }
    }
    page.push_str("<table id=\"firmware-table\"><tr><th class=\"l\">figure</th>");
    for m in &models {
        let mark = if own.is_some_and(|o| std::ptr::eq(o, *m)) { " (this run)" } else { "" };
        let _ = write!(page, "<th class=\"l\">{}{mark}</th>", escape(&m.name));
    }
    page.push_str("</tr>\n");
    for k in keys {
        let _ = write!(page, "<tr><td class=\"l\">{}</td>", escape(k));
        for m in &models {
            let _ = write!(page, "<td class=\"l\">{}</td>", escape(m.get(k).unwrap_or("")));
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</table>\n");
}

fn deployment(page: &mut String, b: &BlobSummary, device: Option<&DeviceEntry>) {
    let total: u64 = b.ops.iter().map(|o| o.macs).sum();
    let mut rows = vec![
        ("blob size".to_string(), format!("{} B", b.bytes)),
        ("constant data (weights, biases, scales)".to_string(), format!("{} B", b.constant_bytes)),
        ("arena size".to_string(), format!("{} B", b.arena_size)),
        ("arithmetic profile".to_string(), b.profile.to_string()),
        ("ops".to_string(), b.ops.len().to_string()),
        ("MACs per inference".to_string(), total.to_string()),
    ];
    // Figures measured on the emulated Cortex-M4 for this very model (firmware.json).
    if let Some(entry) = device {
        for (key, label) in HEADLINE {
            if let Some(v) = entry.get(key) {
                let unit = if key.ends_with("_bytes") && v != "—" { " B" } else { "" };
                let detail = match (key, entry.get("outputs_identical"), entry.get("outputs_total")) {
                    ("parity", Some(n), Some(m)) => format!(" ({n}/{m} outputs identical to the host)"),
                    _ => String::new(),
                };
                rows.push((label.to_string(), format!("{v}{unit}{detail}")));
            }
        }
    }
    kv_table(page, "deployment-table", &rows);
    page.push_str("<table id=\"mac-table\"><tr><th>op</th><th class=\"l\">kind</th><th class=\"l\">output shape</th><th>MACs</th><th>share</th></tr>\n");
    for o in &b.ops {
        let share = if total > 0 { format!("{:.1}%", o.macs as f64 * 100.0 / total as f64) } else { "—".into() };
        let _ = writeln!(page, "<tr><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{:?}</td><td>{}</td><td>{}</td></tr>", o.index, o.kind, o.output_shape, o.macs, share);
    }
    page.push_str("</table>\n");
}

/// Renders the whole page.
pub fn render(report: &Report) -> String {
    let mut page = String::new();
    let title = format!("exactq report: {}", report.title);
    let _ = writeln!(page, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>", escape(&title));
    let _ = writeln!(page, "<h1>{}</h1>", escape(&title));
    if let Some(d) = &report.dataset {
        let _ = writeln!(page, "<p>Dataset: {}</p>", escape(d));
    }
    if let Some(r) = &report.reference {
        let _ = writeln!(page, "<p>Float reference of the per-layer figures: {}</p>", escape(&r.display().to_string()));
    }
    page.push_str("<h2 id=\"artefacts\">Artefacts</h2>\n<table id=\"artefact-table\"><tr><th class=\"l\">artefact</th><th class=\"l\">file</th><th class=\"l\">status</th></tr>\n");
    for a in &report.artefacts {
        let status = match &a.problem {
            None => "<span class=\"ok\">read</span>".to_string(),
            Some(p) => format!("<span class=\"missing\">{}</span>", escape(p)),
        };
        let _ = writeln!(page, "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{status}</td></tr>", escape(&a.name), escape(&a.path.display().to_string()));
    }
    page.push_str("</table>\n");

    page.push_str("<h2 id=\"summary\">Run summary</h2>\n");
    match &report.summary {
        Ok(rows) => kv_table(&mut page, "summary-table", rows),
        Err(why) => unavailable(&mut page, why),
    }

    page.push_str("<h2 id=\"curves\">Training curves</h2>\n");
    let metric = report.analysis.as_ref().map(|a| a.metric_name).unwrap_or("metric");
    match &report.history {
        Ok(h) => {
            if let Err(e) = curves(&mut page, h, metric) {
                unavailable(&mut page, &format!("{e:#}"));
            }
        }
        Err(why) => unavailable(&mut page, why),
    }

    page.push_str("<h2 id=\"layers\">Per-layer quantization</h2>\n");
    match &report.analysis {
        Ok(a) => {
            layer_table(&mut page, a);
            page.push_str("<h2 id=\"activation-histograms\">Activation ranges of the worst layers</h2>\n");
            page.push_str("<p>Float activations of the layer on the analysed samples; dashed lines: the range its int8 output can represent (values beyond are clipped).</p>\n");
            if let Err(e) = histograms(&mut page, a) {
                unavailable(&mut page, &format!("{e:#}"));
            }
            page.push_str("<h2 id=\"confusion\">Confusion matrix (int8 blob)</h2>\n");
            match &a.confusion {
                Some(m) => confusion(&mut page, m),
                None => unavailable(&mut page, "not a classifier"),
            }
        }
        Err(why) => unavailable(&mut page, why),
    }

    page.push_str("<h2 id=\"deployment\">Deployment</h2>\n");
    match &report.blob {
        Ok(b) => {
            let device = match (&report.firmware, report.model_crc32) {
                (Ok(f), Some(crc)) => f.for_model(crc),
                _ => None,
            };
            deployment(&mut page, b, device)
        }
        Err(why) => unavailable(&mut page, why),
    }
    page.push_str("<h3 id=\"firmware\">On the device (firmware tests)</h3>\n");
    device_section(&mut page, report);
    page.push_str("</body></html>\n");
    page
}
