//! `kiosk bench`: per-stage latency of the face pipeline on 640x480 frames made from real
//! photos, and of 1:N matching over synthetic galleries. Prints a table or JSON.

use cli_output::{errln, outln};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use vision::{FacePipeline, MultiFace, TemplateIndex};

use crate::VisionArgs;
use crate::stats::percentile;

#[derive(Args)]
pub struct BenchArgs {
    /// Folder of JPEG/PNG photos (searched recursively); required unless --match-only.
    #[arg(long)]
    images: Option<PathBuf>,
    /// Only the 1:N match stage (no models, no photos).
    #[arg(long)]
    match_only: bool,
    /// Frame size the photos are letterboxed into, as a camera would deliver.
    #[arg(long, default_value_t = 640)]
    width: u32,
    /// Camera frame height the photos are letterboxed into (pixels).
    #[arg(long, default_value_t = 480)]
    height: u32,
    /// Passes over the photos (more samples, steadier percentiles).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Gallery sizes for the 1:N match stage.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000usize, 100_000])]
    gallery: Vec<usize>,
    /// Queries per gallery size.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
pub struct StageStats {
    pub stage: String,
    pub samples: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
}

fn stats(stage: &str, samples: &[f64]) -> StageStats {
    StageStats {
        stage: stage.to_string(),
        samples: samples.len(),
        p50_ms: percentile(samples, 0.5),
        p95_ms: percentile(samples, 0.95),
        p99_ms: percentile(samples, 0.99),
        mean_ms: samples.iter().sum::<f64>() / samples.len().max(1) as f64,
    }
}

#[derive(Serialize)]
pub struct BenchReport {
    pub frame: String,
    pub images: usize,
    pub frames_with_face: usize,
    pub intra_threads: usize,
    pub detector_side: u32,
    pub stages: Vec<StageStats>,
    /// Per gallery size: what the index holds per template.
    pub match_memory: Vec<MatchMemory>,
}

#[derive(Serialize)]
pub struct MatchMemory {
    pub templates: usize,
    /// Values, 1-bit code and key (`TemplateIndex::bytes_per_template`).
    pub bytes_per_template: usize,
    pub total_mb: f64,
}

pub fn collect_images(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            collect_images(&p, out)?;
        } else if matches!(
            p.extension()
                .and_then(|x| x.to_str())
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("jpg" | "jpeg" | "png")
        ) {
            out.push(p);
        }
    }
    Ok(())
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

