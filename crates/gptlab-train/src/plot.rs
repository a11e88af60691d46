//! PNG line plots (plotters, bitmap backend). Text uses DejaVu Sans from the system fonts
//! (Debian's fonts-dejavu-core); without it the plot is drawn without text.

use crate::{Error, Result};
use plotters::prelude::*;
use serde_json::Value;
use std::path::Path;
use std::sync::OnceLock;

const FONT_PATHS: [&str; 2] = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf"];

fn have_font() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        FONT_PATHS.iter().any(|p| match std::fs::read(p) {
            Ok(bytes) => {
                let leaked: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font("sans-serif", FontStyle::Normal, leaked).is_ok()
            }
            Err(_) => false,
        })
    })
}

/// One named series of (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

const COLORS: [RGBColor; 6] = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];

/// Draws series on one chart and writes a PNG atomically.
pub fn line_plot(path: &Path, title: &str, x_label: &str, series: &[Series]) -> Result<()> {
    let pts = series.iter().flat_map(|s| s.points.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-6);
    let (y0, y1) = (y0 - pad, y1 + pad);
    let text = have_font();
    let tmp = gptlab_core::fsio::temp_path(path).with_extension("png");
    let draw = || -> std::result::Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(&tmp, (800, 500)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut b = ChartBuilder::on(&root);
        b.margin(15).x_label_area_size(if text { 40 } else { 5 }).y_label_area_size(if text { 60 } else { 5 });
        if text {
            b.caption(title, ("sans-serif", 22));
        }
        let mut chart = b.build_cartesian_2d(x0..x1, y0..y1)?;
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc(x_label);
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw()?;
        for (i, s) in series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let pts: Vec<(f64, f64)> = s.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
            let drawn = chart.draw_series(LineSeries::new(pts, color.stroke_width(2)))?;
            if text {
                drawn.label(s.name.clone()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            }
        }
        if text {
            chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        }
        root.present()?;
        Ok(())
    };
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| gptlab_core::Error::io(d, e))?;
    }
    draw().map_err(|e| Error::Plot(format!("{}: {e}", path.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| gptlab_core::Error::io(path, e))?;
    Ok(())
}

/// Points `(step, record[key])` from a metrics file's records.
/// The trailing mean of the last `window` points (fewer at the start), named `<name> (mean of
/// <window>)`: a curve's trend under per-iteration noise.
pub fn smoothed(s: &Series, window: usize) -> Series {
    let w = window.max(1);
    let points = (0..s.points.len())
        .map(|i| {
            let from = (i + 1).saturating_sub(w);
            let ys = &s.points[from..=i];
            (s.points[i].0, ys.iter().map(|p| p.1).sum::<f64>() / ys.len() as f64)
        })
        .collect();
    Series { name: format!("{} (mean of {w})", s.name), points }
}

/// The trailing-mean window of per-iteration RL curves.
pub const TREND_WINDOW: usize = 10;

/// A per-iteration series with its trailing mean first ([`TREND_WINDOW`]).
pub fn with_trend(s: Series) -> [Series; 2] {
    [smoothed(&s, TREND_WINDOW), s]
}

pub fn series_from(records: &[serde_json::Map<String, Value>], key: &str) -> Series {
    let points = records
        .iter()
        .filter_map(|r| Some((r.get("step")?.as_f64()?, r.get(key)?.as_f64()?)))
        .collect();
    Series { name: key.to_string(), points }
}

/// Train and eval loss against step, from a metrics JSONL file.
pub fn loss_curve(metrics: &Path, out: &Path, stage: &str) -> Result<()> {
    let recs = gptlab_core::metrics::read_jsonl(metrics)?;
    let series = [series_from(&recs, "loss"), series_from(&recs, "eval_loss")];
    line_plot(out, &format!("{stage}: loss"), "step", &series)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_is_a_trailing_mean() {
        let s = Series { name: "r".into(), points: vec![(0.0, 1.0), (1.0, 3.0), (2.0, 5.0), (3.0, 7.0)] };
        let m = smoothed(&s, 2);
        assert_eq!(m.points, vec![(0.0, 1.0), (1.0, 2.0), (2.0, 4.0), (3.0, 6.0)]);
        assert!(m.name.contains("mean of 2"));
    }

    #[test]
    fn writes_a_png() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("x.png");
        let s = Series { name: "a".into(), points: (0..10).map(|i| (i as f64, (i * i) as f64)).collect() };
        line_plot(&p, "t", "step", &[s]).expect("plot");
        let bytes = std::fs::read(&p).expect("read");
        assert_eq!(&bytes[1..4], b"PNG");
    }
}
