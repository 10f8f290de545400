//! `--report DIR` of `kiosk eval verify` and `kiosk eval calibrate`: one HTML page with the DET
//! curve and the score histograms (SVG, drawn by plotters) and the worst pairs with thumbnails
//! of their faces (PNG). The figures come from `vision::metrics`; this only draws them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use vision::metrics::{self, FnmrAtFmr, ThresholdProposal};

use crate::eval::{Embedded, Figures, LivenessCalibration, ScoredPair, load_frame};

/// What one report page shows.
pub struct Page<'a> {
    pub title: String,
    pub figures: &'a Figures,
    pub subsets: &'a BTreeMap<String, Figures>,
    pub proposal: Option<&'a ThresholdProposal>,
    pub liveness: Option<&'a LivenessCalibration>,
    pub worst: &'a [ScoredPair],
    /// Every comparison's score (the histograms).
    pub genuine: &'a [f32],
    pub impostor: &'a [f32],
    /// The folder the pairs' image paths are relative to.
    pub images: &'a Path,
    pub embedded: &'a Embedded,
}

/// Writes `index.html`, `det.svg`, `scores.svg` and `thumbs/*.png` into `dir` (created).
pub fn write(dir: &Path, page: &Page<'_>) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("thumbs"))
        .with_context(|| format!("creating {}", dir.display()))?;
    let mut curves: Vec<(&str, &Figures)> = vec![("all", page.figures)];
    curves.extend(page.subsets.iter().map(|(k, f)| (k.as_str(), f)));
    det_svg(&dir.join("det.svg"), &curves)?;
    histogram_svg(
        &dir.join("scores.svg"),
        page.figures,
        page.genuine,
        page.impostor,
    )?;
    let mut thumbs = BTreeMap::new();
    for p in page.worst {
        for name in [&p.image_a, &p.image_b] {
            if !thumbs.contains_key(name) {
                let file = format!("thumbs/{}.png", thumbs.len());
                thumbnail(
                    &page.images.join(name),
                    page.embedded,
                    name,
                    &dir.join(&file),
                )?;
                thumbs.insert(name.clone(), file);
            }
        }
    }
    let html = html(page, &thumbs);
    std::fs::write(dir.join("index.html"), html)
        .with_context(|| format!("writing {}", dir.join("index.html").display()))
}

/// Dark enough on white to read (3:1 and more), told apart by hue.
const CURVE_COLOURS: [RGBColor; 5] = [
    RGBColor(0, 0, 0),
    RGBColor(0, 90, 181),
    RGBColor(200, 60, 0),
    RGBColor(0, 120, 60),
    RGBColor(120, 40, 140),
];

/// The rates marked on the DET axes.
const DET_TICKS: [f64; 8] = [1e-4, 1e-3, 1e-2, 0.05, 0.1, 0.2, 0.4, 0.6];

/// A rate axis on the normal-deviate (probit) scale: values are probits, ticks at [`DET_TICKS`].
struct ProbitAxis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl ProbitAxis {
    fn new(floor: f64) -> Self {
        Self {
            lo: metrics::probit(floor),
            hi: metrics::probit(0.6),
            ticks: DET_TICKS
                .iter()
                .filter(|&&t| t >= floor)
                .map(|&t| metrics::probit(t))
                .collect(),
        }
    }
}

impl Ranged for ProbitAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let f = (value - self.lo) / (self.hi - self.lo);
        limit.0 + (f * (limit.1 - limit.0) as f64).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

fn tick_label(v: &f64) -> String {
    DET_TICKS
        .iter()
        .find(|&&t| (metrics::probit(t) - v).abs() < 1e-6)
        .map_or(String::new(), |t| {
            if *t < 0.01 {
                format!("{t:e}")
            } else {
                format!("{:.0}%", t * 100.0)
            }
        })
}

fn plot_err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing the report: {e}")
}

