//! `kiosk eval …`: accuracy of verification, liveness and detection on labelled data.

use cli_output::{errln, outln};
use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde::Serialize;
use vision::{DecodeLimits, FacePipeline, Frame, MultiFace, VisionError};

use crate::VisionArgs;
use crate::stats::auc;

#[derive(Subcommand)]
pub enum EvalCommand {
    /// 1:1 verification over `image_a,image_b,same[,subset]` pairs.
    Verify {
        #[arg(long)]
        pairs: PathBuf,
        /// Folder the CSV's paths are relative to (default: the CSV's folder).
        #[arg(long)]
        images: Option<PathBuf>,
        #[arg(long, default_value_t = vision::DEFAULT_MATCH_THRESHOLD)]
        threshold: f32,
        #[arg(long)]
        json: bool,
    },
    /// Presentation-attack detection over `image,label[,attack_type]` (label real|spoof).
    Liveness {
        #[arg(long)]
        labels: PathBuf,
        #[arg(long)]
        images: Option<PathBuf>,
        #[arg(long, default_value_t = vision::DEFAULT_LIVENESS_THRESHOLD)]
        threshold: f32,
        #[arg(long)]
        json: bool,
    },
    /// Detection recall and precision against dlib/PASCAL-style ground-truth XML.
    Detect {
        #[arg(long)]
        voc: PathBuf,
        #[arg(long)]
        images: Option<PathBuf>,
        /// Minimum IoU between a detection and a ground-truth box to count as found.
        #[arg(long, default_value_t = 0.3)]
        iou: f32,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: EvalCommand, args: &VisionArgs) -> anyhow::Result<()> {
    match cmd {
        EvalCommand::Verify {
            pairs,
            images,
            threshold,
            json,
        } => {
            let dir = images.unwrap_or_else(|| parent(&pairs));
            let report = verify(&mut args.pipeline()?, &pairs, &dir, threshold)?;
            print(&report, json, print_verify)
        }
        EvalCommand::Liveness {
            labels,
            images,
            threshold,
            json,
        } => {
            let dir = images.unwrap_or_else(|| parent(&labels));
            let report = liveness(&mut args.pipeline()?, &labels, &dir, threshold)?;
            print(&report, json, print_liveness)
        }
        EvalCommand::Detect {
            voc,
            images,
            iou,
            json,
        } => {
            let dir = images.unwrap_or_else(|| parent(&voc));
            let report = detect(&mut args.pipeline()?, &voc, &dir, iou)?;
            print(&report, json, print_detect)
        }
    }
}

fn parent(p: &Path) -> PathBuf {
    p.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn print<T: Serialize>(report: &T, json: bool, table: fn(&T)) -> anyhow::Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(report)?);
    } else {
        table(report);
    }
    Ok(())
}

pub fn load_frame(path: &Path) -> anyhow::Result<Frame> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    vision::decode_image(&bytes, &DecodeLimits::default())
        .with_context(|| format!("decoding {}", path.display()))
}

fn read_csv(path: &Path) -> anyhow::Result<Vec<csv::StringRecord>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("opening {}", path.display()))?;
    reader
        .records()
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing {}", path.display()))
}

fn progress(done: usize, total: usize, what: &str) {
    if done.is_multiple_of(10) || done == total {
        let _ = write!(std::io::stderr(), "\r{what}: {done}/{total}");
        if done == total {
            errln!();
        }
    }
}

// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Default)]
pub struct SubsetReport {
    pub pairs: usize,
    pub same: usize,
    pub different: usize,
    pub auc: f64,
    pub accuracy: f64,
}

#[derive(Serialize)]
pub struct VerifyReport {
    pub pairs: usize,
    pub same: usize,
    pub different: usize,
    pub threshold: f32,
    pub fmr: f64,
    pub fnmr: f64,
    pub accuracy: f64,
    pub auc: f64,
    pub images: usize,
    pub undetected: usize,
    pub undetected_images: Vec<String>,
    pub ms_per_image: f64,
    pub genuine_min: f32,
    pub impostor_max: f32,
    pub subsets: BTreeMap<String, SubsetReport>,
}

