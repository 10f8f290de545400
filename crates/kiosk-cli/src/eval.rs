//! `kiosk eval …`: accuracy of verification, liveness and detection on labelled data.

use cli_output::outln;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use vision::{DecodeLimits, FacePipeline, Frame, MultiFace, VisionError, metrics};

use crate::VisionArgs;
use crate::report;

/// `--face`, shared by the eval commands that read photos.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct FaceArg {
    /// Which face of a photo with several: `centred` (the photo's subject, as labelled
    /// photo sets are cropped) or `largest` (the kiosk's rule for a live camera).
    #[arg(long = "face", value_enum, default_value_t = FaceChoice::Centred)]
    pub choice: FaceChoice,
}

impl From<FaceArg> for MultiFace {
    fn from(f: FaceArg) -> Self {
        f.choice.into()
    }
}

/// Which face of a photo with several faces is evaluated.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum FaceChoice {
    Centred,
    Largest,
}

impl From<FaceChoice> for MultiFace {
    fn from(f: FaceChoice) -> Self {
        match f {
            FaceChoice::Centred => MultiFace::Centred,
            FaceChoice::Largest => MultiFace::Largest,
        }
    }
}

#[derive(Subcommand)]
pub enum EvalCommand {
    /// 1:1 verification over `image_a,image_b,same[,subset]` pairs, or over every pair of an
    /// `image,identity` list (`--identities`: all impostor pairs, so low FMRs are measurable).
    Verify {
        #[command(flatten)]
        face: FaceArg,
        /// Pairs CSV, `image_a,image_b,same` (1 for the same person, 0 not).
        #[arg(
            long,
            required_unless_present = "identities",
            conflicts_with = "identities"
        )]
        pairs: Option<PathBuf>,
        /// `image,identity` rows: every pair of them is compared.
        #[arg(long)]
        identities: Option<PathBuf>,
        /// Folder the CSV's paths are relative to (default: the CSV's folder).
        #[arg(long)]
        images: Option<PathBuf>,
        /// The threshold whose figures are reported.
        #[arg(long, default_value_t = vision::DEFAULT_MATCH_THRESHOLD)]
        threshold: f32,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Write an HTML report here (DET curve, score histograms, worst pairs with thumbnails).
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Calibrate on an operator's own photos (a folder per person): pairs formed within and
    /// across people, the figures of `verify`, and a proposed match threshold with its 95%
    /// bounds; with `--labels`, the same for liveness (APCER/BPCER, ISO/IEC 30107-3).
    Calibrate {
        #[command(flatten)]
        face: FaceArg,
        /// A folder holding one folder per person, each with that person's photos.
        #[arg(
            long,
            required_unless_present = "identities",
            conflicts_with = "identities"
        )]
        people: Option<PathBuf>,
        /// Or an `image,identity` list (paths relative to its folder).
        #[arg(long)]
        identities: Option<PathBuf>,
        /// Write the model's calibration (impostor tail, genuine CDF: `vision::decision`)
        /// here as JSON, the file `models/calibration/` ships.
        #[arg(long)]
        write_calibration: Option<PathBuf>,
        /// The false match rate the proposed threshold is for.
        #[arg(long, default_value_t = 1e-4)]
        target_fmr: f64,
        /// The match threshold whose figures are reported beside the proposal.
        #[arg(long, default_value_t = vision::DEFAULT_MATCH_THRESHOLD)]
        threshold: f32,
        /// Liveness labels, `image,label[,attack_type]` (label real|spoof).
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Folder the labels' paths are relative to (default: the CSV's folder).
        #[arg(long, requires = "labels")]
        images: Option<PathBuf>,
        /// The attack presentation classification error rate the liveness threshold is for.
        #[arg(long, default_value_t = 1e-2)]
        target_apcer: f64,
        /// The liveness threshold whose figures are reported.
        #[arg(long, default_value_t = vision::DEFAULT_LIVENESS_THRESHOLD)]
        liveness_threshold: f32,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Write an HTML report into this folder.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Open-set 1:N with the decision rule the server and the kiosk use (`vision::decision`):
    /// per gallery size, the threshold for the target FPIR, the measured FPIR (with its 95%
    /// bound), FNIR, misidentification, and whether 1:N would be on; beside today's fixed
    /// threshold for comparison.
    Identify {
        #[command(flatten)]
        face: FaceArg,
        /// `image,identity[,role]`: one enrolment photo per person.
        #[arg(long)]
        gallery: PathBuf,
        /// `image,identity,mated`: mated probes (1) of enrolled people, strangers (0).
        #[arg(long)]
        probes: PathBuf,
        /// Folder the CSVs' paths are relative to (default: the gallery CSV's folder).
        #[arg(long)]
        images: Option<PathBuf>,
        /// Gallery sizes to measure at (people drawn at random with a fixed seed), `all`
        /// for the whole gallery.
        #[arg(long, value_delimiter = ',', default_value = "100,1000,all")]
        gallery_sizes: Vec<String>,
        /// The 1:1 false match rate target (per comparison).
        #[arg(long, default_value_t = vision::decision::DEFAULT_TARGET_FMR)]
        target_fmr: f64,
        /// The 1:N false positive identification rate target (per search).
        #[arg(long, default_value_t = vision::decision::DEFAULT_TARGET_FPIR)]
        target_fpir: f64,
        /// The highest FNIR (missed people) at which 1:N is still offered.
        #[arg(long, default_value_t = vision::decision::DEFAULT_FNIR_CEILING)]
        fnir_ceiling: f64,
        /// The fixed threshold the figures are compared with (the rule before targets).
        #[arg(long, default_value_t = vision::DEFAULT_MATCH_THRESHOLD)]
        baseline_threshold: f32,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Write an HTML page of the table here.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Presentation-attack detection over `image,label[,attack_type]` (label real|spoof).
    Liveness {
        #[command(flatten)]
        face: FaceArg,
        /// Liveness labels, `image,label[,attack_type]` (label real|spoof).
        #[arg(long)]
        labels: PathBuf,
        /// Folder of photos (searched recursively).
        #[arg(long)]
        images: Option<PathBuf>,
        /// The threshold whose figures are reported.
        #[arg(long, default_value_t = vision::DEFAULT_LIVENESS_THRESHOLD)]
        threshold: f32,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Detection recall and precision against dlib/PASCAL-style ground-truth XML.
    Detect {
        /// Ground truth: a dlib/PASCAL-style XML file of face boxes.
        #[arg(long)]
        voc: PathBuf,
        /// Folder of photos (searched recursively).
        #[arg(long)]
        images: Option<PathBuf>,
        /// Minimum IoU between a detection and a ground-truth box to count as found.
        #[arg(long, default_value_t = 0.3)]
        iou: f32,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: EvalCommand, args: &VisionArgs) -> anyhow::Result<()> {
    match cmd {
        EvalCommand::Verify {
            face,
            pairs,
            identities,
            images,
            threshold,
            json,
            report: report_dir,
        } => {
            let list = pairs
                .as_ref()
                .or(identities.as_ref())
                .context("--pairs or --identities")?;
            let dir = images.unwrap_or_else(|| parent(list));
            let (r, embedded, scores) = match (&pairs, &identities) {
                (Some(p), _) => verify(&mut args.pipeline()?, p, &dir, threshold, face.into())?,
                (None, Some(ids)) => {
                    verify_all_pairs(&mut args.pipeline()?, ids, &dir, threshold, face.into())?
                }
                (None, None) => bail!("--pairs or --identities is required"),
            };
            if let Some(out) = report_dir {
                report::write(
                    &out,
                    &report::Page {
                        title: format!("Verification on {}", list.display()),
                        figures: &r.all,
                        subsets: &r.subsets,
                        proposal: None,
                        liveness: None,
                        worst: &r.worst,
                        genuine: &scores.genuine,
                        impostor: &scores.impostor,
                        images: &dir,
                        embedded: &embedded,
                    },
                )?;
            }
            print(&r, json, print_verify)
        }
        EvalCommand::Calibrate {
            face,
            people,
            identities,
            write_calibration,
            target_fmr,
            threshold,
            labels,
            images,
            target_apcer,
            liveness_threshold,
            json,
            report: report_dir,
        } => {
            for (name, v) in [
                ("--target-fmr", target_fmr),
                ("--target-apcer", target_apcer),
            ] {
                if !(v > 0.0 && v < 1.0) {
                    bail!("{name} must be between 0 and 1 (exclusive), got {v}");
                }
            }
            let images_of = match (&people, &identities) {
                (Some(dir), _) => ImageSet::People(dir.clone()),
                (None, Some(csv)) => ImageSet::Identities(csv.clone()),
                (None, None) => bail!("--people or --identities is required"),
            };
            let root = images_of.root();
            let (r, embedded, mut scores) = calibrate(
                &mut args.pipeline()?,
                &CalibrateArgs {
                    people: &images_of,
                    threshold,
                    target_fmr,
                    labels: labels.as_deref(),
                    label_images: images.as_deref(),
                    liveness_threshold,
                    target_apcer,
                    face: face.into(),
                },
            )?;
            if let Some(out) = report_dir {
                report::write(
                    &out,
                    &report::Page {
                        title: format!("Calibration on {}", images_of.describe()),
                        figures: &r.figures,
                        subsets: &BTreeMap::new(),
                        proposal: Some(&r.proposal),
                        liveness: r.liveness.as_ref(),
                        worst: &r.worst,
                        genuine: &scores.genuine,
                        impostor: &scores.impostor,
                        images: &root,
                        embedded: &embedded,
                    },
                )?;
            }
            if let Some(out) = write_calibration {
                let made_with = format!(
                    "kiosk eval calibrate on {} ({} people, {} images, {} without a face): every pair, {} genuine (each person weighted once) and {} impostor comparisons; faces chosen {:?}; pipeline of kiosk {}",
                    images_of.describe(),
                    r.people,
                    r.images,
                    r.undetected,
                    scores.genuine.len(),
                    scores.impostor.len(),
                    face.choice,
                    env!("CARGO_PKG_VERSION"),
                );
                let cal = vision::decision::Calibration::from_scores(
                    vision::EMBEDDER_MODEL_ID,
                    &made_with,
                    &scores.genuine,
                    &scores.genuine_weights,
                    &mut scores.impostor,
                );
                std::fs::write(&out, serde_json::to_string_pretty(&cal)? + "\n")
                    .with_context(|| format!("writing {}", out.display()))?;
            }
            print(&r, json, print_calibrate)
        }
        EvalCommand::Identify {
            face,
            gallery,
            probes,
            images,
            gallery_sizes,
            target_fmr,
            target_fpir,
            fnir_ceiling,
            baseline_threshold,
            json,
            report: report_dir,
        } => {
            for (name, v) in [
                ("--target-fmr", target_fmr),
                ("--target-fpir", target_fpir),
                ("--fnir-ceiling", fnir_ceiling),
            ] {
                if !(v > 0.0 && v < 1.0) {
                    bail!("{name} must be between 0 and 1 (exclusive), got {v}");
                }
            }
            let sizes = gallery_sizes
                .iter()
                .map(|s| match s.trim() {
                    "all" => Ok(None),
                    n => n
                        .parse::<usize>()
                        .ok()
                        .filter(|&n| n > 0)
                        .map(Some)
                        .with_context(|| format!("--gallery-sizes: {n:?} is not a size or `all`")),
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let dir = images.unwrap_or_else(|| parent(&gallery));
            let targets = vision::decision::FaceTargets {
                target_fmr,
                target_fpir,
                fnir_ceiling,
                threshold_override: None,
            };
            let r = identify(
                &mut args.pipeline()?,
                &IdentifyArgs {
                    gallery: &gallery,
                    probes: &probes,
                    images: &dir,
                    sizes: &sizes,
                    targets,
                    baseline_threshold,
                    face: face.into(),
                },
            )?;
            if let Some(out) = report_dir {
                write_identify_report(&out, &r)?;
            }
            print(&r, json, print_identify)
        }
        EvalCommand::Liveness {
            face,
            labels,
            images,
            threshold,
            json,
        } => {
            let dir = images.unwrap_or_else(|| parent(&labels));
            let report = liveness(&mut args.pipeline()?, &labels, &dir, threshold, face.into())?;
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

/// A progress bar on stderr when it is a terminal; hidden (draws nothing) on a pipe or file.
pub fn progress_bar(total: usize, what: &'static str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} {eta}") {
        bar.set_style(style);
    }
    bar.set_message(what);
    bar
}

// ---------------------------------------------------------------------------------------------

/// FMR targets reported by `eval verify` and `eval calibrate` (ISO/IEC 19795-1 style operating
/// points; 1e-4 is the target a kiosk's match threshold is usually set for).
pub const FMR_TARGETS: [f64; 4] = [1e-2, 1e-3, 1e-4, 1e-5];

/// The verification figures of one set of comparisons (all pairs, or one subset).
#[derive(Serialize)]
pub struct Figures {
    pub pairs: usize,
    pub same: usize,
    pub different: usize,
    pub auc: f64,
    /// `None` without both genuine and impostor pairs.
    pub eer: Option<metrics::Eer>,
    /// FMR, FNMR and accuracy at the threshold in use.
    pub at_threshold: metrics::OperatingPoint,
    pub accuracy: f64,
    /// One entry per [`FMR_TARGETS`].
    pub fnmr_at_fmr: Vec<metrics::FnmrAtFmr>,
    /// ROC points (the DET curve plots the same points on probit axes), threshold high to low.
    pub roc: Vec<metrics::OperatingPoint>,
}

impl Figures {
    pub fn of(genuine: &[f32], impostor: &[f32], threshold: f32) -> Self {
        let at = metrics::rates_at(genuine, impostor, threshold);
        let errors = at.fmr * impostor.len() as f64 + at.fnmr * genuine.len() as f64;
        let total = (genuine.len() + impostor.len()).max(1) as f64;
        Self {
            pairs: genuine.len() + impostor.len(),
            same: genuine.len(),
            different: impostor.len(),
            auc: metrics::auc(genuine, impostor),
            eer: metrics::eer(genuine, impostor),
            accuracy: 1.0 - errors.max(0.0) / total,
            at_threshold: at,
            fnmr_at_fmr: FMR_TARGETS
                .iter()
                .map(|&t| metrics::fnmr_at_fmr(genuine, impostor, t))
                .collect(),
            roc: thin(metrics::roc(genuine, impostor)),
        }
    }
}

/// The ROC with its points thinned to what a plot or a JSON reader can use: past 4,096
/// points, a point is kept where FMR moved by 2% of a decade or FNMR by 0.2% since the last
/// kept one (about a thousand points, whatever the number of pairs: 24 million pairs would
/// give as many points).
fn thin(roc: Vec<metrics::OperatingPoint>) -> Vec<metrics::OperatingPoint> {
    // Small sets keep one point per distinct score.
    const KEEP_ALL_UP_TO: usize = 4096;
    let Some(&last) = roc.last() else {
        return roc;
    };
    if roc.len() <= KEEP_ALL_UP_TO {
        return roc;
    }
    let mut out: Vec<metrics::OperatingPoint> = Vec::new();
    for p in roc {
        let keep = out.last().is_none_or(|k| {
            let lf = |f: f64| f.max(1e-12).log10();
            (lf(p.fmr) - lf(k.fmr)).abs() >= 0.02 || (p.fnmr - k.fnmr).abs() >= 0.002
        });
        if keep {
            out.push(p);
        }
    }
    if out.last() != Some(&last) {
        out.push(last);
    }
    out
}

/// Genuine and impostor scores of a set of comparisons.
#[derive(Default)]
pub struct Scores {
    pub genuine: Vec<f32>,
    pub impostor: Vec<f32>,
    /// One per genuine score when known: 1 / the pairs its person's photos make, so that each
    /// person counts once in a calibration's FNMR. Empty: equal weights.
    pub genuine_weights: Vec<f64>,
}

/// One compared pair, for the report's worst pairs.
#[derive(Serialize, Clone)]
pub struct ScoredPair {
    pub image_a: String,
    pub image_b: String,
    pub same: bool,
    pub subset: String,
    /// Cosine similarity; -1 when a photo had no face.
    pub score: f32,
}

/// Each image embedded once (pairs only compare): the face found, or `None` (no face).
pub struct Embedded {
    pub faces: HashMap<String, Option<(vision::Face, vision::Embedding)>>,
    pub undetected: Vec<String>,
    pub ms_per_image: f64,
}

pub fn embed_images(
    pipeline: &mut FacePipeline,
    dir: &Path,
    names: &[String],
    face: MultiFace,
) -> anyhow::Result<Embedded> {
    let mut faces = HashMap::new();
    let mut undetected = Vec::new();
    let bar = progress_bar(names.len(), "images");
    let started = Instant::now();
    for name in names {
        let frame = load_frame(&dir.join(name))?;
        let e = match pipeline.embed_frame(&frame, face) {
            Ok(fe) => Some(fe),
            Err(VisionError::NoFace) => {
                undetected.push(name.clone());
                None
            }
            Err(e) => return Err(e).with_context(|| format!("embedding {name}")),
        };
        faces.insert(name.clone(), e);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(Embedded {
        faces,
        undetected,
        ms_per_image: started.elapsed().as_secs_f64() * 1000.0 / names.len().max(1) as f64,
    })
}

impl Embedded {
    /// Cosine of the two images' faces; an undetected image cannot match: -1.
    pub fn score(&self, a: &str, b: &str) -> f32 {
        match (self.faces.get(a), self.faces.get(b)) {
            (Some(Some((_, x))), Some(Some((_, y)))) => vision::cosine(x.as_slice(), y.as_slice()),
            _ => -1.0,
        }
    }
}

fn split(pairs: &[ScoredPair]) -> (Vec<f32>, Vec<f32>) {
    let genuine = pairs.iter().filter(|p| p.same).map(|p| p.score).collect();
    let impostor = pairs.iter().filter(|p| !p.same).map(|p| p.score).collect();
    (genuine, impostor)
}

/// The `n` lowest-scoring genuine pairs and the `n` highest-scoring impostor pairs.
pub fn worst_pairs(pairs: &[ScoredPair], n: usize) -> Vec<ScoredPair> {
    let mut genuine: Vec<&ScoredPair> = pairs.iter().filter(|p| p.same).collect();
    genuine.sort_by(|a, b| a.score.total_cmp(&b.score));
    let mut impostor: Vec<&ScoredPair> = pairs.iter().filter(|p| !p.same).collect();
    impostor.sort_by(|a, b| b.score.total_cmp(&a.score));
    genuine
        .into_iter()
        .take(n)
        .chain(impostor.into_iter().take(n))
        .cloned()
        .collect()
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
    pub eer: Option<metrics::Eer>,
    pub fnmr_at_fmr: Vec<metrics::FnmrAtFmr>,
    pub images: usize,
    pub undetected: usize,
    pub undetected_images: Vec<String>,
    pub ms_per_image: f64,
    pub genuine_min: f32,
    pub impostor_max: f32,
    /// All pairs' figures, ROC points included.
    pub all: Figures,
    pub subsets: BTreeMap<String, Figures>,
    /// The lowest genuine and highest impostor pairs.
    pub worst: Vec<ScoredPair>,
}

pub fn verify(
    pipeline: &mut FacePipeline,
    pairs: &Path,
    dir: &Path,
    threshold: f32,
    face: MultiFace,
) -> anyhow::Result<(VerifyReport, Embedded, Scores)> {
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
    let mut names: Vec<String> = parsed
        .iter()
        .flat_map(|(a, b, ..)| [a.clone(), b.clone()])
        .collect();
    names.sort_unstable();
    names.dedup();
    let embedded = embed_images(pipeline, dir, &names, face)?;
    let scored: Vec<ScoredPair> = parsed
        .into_iter()
        .map(|(a, b, same, subset)| ScoredPair {
            score: embedded.score(&a, &b),
            image_a: a,
            image_b: b,
            same,
            subset,
        })
        .collect();
    let mut by_subset: BTreeMap<String, Vec<ScoredPair>> = BTreeMap::new();
    for p in &scored {
        by_subset
            .entry(p.subset.clone())
            .or_default()
            .push(p.clone());
    }
    let subsets = by_subset
        .iter()
        .map(|(k, ps)| {
            let (g, i) = split(ps);
            (k.clone(), Figures::of(&g, &i, threshold))
        })
        .collect();
    let (genuine, impostor) = split(&scored);
    let worst = worst_pairs(&scored, WORST_PAIRS);
    let report = verify_report(
        Scores {
            genuine,
            impostor,
            genuine_weights: Vec::new(),
        },
        subsets,
        worst,
        names.len(),
        &embedded,
        threshold,
    );
    Ok((report.0, embedded, report.1))
}

fn verify_report(
    scores: Scores,
    subsets: BTreeMap<String, Figures>,
    worst: Vec<ScoredPair>,
    images: usize,
    embedded: &Embedded,
    threshold: f32,
) -> (VerifyReport, Scores) {
    let (genuine, impostor) = (&scores.genuine, &scores.impostor);
    let all = Figures::of(genuine, impostor, threshold);
    let report = VerifyReport {
        pairs: genuine.len() + impostor.len(),
        same: genuine.len(),
        different: impostor.len(),
        threshold,
        fmr: all.at_threshold.fmr,
        fnmr: all.at_threshold.fnmr,
        accuracy: all.accuracy,
        auc: all.auc,
        eer: all.eer,
        fnmr_at_fmr: all.fnmr_at_fmr.clone(),
        images,
        undetected: embedded.undetected.len(),
        undetected_images: embedded.undetected.clone(),
        ms_per_image: embedded.ms_per_image,
        genuine_min: genuine.iter().copied().fold(f32::INFINITY, f32::min),
        impostor_max: impostor.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        worst,
        all,
        subsets,
    };
    (report, scores)
}

/// `eval verify --identities`: every pair of the listed images.
pub fn verify_all_pairs(
    pipeline: &mut FacePipeline,
    identities: &Path,
    dir: &Path,
    threshold: f32,
    face: MultiFace,
) -> anyhow::Result<(VerifyReport, Embedded, Scores)> {
    let images = identity_images(identities)?;
    let names: Vec<String> = images.iter().map(|(_, f)| f.clone()).collect();
    let embedded = embed_images(pipeline, dir, &names, face)?;
    let (scores, worst) = all_pairs(&images, &embedded);
    let (r, scores) = verify_report(
        scores,
        BTreeMap::new(),
        worst,
        names.len(),
        &embedded,
        threshold,
    );
    Ok((r, embedded, scores))
}

/// Every pair of `images` (person, image): genuine when the person is the same, with the
/// worst pairs. No list of pairs is kept: 7,000 photos make 24 million of them.
pub fn all_pairs(images: &[(String, String)], embedded: &Embedded) -> (Scores, Vec<ScoredPair>) {
    let vectors: Vec<Option<&[f32]>> = images
        .iter()
        .map(|(_, f)| match embedded.faces.get(f) {
            Some(Some((_, e))) => Some(e.as_slice()),
            _ => None,
        })
        .collect();
    let mut scores = Scores::default();
    // The lowest genuine and highest impostor pairs: (score, i, j), kept short.
    let (mut low_gen, mut high_imp): (Vec<PairAt>, Vec<PairAt>) = (Vec::new(), Vec::new());
    let keep = |list: &mut Vec<PairAt>, item: PairAt, high: bool| {
        let worse = |a: f32, b: f32| if high { a > b } else { a < b };
        if list.len() < WORST_PAIRS || list.last().is_some_and(|l| worse(item.0, l.0)) {
            let pos = list.partition_point(|l| !worse(item.0, l.0));
            list.insert(pos, item);
            list.truncate(WORST_PAIRS);
        }
    };
    let mut photos: HashMap<&str, usize> = HashMap::new();
    for (person, _) in images {
        *photos.entry(person.as_str()).or_default() += 1;
    }
    let bar = progress_bar(images.len(), "pairs");
    for i in 0..images.len() {
        for j in i + 1..images.len() {
            let score = match (vectors[i], vectors[j]) {
                (Some(a), Some(b)) => vision::cosine(a, b),
                _ => -1.0,
            };
            if images[i].0 == images[j].0 {
                let k = photos.get(images[i].0.as_str()).copied().unwrap_or(2);
                scores.genuine.push(score);
                scores
                    .genuine_weights
                    .push(2.0 / (k * k.saturating_sub(1)).max(1) as f64);
                keep(&mut low_gen, (score, i, j), false);
            } else {
                scores.impostor.push(score);
                keep(&mut high_imp, (score, i, j), true);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let worst = low_gen
        .into_iter()
        .map(|w| (w, true))
        .chain(high_imp.into_iter().map(|w| (w, false)))
        .map(|((score, i, j), same)| ScoredPair {
            image_a: images[i].1.clone(),
            image_b: images[j].1.clone(),
            same,
            subset: "all".into(),
            score,
        })
        .collect();
    (scores, worst)
}

/// A pair's score and its two images' indices.
type PairAt = (f32, usize, usize);

/// `image,identity` rows (a header row first): `(identity, image)`, in file order.
pub fn identity_images(csv: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let rows = read_csv(csv)?;
    rows.iter()
        .enumerate()
        .map(|(i, r)| match (r.get(0), r.get(1)) {
            (Some(image), Some(id)) if !image.is_empty() && !id.is_empty() => {
                Ok((id.to_string(), image.to_string()))
            }
            _ => bail!("{} row {}: expected image,identity", csv.display(), i + 2),
        })
        .collect()
}

/// How many of the lowest genuine and of the highest impostor pairs a report shows.
pub const WORST_PAIRS: usize = 5;

fn fmt_eer(e: &Option<metrics::Eer>) -> String {
    e.map_or("-".into(), |e| {
        format!("{:.4} (threshold {:.3})", e.rate, e.threshold)
    })
}

fn print_figures_line(name: &str, f: &Figures) {
    let at: Vec<String> = f.fnmr_at_fmr.iter().map(|x| x.describe()).collect();
    outln!(
        "  {name:<28} {:>4} pairs  AUC {:.5}  EER {}  FNMR@FMR 1e-2/1e-3/1e-4: {}",
        f.pairs,
        f.auc,
        fmt_eer(&f.eer),
        at.join(" / ")
    );
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
    outln!("EER          {}", fmt_eer(&r.eer));
    for f in &r.fnmr_at_fmr {
        outln!("FNMR@FMR={:<6e} {}", f.target_fmr(), f.describe());
    }
    outln!(
        "genuine min  {:.3}   impostor max {:.3}",
        r.genuine_min,
        r.impostor_max
    );
    outln!("undetected   {} of {} images", r.undetected, r.images);
    outln!("ms/image     {:.1}", r.ms_per_image);
    for (name, f) in &r.subsets {
        print_figures_line(name, f);
    }
}

// ---------------------------------------------------------------------------------------------

/// The images of a folder per person: `(person, path relative to the root)`, sorted. Files
/// ending in .jpg, .jpeg or .png (any case) directly inside each person's folder.
pub fn people_images(root: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(root).with_context(|| format!("reading {}", root.display()))?;
    for person in entries {
        let person = person?;
        if !person.path().is_dir() {
            continue;
        }
        let name = person.file_name().to_string_lossy().into_owned();
        for file in std::fs::read_dir(person.path())? {
            let file = file?;
            let fname = file.file_name().to_string_lossy().into_owned();
            let ext = Path::new(&fname)
                .extension()
                .map(|e| e.to_string_lossy().to_lowercase());
            if matches!(ext.as_deref(), Some("jpg" | "jpeg" | "png")) && file.path().is_file() {
                out.push((name.clone(), format!("{name}/{fname}")));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Liveness figures of `eval calibrate --labels`.
#[derive(Serialize)]
pub struct LivenessCalibration {
    pub samples: usize,
    /// Samples in which no face was found (left out of the rates).
    pub no_face: usize,
    pub threshold: f32,
    /// All attack species pooled.
    pub pooled: metrics::PadRates,
    /// Per presentation-attack instrument species (`attack_type`, or `unnamed`).
    pub species: BTreeMap<String, metrics::PadRates>,
    /// ISO/IEC 30107-3: the system's APCER is its worst species'.
    pub apcer_max: f64,
    /// The threshold for the target APCER, its bounds, and BPCER there.
    pub proposal: metrics::ThresholdProposal,
}

#[derive(Serialize)]
pub struct CalibrateReport {
    pub people: usize,
    pub images: usize,
    pub undetected: usize,
    pub undetected_images: Vec<String>,
    /// Figures at the threshold in use ([`vision::DEFAULT_MATCH_THRESHOLD`] unless given).
    pub figures: Figures,
    /// The proposed match threshold for the target FMR.
    pub proposal: metrics::ThresholdProposal,
    pub worst: Vec<ScoredPair>,
    pub liveness: Option<LivenessCalibration>,
}

/// Where `eval calibrate` finds each person's photos.
pub enum ImageSet {
    /// A folder per person.
    People(PathBuf),
    /// An `image,identity` list, paths relative to its folder.
    Identities(PathBuf),
}

impl ImageSet {
    /// The folder image paths are relative to.
    pub fn root(&self) -> PathBuf {
        match self {
            Self::People(d) => d.clone(),
            Self::Identities(csv) => parent(csv),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::People(d) | Self::Identities(d) => d.display().to_string(),
        }
    }

    /// `(person, image)`, image relative to [`Self::root`].
    pub fn images(&self) -> anyhow::Result<Vec<(String, String)>> {
        match self {
            Self::People(d) => people_images(d),
            Self::Identities(csv) => identity_images(csv),
        }
    }
}

pub struct CalibrateArgs<'a> {
    pub people: &'a ImageSet,
    pub threshold: f32,
    pub target_fmr: f64,
    pub labels: Option<&'a Path>,
    pub label_images: Option<&'a Path>,
    pub liveness_threshold: f32,
    pub target_apcer: f64,
    pub face: MultiFace,
}

pub fn calibrate(
    pipeline: &mut FacePipeline,
    args: &CalibrateArgs<'_>,
) -> anyhow::Result<(CalibrateReport, Embedded, Scores)> {
    let images = args.people.images()?;
    let people: std::collections::BTreeSet<&str> = images.iter().map(|(p, _)| p.as_str()).collect();
    if people.len() < 2 {
        bail!(
            "{}: need a folder per person, at least two people with photos (found {})",
            args.people.describe(),
            people.len()
        );
    }
    let names: Vec<String> = images.iter().map(|(_, f)| f.clone()).collect();
    let embedded = embed_images(pipeline, &args.people.root(), &names, args.face)?;
    let (scores, worst) = all_pairs(&images, &embedded);
    let (genuine, impostor) = (&scores.genuine, &scores.impostor);
    if genuine.is_empty() {
        bail!(
            "{}: no person has two photos, so there is no genuine pair",
            args.people.describe()
        );
    }
    let liveness = match args.labels {
        Some(labels) => {
            let dir = args
                .label_images
                .map(Path::to_path_buf)
                .unwrap_or_else(|| parent(labels));
            let r = liveness(pipeline, labels, &dir, args.liveness_threshold, args.face)?;
            Some(liveness_calibration(&r, args.target_apcer))
        }
        None => None,
    };
    Ok((
        CalibrateReport {
            people: people.len(),
            images: names.len(),
            undetected: embedded.undetected.len(),
            undetected_images: embedded.undetected.clone(),
            figures: Figures::of(genuine, impostor, args.threshold),
            proposal: metrics::propose_threshold(genuine, impostor, args.target_fmr),
            worst,
            liveness,
        },
        embedded,
        scores,
    ))
}

pub fn liveness_calibration(r: &LivenessReport, target_apcer: f64) -> LivenessCalibration {
    let scored = r.results.iter().filter_map(|s| s.score.map(|v| (s, v)));
    let bona_fide: Vec<f32> = scored
        .clone()
        .filter(|(s, _)| s.label == "real")
        .map(|(_, v)| v)
        .collect();
    let mut by_species: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    for (s, v) in scored.filter(|(s, _)| s.label == "spoof") {
        let species = s.attack_type.clone().unwrap_or_else(|| "unnamed".into());
        by_species.entry(species).or_default().push(v);
    }
    let attacks: Vec<f32> = by_species.values().flatten().copied().collect();
    let species: BTreeMap<String, metrics::PadRates> = by_species
        .iter()
        .map(|(k, v)| (k.clone(), metrics::pad_rates(&bona_fide, v, r.threshold)))
        .collect();
    LivenessCalibration {
        samples: r.samples,
        no_face: r.results.iter().filter(|s| s.score.is_none()).count(),
        threshold: r.threshold,
        pooled: metrics::pad_rates(&bona_fide, &attacks, r.threshold),
        apcer_max: species.values().map(|p| p.apcer).fold(0.0, f64::max),
        species,
        proposal: metrics::propose_threshold(&bona_fide, &attacks, target_apcer),
    }
}

fn fmt_bound(b: Option<f32>) -> String {
    b.map_or("-".into(), |v| format!("{v:.3}"))
}

fn print_proposal(what: &str, rate: &str, other: &str, p: &metrics::ThresholdProposal) {
    outln!(
        "{what} threshold for {rate} {:e}: {:.3}  (95% bounds {} .. {}){}",
        p.target,
        p.threshold,
        fmt_bound(p.lower),
        fmt_bound(p.upper),
        if p.measurable {
            String::new()
        } else {
            format!(
                "  not measurable: {} negatives, {} needed",
                p.negatives,
                metrics::trials_needed(p.target)
            )
        }
    );
    outln!(
        "  there: {rate} {:.4} [{:.4}, {:.4}]  {other} {:.4} [{:.4}, {:.4}]",
        p.false_accept_rate,
        p.false_accept_interval.0,
        p.false_accept_interval.1,
        p.false_reject_rate,
        p.false_reject_interval.0,
        p.false_reject_interval.1
    );
}

fn print_calibrate(r: &CalibrateReport) {
    outln!(
        "people       {} ({} images, {} without a face)",
        r.people,
        r.images,
        r.undetected
    );
    let f = &r.figures;
    outln!(
        "pairs        {} ({} same, {} different)",
        f.pairs,
        f.same,
        f.different
    );
    outln!(
        "at {:.3}     FMR {:.4}  FNMR {:.4}",
        f.at_threshold.threshold,
        f.at_threshold.fmr,
        f.at_threshold.fnmr
    );
    print_figures_line("all", f);
    print_proposal("match", "FMR", "FNMR", &r.proposal);
    if let Some(l) = &r.liveness {
        outln!(
            "liveness     {} samples ({} without a face), threshold {:.2}: APCER {:.4} (max over species {:.4})  BPCER {:.4}",
            l.samples,
            l.no_face,
            l.threshold,
            l.pooled.apcer,
            l.apcer_max,
            l.pooled.bpcer
        );
        for (k, p) in &l.species {
            outln!("  {k:<28} APCER {:.4} ({} attacks)", p.apcer, p.attacks);
        }
        print_proposal("liveness", "APCER", "BPCER", &l.proposal);
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
    face: MultiFace,
) -> anyhow::Result<LivenessReport> {
    let rows = read_csv(labels)?;
    let mut results = Vec::new();
    let bar = progress_bar(rows.len(), "samples");
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
            .and_then(|faces| FacePipeline::choose(&faces, face, frame.width(), frame.height()))
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
        bar.inc(1);
    }
    bar.finish_and_clear();
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
    let bar = progress_bar(images.len(), "images");
    for (file, truth) in &images {
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
        bar.inc(1);
    }
    bar.finish_and_clear();
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

// ---------------------------------------------------------------------------------------------

pub struct IdentifyArgs<'a> {
    pub gallery: &'a Path,
    pub probes: &'a Path,
    pub images: &'a Path,
    /// `None`: the whole gallery.
    pub sizes: &'a [Option<usize>],
    pub targets: vision::decision::FaceTargets,
    pub baseline_threshold: f32,
    pub face: MultiFace,
}

/// Open-set 1:N figures at one gallery size.
#[derive(Serialize)]
pub struct IdentifyFigures {
    /// People enrolled (each with a face found in their enrolment photo).
    pub people: usize,
    /// The thresholds `vision::decision` chose for this gallery, with the rates it expects.
    pub thresholds: vision::decision::Thresholds,
    /// Whether 1:N would be on (the rates below are measured as if it were).
    pub identify_on: bool,
    /// Probes of people not enrolled at this size, and mated probes.
    pub strangers: usize,
    pub mated: usize,
    /// Strangers named as someone, over strangers, with its Wilson 95% interval.
    pub fpir: f64,
    pub fpir_interval: (f64, f64),
    /// Mated probes not named as themselves, over mated (misidentified, ambiguous, below the
    /// threshold, or no face found).
    pub fnir: f64,
    /// Mated probes named as someone else.
    pub misidentification: f64,
    /// Probes the top-2 margin sent to a claim (no one named), strangers and mated.
    pub ambiguous: usize,
    /// The fixed threshold's figures on the same probes: top-1 at or above it is a match.
    pub baseline: BaselineFigures,
    /// Strangers named as someone (at most [`WORST_CASES`]), highest score first: the cases
    /// to look at (a look-alike, or a person listed under two names).
    pub false_positives: Vec<IdentifyCase>,
}

/// One probe and whom it was taken for.
#[derive(Serialize)]
pub struct IdentifyCase {
    pub probe: String,
    pub identity: String,
    pub named: String,
    pub score: f32,
}

/// How many false positives an identify report lists per gallery size.
pub const WORST_CASES: usize = 10;

#[derive(Serialize)]
pub struct BaselineFigures {
    pub threshold: f32,
    pub fpir: f64,
    pub fpir_interval: (f64, f64),
    pub fnir: f64,
    pub misidentification: f64,
}

#[derive(Serialize)]
pub struct IdentifyReport {
    pub gallery_images: usize,
    pub probe_images: usize,
    pub undetected: usize,
    pub targets: vision::decision::FaceTargets,
    /// The shipped calibration's provenance.
    pub calibration: String,
    pub sizes: Vec<IdentifyFigures>,
    pub ms_per_image: f64,
}

fn identify_rows(csv: &Path, want: usize) -> anyhow::Result<Vec<csv::StringRecord>> {
    let rows = read_csv(csv)?;
    for (i, r) in rows.iter().enumerate() {
        if r.len() < want || r.iter().take(want).any(str::is_empty) {
            bail!("{} row {}: expected {want} columns", csv.display(), i + 2);
        }
    }
    Ok(rows)
}

/// The gallery's rows drawn for a size: a fixed-seed shuffle, so every run and every size
/// draws the same people (a smaller gallery is a prefix of a larger one).
fn draw(n: usize, size: Option<usize>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    for i in (1..n).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        order.swap(i, (s % (i as u64 + 1)) as usize);
    }
    order.truncate(size.unwrap_or(n).min(n));
    order
}

pub fn identify(
    pipeline: &mut FacePipeline,
    args: &IdentifyArgs<'_>,
) -> anyhow::Result<IdentifyReport> {
    use vision::decision::{self, FaceDecision};
    let gallery_rows = identify_rows(args.gallery, 2)?;
    let probe_rows = identify_rows(args.probes, 2)?;
    let mut names: Vec<String> = gallery_rows
        .iter()
        .chain(&probe_rows)
        .map(|r| r[0].to_string())
        .collect();
    names.sort_unstable();
    names.dedup();
    let embedded = embed_images(pipeline, args.images, &names, args.face)?;
    let shipped = decision::Calibration::for_model(vision::EMBEDDER_MODEL_ID);
    let face = |image: &str| match embedded.faces.get(image) {
        Some(Some((_, e))) => Some(e.as_slice()),
        _ => None,
    };
    let mut sizes = Vec::new();
    for &size in args.sizes {
        let mut g = vision::Gallery::new(vision::EMBEDDER_MODEL_ID, vision::EMBEDDING_DIM);
        for (key, i) in draw(gallery_rows.len(), size).into_iter().enumerate() {
            if let Some(e) = face(&gallery_rows[i][0]) {
                g.insert(
                    key as u64,
                    &gallery_rows[i][1],
                    vision::EMBEDDER_MODEL_ID,
                    e,
                );
            }
        }
        let t = g.thresholds(&args.targets);
        // Measured as if on: the figures say what 1:N would do; `identify_on` whether it may.
        let mut measured = t;
        measured.identify_availability = decision::Availability::On;
        let (mut strangers, mut mated, mut fp, mut fneg, mut misid, mut ambiguous) =
            (0usize, 0usize, 0usize, 0usize, 0usize, 0usize);
        let (mut b_fp, mut b_fneg, mut b_misid) = (0usize, 0usize, 0usize);
        let mut false_positives = Vec::new();
        for r in &probe_rows {
            let (image, who) = (&r[0], &r[1]);
            let enrolled = g.contains(who);
            if enrolled {
                mated += 1;
            } else {
                strangers += 1;
            }
            let Some(e) = face(image) else {
                // No face: nobody named. A miss for a mated probe, nothing for a stranger.
                if enrolled {
                    fneg += 1;
                    b_fneg += 1;
                }
                continue;
            };
            match decision::identify(&g, e, &measured)? {
                FaceDecision::Match { person, score } => {
                    if !enrolled {
                        fp += 1;
                        false_positives.push(IdentifyCase {
                            probe: image.to_string(),
                            identity: who.to_string(),
                            named: person,
                            score,
                        });
                    } else if person != who {
                        misid += 1;
                        fneg += 1;
                    }
                }
                FaceDecision::Ambiguous { .. } => {
                    ambiguous += 1;
                    fneg += usize::from(enrolled);
                }
                _ => fneg += usize::from(enrolled),
            }
            // Before: the best sample at or above one fixed threshold.
            match g.best(e, None)? {
                Some(m) if m.score >= args.baseline_threshold => {
                    if !enrolled {
                        b_fp += 1;
                    } else if m.person != *who {
                        b_misid += 1;
                        b_fneg += 1;
                    }
                }
                _ => b_fneg += usize::from(enrolled),
            }
        }
        let rate = |k: usize, n: usize| k as f64 / n.max(1) as f64;
        sizes.push(IdentifyFigures {
            people: g.people(),
            identify_on: t.identify_on(),
            thresholds: t,
            strangers,
            mated,
            fpir: rate(fp, strangers),
            fpir_interval: metrics::wilson_interval(fp, strangers),
            fnir: rate(fneg, mated),
            misidentification: rate(misid, mated),
            ambiguous,
            baseline: BaselineFigures {
                threshold: args.baseline_threshold,
                fpir: rate(b_fp, strangers),
                fpir_interval: metrics::wilson_interval(b_fp, strangers),
                fnir: rate(b_fneg, mated),
                misidentification: rate(b_misid, mated),
            },
            false_positives: {
                false_positives.sort_by(|a, b| b.score.total_cmp(&a.score));
                false_positives.truncate(WORST_CASES);
                false_positives
            },
        });
    }
    Ok(IdentifyReport {
        gallery_images: gallery_rows.len(),
        probe_images: probe_rows.len(),
        undetected: embedded.undetected.len(),
        targets: args.targets,
        calibration: shipped.map_or("none for this model".into(), |c| c.made_with.clone()),
        sizes,
        ms_per_image: embedded.ms_per_image,
    })
}

fn identify_rows_text(r: &IdentifyReport) -> Vec<[String; 9]> {
    let pct = |v: f64| format!("{:.2}%", v * 100.0);
    let bound = |(lo, hi): (f64, f64)| format!("[{:.2}, {:.2}]%", lo * 100.0, hi * 100.0);
    r.sizes
        .iter()
        .map(|f| {
            let t = &f.thresholds;
            [
                f.people.to_string(),
                format!("{:.3}", t.identify),
                format!("{} {}", pct(f.fpir), bound(f.fpir_interval)),
                pct(f.fnir),
                pct(f.misidentification),
                f.ambiguous.to_string(),
                if f.identify_on {
                    "on".into()
                } else {
                    format!("off (expected FNIR {})", pct(t.identify_fnir))
                },
                format!(
                    "{} {}",
                    pct(f.baseline.fpir),
                    bound(f.baseline.fpir_interval)
                ),
                pct(f.baseline.fnir),
            ]
        })
        .collect()
}

const IDENTIFY_COLUMNS: [&str; 9] = [
    "people",
    "threshold",
    "FPIR [95%]",
    "FNIR",
    "misident.",
    "ambiguous",
    "1:N",
    "fixed: FPIR [95%]",
    "fixed: FNIR",
];

fn print_identify(r: &IdentifyReport) {
    outln!(
        "targets      FPIR {:e}, FNIR ceiling {:.0}% (1:1 FMR {:e}); fixed threshold compared: {:.3}",
        r.targets.target_fpir,
        r.targets.fnir_ceiling * 100.0,
        r.targets.target_fmr,
        r.sizes.first().map_or(0.0, |f| f.baseline.threshold)
    );
    outln!(
        "images       {} gallery, {} probes, {} without a face; {:.1} ms/image",
        r.gallery_images,
        r.probe_images,
        r.undetected,
        r.ms_per_image
    );
    outln!("calibration  {}", r.calibration);
    outln!("{}", IDENTIFY_COLUMNS.join(" | "));
    for (row, f) in identify_rows_text(r).iter().zip(&r.sizes) {
        outln!("{}", row.join(" | "));
        outln!(
            "  ({} strangers, {} mated probes; expected FPIR {:.2e}, FNIR {:.2}%{}{})",
            f.strangers,
            f.mated,
            f.thresholds.identify_fpir,
            f.thresholds.identify_fnir * 100.0,
            if f.thresholds.extrapolated {
                "; threshold extrapolated past the measured tail"
            } else {
                ""
            },
            if f.thresholds.site_refined {
                "; refined by the gallery's own impostors"
            } else {
                ""
            }
        );
    }
}

/// `index.html`: the table of [`print_identify`].
fn write_identify_report(dir: &Path, r: &IdentifyReport) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut html = String::from(
        "<!doctype html><meta charset=utf-8><title>Open-set 1:N</title>\
         <style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;border-bottom:1px solid #ccc;text-align:right}</style>\
         <h1>Open-set identification (1:N)</h1>",
    );
    html += &format!(
        "<p>Targets: FPIR {:e}, FNIR ceiling {:.0}%. {} gallery images, {} probes, {} without a face.</p><p>Calibration: {}</p><table><tr>",
        r.targets.target_fpir,
        r.targets.fnir_ceiling * 100.0,
        r.gallery_images,
        r.probe_images,
        r.undetected,
        esc(&r.calibration)
    );
    for c in IDENTIFY_COLUMNS {
        html += &format!("<th>{}</th>", esc(c));
    }
    html += "</tr>";
    for row in identify_rows_text(r) {
        html += "<tr>";
        for c in row {
            html += &format!("<td>{}</td>", esc(&c));
        }
        html += "</tr>";
    }
    html += "</table>";
    std::fs::write(dir.join("index.html"), html)
        .with_context(|| format!("writing {}", dir.join("index.html").display()))
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