pub fn run(args: BenchArgs, vargs: &VisionArgs) -> anyhow::Result<()> {
    let (mut stages, images, with_face) = if args.match_only {
        (Vec::new(), 0, 0)
    } else {
        let Some(images) = &args.images else {
            bail!("--images is required (or --match-only)");
        };
        pipeline_stages(images, &args, vargs)?
    };
    let mut match_memory = Vec::new();
    for &n in &args.gallery {
        let (index, queries) = synthetic_gallery(n, args.queries);
        // Exhaustive first: the two-stage scan then runs on a cache as warm as it would be.
        for (name, exhaustive) in [("match 1:N exhaustive f32", true), ("match 1:N", false)] {
            let mut samples = Vec::with_capacity(queries.len());
            for q in &queries {
                let t = Instant::now();
                if exhaustive {
                    std::hint::black_box(index.search_exact(q, 1)?);
                } else {
                    std::hint::black_box(index.best_match(q)?);
                }
                samples.push(ms(t));
            }
            stages.push(stats(&format!("{name}, N={n}"), &samples));
        }
        // The whole decision as the server and the kiosk make it: one person a template,
        // their thresholds once per gallery change (the site's own impostor tail), then the
        // top two people and the rule (vision::decision::identify) a query.
        let mut g = vision::Gallery::new(vision::EMBEDDER_MODEL_ID, index.dim());
        for key in 0..n as u64 {
            if let Some(t) = index.get(key) {
                g.insert(key, &format!("p{key}"), vision::EMBEDDER_MODEL_ID, t);
            }
        }
        let t = Instant::now();
        let mut thresholds = g.thresholds(&vision::decision::FaceTargets::default());
        // Timed as if 1:N were on (random templates have no genuine pairs to say it is):
        // the search and the rule are what is measured.
        thresholds.identify_availability = vision::decision::Availability::On;
        stages.push(stats(
            &format!("thresholds after a change (site calibration), N={n}"),
            &[ms(t)],
        ));
        let mut samples = Vec::with_capacity(queries.len());
        for q in &queries {
            let t = Instant::now();
            std::hint::black_box(vision::decision::identify(&g, q, &thresholds)?);
            samples.push(ms(t));
        }
        stages.push(stats(
            &format!("decision 1:N (top 2, rule), N={n}"),
            &samples,
        ));
        match_memory.push(MatchMemory {
            templates: n,
            bytes_per_template: index.bytes_per_template(),
            total_mb: (index.bytes_per_template() * n) as f64 / 1e6,
        });
    }

    let report = BenchReport {
        frame: format!("{}x{}", args.width, args.height),
        images,
        frames_with_face: with_face,
        intra_threads: vargs.threads,
        detector_side: vargs.detector_side,
        stages,
        match_memory,
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    outln!(
        "{} frames from {} photos ({} with a face), {} intra-op thread(s), detector side {}",
        report.frame,
        report.images,
        report.frames_with_face,
        report.intra_threads,
        report.detector_side
    );
    outln!(
        "{:<34} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "stage",
        "samples",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "mean ms"
    );
    for s in &report.stages {
        outln!(
            "{:<34} {:>8} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
            s.stage,
            s.samples,
            s.p50_ms,
            s.p95_ms,
            s.p99_ms,
            s.mean_ms
        );
    }
    for m in &report.match_memory {
        outln!(
            "1:N index, {} templates: {} bytes a template, {:.1} MB",
            m.templates,
            m.bytes_per_template,
            m.total_mb
        );
    }
    Ok(())
}

/// The pipeline's stages on the photos under `images` letterboxed into camera frames:
/// the stages' figures, the photo count and how many had a face.
fn pipeline_stages(
    images: &Path,
    args: &BenchArgs,
    vargs: &VisionArgs,
) -> anyhow::Result<(Vec<StageStats>, usize, usize)> {
    let mut files = Vec::new();
    collect_images(images, &mut files)?;
    if files.is_empty() {
        bail!("no JPEG or PNG files under {}", images.display());
    }
    let mut pipeline = vargs.pipeline()?;

    let mut decode = Vec::new();
    let mut frames = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f)?;
        let t = Instant::now();
        let frame = vision::decode_image(&bytes, &Default::default())
            .with_context(|| format!("decoding {}", f.display()))?;
        decode.push(ms(t));
        frames.push(frame.letterboxed(args.width, args.height)?);
    }

    // Warm-up: first runs allocate ORT's buffers.
    for frame in frames.iter().take(3) {
        let _ = pipeline.analyze(frame, MultiFace::Largest);
    }

    let (mut detect, mut align, mut quality, mut embed, mut live, mut total) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    // The chain without the quality checks: what the Python yardstick
    // (scripts/bench-vs-ort-python.sh) runs.
    let mut models_chain = vec![];
    let mut per_frame = vec![];
    let mut with_face = 0;
    for round in 0..args.rounds {
        for (i, frame) in frames.iter().enumerate() {
            let t0 = Instant::now();
            let t = Instant::now();
            let faces = pipeline.detect(frame)?;
            detect.push(ms(t));
            let Ok(face) =
                FacePipeline::choose(&faces, MultiFace::Largest, frame.width(), frame.height())
            else {
                continue;
            };
            if round == 0 {
                with_face += 1;
            }
            let t = Instant::now();
            let aligned = pipeline.align(frame, &face);
            align.push(ms(t));
            let t = Instant::now();
            let _report = pipeline.assess(frame, &face, &aligned, faces.len());
            let quality_ms = ms(t);
            quality.push(quality_ms);
            let t = Instant::now();
            pipeline.liveness(frame, &face)?;
            live.push(ms(t));
            // The per-frame work of a live camera ends here; the embedding is per decision.
            per_frame.push(ms(t0));
            let t = Instant::now();
            pipeline.embed(std::slice::from_ref(&aligned))?;
            embed.push(ms(t));
            total.push(ms(t0));
            models_chain.push(ms(t0) - quality_ms);
            if (i + 1).is_multiple_of(20) {
                let _ = write!(
                    std::io::stderr(),
                    "\rround {}/{}: {}/{}",
                    round + 1,
                    args.rounds,
                    i + 1,
                    frames.len()
                );
            }
        }
    }
    errln!();

    // A sign-in decision as the kiosk makes it: 3 frames analysed, the best one embedded,
    // matched against a 1k gallery.
    let (gallery, _) = synthetic_gallery(1_000, 0);
    let mut decision = Vec::new();
    let usable: Vec<_> = frames
        .iter()
        .filter(|f| pipeline.detect(f).is_ok_and(|faces| !faces.is_empty()))
        .collect();
    for burst in usable.chunks_exact(3) {
        let t = Instant::now();
        let mut best: Option<vision::FrameAnalysis> = None;
        for f in burst {
            let a = pipeline.analyze_frame(f, MultiFace::Largest)?;
            if best.as_ref().is_none_or(|b| a.face.score > b.face.score) {
                best = Some(a);
            }
        }
        if let Some(b) = best {
            let e = pipeline.embed_analysis(&b)?;
            std::hint::black_box(gallery.best_match(e.as_slice())?);
        }
        decision.push(ms(t));
    }

    let stages = vec![
        stats("decode (file)", &decode),
        stats("detect", &detect),
        stats("align", &align),
        stats("quality", &quality),
        stats("liveness (2 models)", &live),
        stats("per frame (detect..liveness)", &per_frame),
        stats("embed (1 face)", &embed),
        stats("full chain (per frame + embed)", &total),
        stats("chain without quality", &models_chain),
        stats("decision (3 frames, embed, 1:1k)", &decision),
    ];
    Ok((stages, files.len(), with_face))
}

/// `n` random unit templates and `q` queries (deterministic xorshift; no RNG dependency).
fn synthetic_gallery(n: usize, q: usize) -> (TemplateIndex, Vec<Vec<f32>>) {
    let dim = vision::EMBEDDING_DIM;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut unit = || {
        let v: Vec<f32> = (0..dim)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect();
        vision::Embedding::from_raw(v).into_vec()
    };
    let mut index = TemplateIndex::new(dim);
    for key in 0..n as u64 {
        index.insert(key, &unit()).expect("dimension matches");
    }
    let queries = (0..q).map(|_| unit()).collect();
    (index, queries)
}
