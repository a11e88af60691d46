//! ROC curves as a PNG (plotters, bitmap backend) with a log-scale FPR axis. Text uses DejaVu
//! Sans from the system fonts; without it the plot is drawn without text.

use crate::{Error, Result};
use plotters::prelude::*;
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

const COLORS: [RGBColor; 6] = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
/// The log axis starts here; FPRs below it (0 included) are drawn at it.
const MIN_FPR: f64 = 1e-4;

/// Draws `(label, [(fpr, tpr)])` ROC curves on a log-FPR axis, with chance (TPR = FPR) dashed
/// and the 1% and 0.1% FPR targets as vertical lines, and writes a PNG atomically.
pub fn roc_png(path: &Path, curves: &[(String, Vec<(f64, f64)>)]) -> Result<()> {
    let text = have_font();
    let tmp = gptlab_core::fsio::temp_path(path).with_extension("png");
    let draw = || -> std::result::Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(&tmp, (800, 600)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut b = ChartBuilder::on(&root);
        b.margin(15).x_label_area_size(if text { 40 } else { 5 }).y_label_area_size(if text { 50 } else { 5 });
        if text {
            b.caption("ROC (log FPR)", ("sans-serif", 22));
        }
        let mut chart = b.build_cartesian_2d((MIN_FPR..1.0f64).log_scale(), 0.0..1.0f64)?;
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc("false-positive rate").y_desc("true-positive rate");
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw()?;
        let chance: Vec<(f64, f64)> = (0..=40).map(|i| MIN_FPR * 10f64.powf(4.0 * i as f64 / 40.0)).map(|x| (x, x)).collect();
        chart.draw_series(DashedLineSeries::new(chance, 6, 4, BLACK.mix(0.4).stroke_width(1)))?;
        for f in [0.01, 0.001] {
            chart.draw_series(LineSeries::new(vec![(f, 0.0), (f, 1.0)], BLACK.mix(0.2).stroke_width(1)))?;
        }
        for (i, (label, pts)) in curves.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let pts: Vec<(f64, f64)> = pts.iter().filter(|(x, y)| x.is_finite() && y.is_finite()).map(|&(x, y)| (x.clamp(MIN_FPR, 1.0), y.clamp(0.0, 1.0))).collect();
            let drawn = chart.draw_series(LineSeries::new(pts, color.stroke_width(2)))?;
            if text {
                let label = label.clone();
                drawn.label(label).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            }
        }
        if text {
            chart.configure_series_labels().position(SeriesLabelPosition::LowerRight).background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        }
        root.present()?;
        Ok(())
    };
    if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).map_err(|e| gptlab_core::Error::io(d, e))?;
    }
    if let Err(e) = draw() {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Plot(format!("{}: {e}", path.display())));
    }
    std::fs::rename(&tmp, path).map_err(|e| gptlab_core::Error::io(path, e))?;
    Ok(())
}