/// DET curve: FNMR against FMR on normal-deviate (probit) axes (Martin et al. 1997). A zero
/// rate is drawn at the axis' edge (half a comparison below the smallest rate the data can
/// show).
fn det_svg(path: &Path, curves: &[(&str, &Figures)]) -> anyhow::Result<()> {
    let floor = 1e-4f64;
    let root = SVGBackend::new(path, (640, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("DET curve", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(ProbitAxis::new(floor), ProbitAxis::new(floor))
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("FMR (false match rate)")
        .y_desc("FNMR (false non-match rate)")
        .x_label_formatter(&tick_label)
        .y_label_formatter(&tick_label)
        .draw()
        .map_err(plot_err)?;
    let clamp = |r: f64| metrics::probit(r.clamp(floor, 0.6));
    for (k, (name, f)) in curves.iter().enumerate() {
        let colour = CURVE_COLOURS[k % CURVE_COLOURS.len()];
        let points: Vec<(f64, f64)> = f
            .roc
            .iter()
            .map(|p| (clamp(p.fmr), clamp(p.fnmr)))
            .collect();
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(plot_err)?
            .label(format!("{name} ({} pairs)", f.pairs))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour));
        if let Some(e) = f.eer {
            chart
                .draw_series(std::iter::once(Circle::new(
                    (clamp(e.rate), clamp(e.rate)),
                    4,
                    colour.filled(),
                )))
                .map_err(plot_err)?;
        }
    }
    chart
        .draw_series(LineSeries::new(
            vec![
                (metrics::probit(floor), metrics::probit(floor)),
                (metrics::probit(0.6), metrics::probit(0.6)),
            ],
            BLACK.mix(0.2),
        ))
        .map_err(plot_err)?
        .label("FMR = FNMR (EER points)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK.mix(0.2)));
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(plot_err)?;
    root.present().map_err(plot_err)
}

/// Histograms of genuine and impostor scores, 0.02 wide, with the threshold in use.
fn histogram_svg(
    path: &Path,
    figures: &Figures,
    genuine: &[f32],
    impostor: &[f32],
) -> anyhow::Result<()> {
    const BIN: f64 = 0.02;
    let lo = genuine
        .iter()
        .chain(impostor)
        .fold(0.0f64, |m, &s| m.min(s as f64))
        .max(-1.0);
    let lo = (lo / BIN).floor() * BIN;
    let bins = ((1.0 - lo) / BIN).ceil() as usize;
    let count = |scores: &[f32]| {
        let mut c = vec![0u32; bins];
        for &s in scores {
            let b = (((s as f64 - lo) / BIN).floor() as usize).min(bins - 1);
            c[b] += 1;
        }
        c
    };
    let (cg, ci) = (count(genuine), count(impostor));
    let top = cg.iter().chain(&ci).copied().max().unwrap_or(1).max(1);
    let root = SVGBackend::new(path, (640, 360)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Scores of genuine and impostor pairs", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(48)
        .build_cartesian_2d(lo..1.0, 0u32..top + top / 10 + 1)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_desc("cosine similarity")
        .y_desc("pairs")
        .draw()
        .map_err(plot_err)?;
    let green = RGBColor(0, 120, 60);
    let red = RGBColor(190, 30, 30);
    for (counts, colour, name) in [(&ci, red, "impostor"), (&cg, green, "genuine")] {
        chart
            .draw_series(
                counts
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0)
                    .map(|(b, &c)| {
                        let x0 = lo + b as f64 * BIN;
                        Rectangle::new([(x0, 0), (x0 + BIN, c)], colour.mix(0.5).filled())
                    }),
            )
            .map_err(plot_err)?
            .label(format!("{name} ({})", counts.iter().sum::<u32>()))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled()));
    }
    let t = figures.at_threshold.threshold as f64;
    chart
        .draw_series(LineSeries::new(
            vec![(t, 0), (t, top)],
            BLACK.stroke_width(2),
        ))
        .map_err(plot_err)?
        .label(format!("threshold {t:.3}"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK));
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(plot_err)?;
    root.present().map_err(plot_err)
}