pub fn verify(
    pipeline: &mut FacePipeline,
    pairs: &Path,
    dir: &Path,
    threshold: f32,
) -> anyhow::Result<VerifyReport> {
    let rows = read_csv(pairs)?;
    let mut parsed = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let (Some(a), Some(b), Some(same)) = (r.get(0), r.get(1), r.get(2)) else {
            bail!(
                "{} row {}: expected image_a,image_b,same",
                pairs.display(),
                i + 2
            );
        };
        let same = match same.trim() {
            "1" | "true" => true,
            "0" | "false" => false,
            other => bail!(
                "{} row {}: same must be 0 or 1, got {other:?}",
                pairs.display(),
                i + 2
            ),
        };
        let subset = r.get(3).unwrap_or("all").to_string();
        parsed.push((a.to_string(), b.to_string(), same, subset));
    }
    let mut names: Vec<&str> = parsed
        .iter()
        .flat_map(|(a, b, ..)| [a.as_str(), b.as_str()])
        .collect();
    names.sort_unstable();
    names.dedup();

    // Each image is embedded once; pairs only compare.
    let mut embeddings: HashMap<&str, Option<vision::Embedding>> = HashMap::new();
    let mut undetected_images = Vec::new();
    let started = Instant::now();
    for (i, name) in names.iter().enumerate() {
        let frame = load_frame(&dir.join(name))?;
        let e = match pipeline.embed_frame(&frame, MultiFace::Largest) {
            Ok((_, e)) => Some(e),
            Err(VisionError::NoFace) => {
                undetected_images.push(name.to_string());
                None
            }
            Err(e) => return Err(e).with_context(|| format!("embedding {name}")),
        };
        embeddings.insert(name, e);
        progress(i + 1, names.len(), "images");
    }
    let ms_per_image = started.elapsed().as_secs_f64() * 1000.0 / names.len().max(1) as f64;

    // An undetected image cannot match: its pairs score -1.
    let mut all = (Vec::new(), Vec::new());
    let mut by_subset: BTreeMap<String, (Vec<f32>, Vec<f32>)> = BTreeMap::new();
    for (a, b, same, subset) in &parsed {
        let score = match (&embeddings[a.as_str()], &embeddings[b.as_str()]) {
            (Some(x), Some(y)) => vision::cosine(x.as_slice(), y.as_slice()),
            _ => -1.0,
        };
        let entry = by_subset.entry(subset.clone()).or_default();
        if *same {
            all.0.push(score);
            entry.0.push(score);
        } else {
            all.1.push(score);
            entry.1.push(score);
        }
    }
    let rates = |g: &[f32], i: &[f32]| {
        let fnm = g.iter().filter(|&&s| s < threshold).count();
        let fm = i.iter().filter(|&&s| s >= threshold).count();
        let total = (g.len() + i.len()).max(1) as f64;
        (
            fm as f64 / i.len().max(1) as f64,
            fnm as f64 / g.len().max(1) as f64,
            1.0 - (fm + fnm) as f64 / total,
        )
    };
    let (fmr, fnmr, accuracy) = rates(&all.0, &all.1);
    let subsets = by_subset
        .iter()
        .map(|(k, (g, i))| {
            let (_, _, acc) = rates(g, i);
            (
                k.clone(),
                SubsetReport {
                    pairs: g.len() + i.len(),
                    same: g.len(),
                    different: i.len(),
                    auc: auc(g, i),
                    accuracy: acc,
                },
            )
        })
        .collect();
    Ok(VerifyReport {
        pairs: parsed.len(),
        same: all.0.len(),
        different: all.1.len(),
        threshold,
        fmr,
        fnmr,
        accuracy,
        auc: auc(&all.0, &all.1),
        images: names.len(),
        undetected: undetected_images.len(),
        undetected_images,
        ms_per_image,
        genuine_min: all.0.iter().copied().fold(f32::INFINITY, f32::min),
        impostor_max: all.1.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        subsets,
    })
}

