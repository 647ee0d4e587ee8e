//! Inline SVG charts drawn with plotters' SVG backend (text stays `<text>`, no fonts needed).

use plotters::prelude::*;

/// One named curve: (x, y) points.
pub struct Curve<'a> {
    pub label: &'a str,
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
}

/// Colours of the curves, in order.
pub const PALETTE: [RGBColor; 4] = [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];

fn bounds(curves: &[Curve<'_>]) -> ((f64, f64), (f64, f64)) {
    let pts = curves.iter().flat_map(|c| c.points.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if !x0.is_finite() {
        return ((0.0, 1.0), (0.0, 1.0));
    }
    let pad = ((y1 - y0) * 0.05).max(1e-6);
    let xs = if x1 > x0 { (x0, x1) } else { (x0 - 0.5, x0 + 0.5) };
    (xs, (y0 - pad, y1 + pad))
}

fn draw_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing a chart: {e:?}")
}

/// A line chart (with point markers) of `curves`.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, curves: &[Curve<'_>]) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let ((x0, x1), (y0, y1)) = bounds(curves);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(draw_err)?;
        chart.configure_mesh().x_desc(x_label).y_desc(y_label).light_line_style(WHITE.mix(0.0)).draw().map_err(draw_err)?;
        for c in curves {
            let color = c.color;
            chart
                .draw_series(LineSeries::new(c.points.iter().copied(), color.stroke_width(2)))
                .map_err(draw_err)?
                .label(c.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
            chart.draw_series(c.points.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(draw_err)?;
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// A histogram from bin `edges` and `counts`, with dashed vertical lines at `markers`
/// (the int8 representable range).
pub fn histogram_chart(title: &str, edges: &[f32], counts: &[u64], markers: &[(f32, &str)]) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 260)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let x0 = f64::from(*edges.first().unwrap_or(&0.0));
        let x1 = f64::from(*edges.last().unwrap_or(&1.0)).max(x0 + 1e-6);
        let top = counts.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.08;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(32)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, 0.0..top)
            .map_err(draw_err)?;
        chart.configure_mesh().x_desc("float value").y_desc("count").light_line_style(WHITE.mix(0.0)).draw().map_err(draw_err)?;
        let bar = PALETTE[0].mix(0.7).filled();
        chart
            .draw_series(edges.windows(2).zip(counts).map(|(e, &c)| Rectangle::new([(f64::from(e[0]), 0.0), (f64::from(e[1]), c as f64)], bar)))
            .map_err(draw_err)?;
        for &(m, label) in markers {
            let x = f64::from(m);
            chart
                .draw_series(DashedLineSeries::new(vec![(x, 0.0), (x, top)], 6, 4, PALETTE[1].stroke_width(2)))
                .map_err(draw_err)?
                .label(label)
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], PALETTE[1].stroke_width(2)));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}