/// The face (its box with a 25 % margin; the whole photo when no face was found), at most
/// 112 px, as PNG.
fn thumbnail(path: &Path, embedded: &Embedded, name: &str, out: &Path) -> anyhow::Result<()> {
    let frame = load_frame(path)?;
    let crop = match embedded.faces.get(name) {
        Some(Some((face, _))) => {
            let [x, y, w, h] = face.bbox;
            let m = 0.25 * w.max(h);
            let (fw, fh) = (frame.width() as f32, frame.height() as f32);
            let x0 = (x - m).clamp(0.0, fw - 1.0) as u32;
            let y0 = (y - m).clamp(0.0, fh - 1.0) as u32;
            let x1 = (x + w + m).clamp(x0 as f32 + 1.0, fw) as u32;
            let y1 = (y + h + m).clamp(y0 as f32 + 1.0, fh) as u32;
            let fw = frame.width() as usize;
            let mut rgb = Vec::with_capacity(((x1 - x0) * (y1 - y0) * 3) as usize);
            for row in y0 as usize..y1 as usize {
                rgb.extend_from_slice(
                    &frame.rgb()[(row * fw + x0 as usize) * 3..(row * fw + x1 as usize) * 3],
                );
            }
            vision::Frame::from_raw(x1 - x0, y1 - y0, vision::PixelFormat::Rgb8, &rgb)?
        }
        _ => frame,
    };
    let png = crop.fitted(112, 112)?.to_png()?;
    std::fs::write(out, png).with_context(|| format!("writing {}", out.display()))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn rate_cell(f: &FnmrAtFmr) -> String {
    match f {
        FnmrAtFmr::Measured {
            fnmr, threshold, ..
        } => {
            format!("{fnmr:.4} <small>(threshold {threshold:.3})</small>")
        }
        FnmrAtFmr::NotMeasurable {
            impostors, needed, ..
        } => {
            format!("not measurable on {impostors} impostor pairs <small>({needed} needed)</small>")
        }
    }
}

fn proposal_rows(html: &mut String, what: &str, rate: &str, other: &str, p: &ThresholdProposal) {
    let b = |v: Option<f32>| v.map_or("–".to_string(), |v| format!("{v:.3}"));
    let _ = write!(
        html,
        "<tr><th>{what} threshold for {rate} {:e}</th><td>{:.3} (95% bounds {} … {}){}</td></tr>\
         <tr><th>{rate} there</th><td>{:.4} [{:.4}, {:.4}]</td></tr>\
         <tr><th>{other} there</th><td>{:.4} [{:.4}, {:.4}]</td></tr>",
        p.target,
        p.threshold,
        b(p.lower),
        b(p.upper),
        if p.measurable {
            String::new()
        } else {
            format!(
                " — not measurable: {} negatives, {} needed (rule of three)",
                p.negatives,
                metrics::trials_needed(p.target)
            )
        },
        p.false_accept_rate,
        p.false_accept_interval.0,
        p.false_accept_interval.1,
        p.false_reject_rate,
        p.false_reject_interval.0,
        p.false_reject_interval.1,
    );
}

fn html(page: &Page<'_>, thumbs: &BTreeMap<String, String>) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=en><meta charset=utf-8><title>{t}</title>\
         <style>body{{font:15px system-ui,sans-serif;margin:2em;max-width:70em;color:#111}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #999;padding:.3em .6em;text-align:left}}\
         img{{vertical-align:middle}}.pair img{{margin-right:.3em}}</style><h1>{t}</h1>",
        t = esc(&page.title)
    );
    h.push_str(
        "<table><tr><th>set</th><th>pairs (same / different)</th><th>AUC</th><th>EER</th>\
         <th>FMR / FNMR at the threshold</th><th>FNMR at FMR 1e-2</th><th>at 1e-3</th><th>at 1e-4</th></tr>",
    );
    let mut rows: Vec<(&str, &Figures)> = vec![("all", page.figures)];
    rows.extend(page.subsets.iter().map(|(k, f)| (k.as_str(), f)));
    for (name, f) in rows {
        let eer = f.eer.map_or("–".into(), |e| {
            format!(
                "{:.4} <small>(threshold {:.3})</small>",
                e.rate, e.threshold
            )
        });
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{} ({} / {})</td><td>{:.5}</td><td>{eer}</td><td>{:.4} / {:.4} <small>at {:.3}</small></td>",
            esc(name),
            f.pairs,
            f.same,
            f.different,
            f.auc,
            f.at_threshold.fmr,
            f.at_threshold.fnmr,
            f.at_threshold.threshold
        );
        for x in &f.fnmr_at_fmr {
            let _ = write!(h, "<td>{}</td>", rate_cell(x));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    if page.proposal.is_some() || page.liveness.is_some() {
        h.push_str("<h2>Proposed thresholds</h2><table>");
        if let Some(p) = page.proposal {
            proposal_rows(&mut h, "match", "FMR", "FNMR", p);
        }
        if let Some(l) = page.liveness {
            let _ = write!(
                h,
                "<tr><th>liveness at {:.2} ({} samples, {} without a face)</th><td>APCER {:.4} \
                 (worst species {:.4}), BPCER {:.4}</td></tr>",
                l.threshold, l.samples, l.no_face, l.pooled.apcer, l.apcer_max, l.pooled.bpcer
            );
            for (k, s) in &l.species {
                let _ = write!(
                    h,
                    "<tr><th>APCER, {}</th><td>{:.4} ({} attacks)</td></tr>",
                    esc(k),
                    s.apcer,
                    s.attacks
                );
            }
            proposal_rows(&mut h, "liveness", "APCER", "BPCER", &l.proposal);
        }
        h.push_str("</table>");
    }
    h.push_str(
        "<h2>DET curve</h2><p>False non-match rate against false match rate, both on normal-deviate \
         scales; dots mark the EER. Zero rates sit on the axes' edge.</p><img src=det.svg alt='DET curve'>\
         <h2>Score distributions</h2><img src=scores.svg alt='score histograms'>\
         <h2>Worst pairs</h2><p>The lowest-scoring genuine pairs and the highest-scoring impostor pairs \
         (a score of −1: no face found in a photo).</p><table><tr><th>kind</th><th>score</th><th>faces</th><th>images</th></tr>",
    );
    for p in page.worst {
        let img = |n: &str| {
            thumbs.get(n).map_or(String::new(), |f| {
                format!("<img src='{}' alt='{}'>", esc(f), esc(n))
            })
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{:.3}</td><td class=pair>{}{}</td><td>{}<br>{}</td></tr>",
            if p.same { "genuine" } else { "impostor" },
            p.score,
            img(&p.image_a),
            img(&p.image_b),
            esc(&p.image_a),
            esc(&p.image_b)
        );
    }
    h.push_str("</table></html>\n");
    h
}