fn print_verify(r: &VerifyReport) {
    outln!(
        "pairs        {} ({} same, {} different)",
        r.pairs,
        r.same,
        r.different
    );
    outln!("threshold    {:.3}", r.threshold);
    outln!("FMR          {:.4}", r.fmr);
    outln!("FNMR         {:.4}", r.fnmr);
    outln!("accuracy     {:.4}", r.accuracy);
    outln!("AUC          {:.5}", r.auc);
    outln!(
        "genuine min  {:.3}   impostor max {:.3}",
        r.genuine_min,
        r.impostor_max
    );
    outln!("undetected   {} of {} images", r.undetected, r.images);
    outln!("ms/image     {:.1}", r.ms_per_image);
    for (name, s) in &r.subsets {
        outln!(
            "  {name:<28} {:>4} pairs  AUC {:.5}  accuracy {:.4}",
            s.pairs,
            s.auc,
            s.accuracy
        );
    }
}

// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
pub struct LivenessResult {
    pub image: String,
    pub label: String,
    pub attack_type: Option<String>,
    pub score: Option<f32>,
    pub decision: String,
    pub correct: bool,
}

#[derive(Serialize)]
pub struct LivenessReport {
    pub samples: usize,
    pub real: usize,
    pub spoof: usize,
    pub threshold: f32,
    /// Attacks accepted as real, over attacks.
    pub apcer: f64,
    /// Real faces rejected, over real faces.
    pub bpcer: f64,
    pub results: Vec<LivenessResult>,
}

pub fn liveness(
    pipeline: &mut FacePipeline,
    labels: &Path,
    dir: &Path,
    threshold: f32,
) -> anyhow::Result<LivenessReport> {
    let rows = read_csv(labels)?;
    let mut results = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let (Some(image), Some(label)) = (r.get(0), r.get(1)) else {
            bail!("{} row {}: expected image,label", labels.display(), i + 2);
        };
        let label = label.trim().to_lowercase();
        if label != "real" && label != "spoof" {
            bail!(
                "{} row {}: label must be real or spoof, got {label:?}",
                labels.display(),
                i + 2
            );
        }
        let frame = load_frame(&dir.join(image))?;
        let score = match pipeline
            .detect(&frame)
            .and_then(|faces| FacePipeline::choose(&faces, MultiFace::Largest))
        {
            Ok(face) => Some(pipeline.liveness(&frame, &face)?),
            Err(VisionError::NoFace) => None,
            Err(e) => return Err(e.into()),
        };
        // No face: nothing to accept, which is right for a spoof and wrong for a real face.
        let decision = if score.is_some_and(|s| s >= threshold) {
            "real"
        } else {
            "spoof"
        };
        results.push(LivenessResult {
            image: image.to_string(),
            correct: decision == label,
            label,
            attack_type: r.get(2).filter(|s| !s.is_empty()).map(str::to_string),
            score,
            decision: decision.to_string(),
        });
        progress(i + 1, rows.len(), "samples");
    }
    let real = results.iter().filter(|r| r.label == "real").count();
    let spoof = results.len() - real;
    let accepted_spoofs = results
        .iter()
        .filter(|r| r.label == "spoof" && r.decision == "real")
        .count();
    let rejected_reals = results
        .iter()
        .filter(|r| r.label == "real" && r.decision == "spoof")
        .count();
    Ok(LivenessReport {
        samples: results.len(),
        real,
        spoof,
        threshold,
        apcer: accepted_spoofs as f64 / spoof.max(1) as f64,
        bpcer: rejected_reals as f64 / real.max(1) as f64,
        results,
    })
}

fn print_liveness(r: &LivenessReport) {
    outln!(
        "samples    {} ({} real, {} spoof)",
        r.samples,
        r.real,
        r.spoof
    );
    outln!("threshold  {:.2}", r.threshold);
    outln!("APCER      {:.4}", r.apcer);
    outln!("BPCER      {:.4}", r.bpcer);
    for s in &r.results {
        let score = s.score.map_or("no face".to_string(), |v| format!("{v:.3}"));
        outln!(
            "  {:<34} {:<6} {:>8}  -> {:<6} {}",
            s.image,
            s.label,
            score,
            s.decision,
            if s.correct { "ok" } else { "WRONG" }
        );
    }
}

// ---------------------------------------------------------------------------------------------

#[derive(Serialize)]
pub struct DetectReport {
    pub images: usize,
    pub ground_truth: usize,
    pub detections: usize,
    pub matched: usize,
    pub recall: f64,
    pub precision: f64,
    pub iou_threshold: f32,
    pub score_threshold: f32,
    pub ms_per_image: f64,
}

/// Ground-truth boxes per image file from dlib's imglab XML (`<image file=…><box top left
/// width height [ignore]/>`). Boxes marked ignore are left out.
pub fn parse_voc(xml: &str) -> anyhow::Result<Vec<(String, Vec<[f32; 4]>)>> {
    let doc = roxmltree::Document::parse(xml).context("parsing the ground-truth XML")?;
    let attr = |n: &roxmltree::Node, a: &str| -> anyhow::Result<f32> {
        n.attribute(a)
            .with_context(|| format!("box without {a}"))?
            .parse::<f32>()
            .with_context(|| format!("box {a} is not a number"))
    };
    let mut out = Vec::new();
    for image in doc.descendants().filter(|n| n.has_tag_name("image")) {
        let file = image.attribute("file").context("image without file")?;
        let mut boxes = Vec::new();
        for b in image.children().filter(|n| n.has_tag_name("box")) {
            if b.attribute("ignore").is_some_and(|v| v != "0") {
                continue;
            }
            boxes.push([
                attr(&b, "left")?,
                attr(&b, "top")?,
                attr(&b, "width")?,
                attr(&b, "height")?,
            ]);
        }
        out.push((file.to_string(), boxes));
    }
    Ok(out)
}

fn box_iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let x1 = a[0].max(b[0]);
    let y1 = a[1].max(b[1]);
    let x2 = (a[0] + a[2]).min(b[0] + b[2]);
    let y2 = (a[1] + a[3]).min(b[1] + b[3]);
    let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
    inter / (a[2] * a[3] + b[2] * b[3] - inter).max(f32::EPSILON)
}

pub fn detect(
    pipeline: &mut FacePipeline,
    voc: &Path,
    dir: &Path,
    iou: f32,
) -> anyhow::Result<DetectReport> {
    let xml = std::fs::read_to_string(voc).with_context(|| format!("reading {}", voc.display()))?;
    let images = parse_voc(&xml)?;
    let (mut gt_total, mut det_total, mut matched) = (0, 0, 0);
    let started = Instant::now();
    for (i, (file, truth)) in images.iter().enumerate() {
        let frame = load_frame(&dir.join(file))?;
        let faces = pipeline.detect(&frame)?;
        gt_total += truth.len();
        det_total += faces.len();
        // Greedy one-to-one matching, best detections first (they come sorted by score).
        let mut used = vec![false; truth.len()];
        for f in &faces {
            let best = truth
                .iter()
                .enumerate()
                .filter(|(j, _)| !used[*j])
                .map(|(j, t)| (j, box_iou(&f.bbox, t)))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((j, v)) = best
                && v >= iou
            {
                used[j] = true;
                matched += 1;
            }
        }
        progress(i + 1, images.len(), "images");
    }
    Ok(DetectReport {
        images: images.len(),
        ground_truth: gt_total,
        detections: det_total,
        matched,
        recall: matched as f64 / gt_total.max(1) as f64,
        precision: matched as f64 / det_total.max(1) as f64,
        iou_threshold: iou,
        score_threshold: vision::DetectorConfig::default().score_threshold,
        ms_per_image: started.elapsed().as_secs_f64() * 1000.0 / images.len().max(1) as f64,
    })
}

fn print_detect(r: &DetectReport) {
    outln!("images       {}", r.images);
    outln!(
        "faces        {} ground truth, {} detected, {} matched",
        r.ground_truth,
        r.detections,
        r.matched
    );
    outln!("recall       {:.4}", r.recall);
    outln!("precision    {:.4}", r.precision);
    outln!("ms/image     {:.1}", r.ms_per_image);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voc_parser_reads_boxes_and_skips_ignored() {
        let xml = r#"<dataset><images>
            <image file='a.jpg'><box top='10' left='20' width='30' height='40'/>
              <box top='1' left='2' width='3' height='4' ignore='1'/></image>
            <image file='b.jpg'/></images></dataset>"#;
        let parsed = parse_voc(xml).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].1, vec![[20.0, 10.0, 30.0, 40.0]]);
        assert!(parsed[1].1.is_empty());
        assert!(
            parse_voc("<dataset><images><image file='x'><box top='a'/></image></images></dataset>")
                .is_err()
        );
    }
}
