//! Finding and loading ONNX Runtime and the model files: the only IO this crate does.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use sha2::{Digest, Sha256};

use crate::error::{Result, VisionError};

/// The models this crate knows, from `models/manifest.tsv` (embedded, so a binary checks the
/// exact files it was built for).
const MANIFEST: &str = include_str!("../../../models/manifest.tsv");

/// The workspace root at build time: the fallback home of `models/` and `.local/onnxruntime`.
const BUILD_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

const ORT_LIB_NAMES: [&str; 3] = [
    "libonnxruntime.so.1.32.0",
    "libonnxruntime.so.1",
    "libonnxruntime.so",
];

/// One row of the manifest.
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    pub role: &'static str,
    pub file: &'static str,
    pub sha256: &'static str,
    pub licence: &'static str,
}

/// All rows of the embedded manifest.
pub fn manifest() -> Vec<ModelSpec> {
    MANIFEST
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let cols: Vec<&'static str> = l.split('\t').collect();
            (cols.len() >= 5).then(|| ModelSpec {
                role: cols[0],
                file: cols[1],
                sha256: cols[3],
                licence: cols[4],
            })
        })
        .collect()
}

pub(crate) fn spec(role: &str) -> ModelSpec {
    manifest()
        .into_iter()
        .find(|m| m.role == role)
        .unwrap_or_else(|| panic!("models/manifest.tsv has no row for role {role}"))
}

/// How sessions are built: threads per session and whether idle threads spin.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where the model files are; default `$MODELS_DIR`, then `models/` of the workspace.
    pub models_dir: Option<PathBuf>,
    /// The ONNX Runtime shared library; default `$ORT_DYLIB_PATH`, then `.local/onnxruntime/`.
    pub ort_library: Option<PathBuf>,
    /// Intra-op threads per session. 1 keeps the kiosk UI responsive (MODELS.md: 2 threads with
    /// spinning were slower than 1 while the other core was busy).
    pub intra_threads: usize,
    pub spinning: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            models_dir: None,
            ort_library: None,
            intra_threads: 1,
            spinning: false,
        }
    }
}

impl RuntimeConfig {
    pub fn resolved_models_dir(&self) -> PathBuf {
        self.models_dir
            .clone()
            .or_else(|| std::env::var_os("MODELS_DIR").map(PathBuf::from))
            .unwrap_or_else(|| Path::new(BUILD_ROOT).join("models"))
    }

    fn ort_candidates(&self) -> Vec<PathBuf> {
        if let Some(p) = &self.ort_library {
            return vec![p.clone()];
        }
        if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
            return vec![PathBuf::from(p)];
        }
        let mut dirs = Vec::new();
        if let Some(exe_dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf))
        {
            dirs.push(exe_dir.clone());
            dirs.push(exe_dir.join("lib"));
        }
        dirs.push(Path::new(BUILD_ROOT).join(".local/onnxruntime"));
        dirs.iter()
            .flat_map(|d| ORT_LIB_NAMES.iter().map(move |n| d.join(n)))
            .collect()
    }
}

/// The runtime loaded in this process (a library can be loaded once), and the file it came from.
static ENVIRONMENT: OnceLock<(PathBuf, std::result::Result<Environment, String>)> = OnceLock::new();

/// The ONNX Runtime library `cfg` resolves to: `ort_library`, else `$ORT_DYLIB_PATH`, else
/// the first of the usual names beside the executable, in its `lib/`, or in the workspace's
/// `.local/onnxruntime/`. `RUNTIME_MISSING` (naming every place looked at) when none exists.
pub fn resolved_ort_library(cfg: &RuntimeConfig) -> Result<PathBuf> {
    let candidates = cfg.ort_candidates();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| VisionError::RuntimeMissing {
            searched: candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Loads the runtime library once per process. The path is resolved and the file checked
/// here so that a missing or damaged library is a clear error rather than a crash inside ort.
fn environment(cfg: &RuntimeConfig) -> Result<&'static Environment> {
    let path = resolved_ort_library(cfg)?;
    // Checked unless it is the very file already loaded (the check reads it whole).
    if ENVIRONMENT.get().is_none_or(|(loaded, _)| *loaded != path) {
        check_library_file(&path)?;
    }
    let (_, env) = ENVIRONMENT.get_or_init(|| {
        // ort's `tracing` feature sends the runtime's own log lines through `tracing` (the
        // binaries' log format, no colour codes in a journal) instead of ORT's stderr logger;
        // warnings and errors only, as ORT's default.
        let env = ort::init_from(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| {
                b.with_name("access-kiosk")
                    .build()
                    .map_err(|e| e.to_string())
            })
            .inspect(|env| env.set_log_level(ort::logging::LogLevel::Warning));
        (path.clone(), env)
    });
    env.as_ref().map_err(|reason| VisionError::RuntimeLoad {
        path,
        reason: reason.clone(),
    })
}

/// Refuses a library file that the dynamic loader would map past its end. `dlopen` maps each
/// loadable segment of an ELF file by its header's offsets; in a file cut short (an interrupted
/// copy, a full disk) those pages do not exist, and the first touch of one kills the process
/// with SIGBUS, which no error handling can catch. Checking that every segment and the
/// section table lie inside the file turns that into `RUNTIME_LOAD`.
fn check_library_file(path: &Path) -> Result<()> {
    use object::read::elf::{ElfFile64, FileHeader, ProgramHeader};
    let fail = |reason: String| VisionError::RuntimeLoad {
        path: path.to_path_buf(),
        reason,
    };
    let data = std::fs::read(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    let elf = ElfFile64::<object::Endianness>::parse(&*data)
        .map_err(|e| fail(format!("not a complete shared library ({e}); reinstall it")))?;
    let endian = elf.endian();
    let header = elf.elf_header();
    let segments = header
        .program_headers(endian, &*data)
        .map_err(|e| fail(format!("damaged program headers ({e}); reinstall it")))?;
    if segments.is_empty() {
        return Err(fail("no loadable segments; reinstall it".into()));
    }
    for segment in segments {
        let end = segment
            .p_offset(endian)
            .checked_add(segment.p_filesz(endian));
        if end.is_none_or(|end| end > data.len() as u64) {
            return Err(fail(format!(
                "the file is cut short ({} bytes; a segment needs {}); reinstall it",
                data.len(),
                end.map_or("more".to_string(), |e| e.to_string()),
            )));
        }
    }
    header
        .sections(endian, &*data)
        .map_err(|e| fail(format!("damaged section table ({e}); reinstall it")))?;
    Ok(())
}

/// Reads a model named by its manifest role, checks its hash, and builds a session on it.
pub(crate) fn load_session(cfg: &RuntimeConfig, role: &str) -> Result<Session> {
    let spec = spec(role);
    let path = cfg.resolved_models_dir().join(spec.file);
    let bytes = std::fs::read(&path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            VisionError::ModelMissing { path: path.clone() }
        } else {
            VisionError::ModelRead {
                path: path.clone(),
                source,
            }
        }
    })?;
    let actual = hex::encode(Sha256::digest(&bytes));
    if actual != spec.sha256 {
        return Err(VisionError::ModelHashMismatch {
            path,
            expected: spec.sha256.to_string(),
            actual,
        });
    }
    let env = environment(cfg)?;
    // The same values from operators ORT runs faster (see onnx_rewrite); else the file as is.
    let model = crate::onnx_rewrite::rewrite_prelus(&bytes);
    session_from(cfg, env, &path, model.as_deref().unwrap_or(&bytes))
}

/// A session on `model` (the bytes of the file at `path`, or a rewrite of them) with the
/// options `cfg` sets.
fn session_from(
    cfg: &RuntimeConfig,
    env: &Environment,
    path: &Path,
    model: &[u8],
) -> Result<Session> {
    let fail = |reason: String| VisionError::RuntimeLoad {
        path: path.to_path_buf(),
        reason,
    };
    Session::builder(env)
        .map_err(|e| fail(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| fail(e.to_string()))?
        .with_intra_threads(cfg.intra_threads.max(1))
        .map_err(|e| fail(e.to_string()))?
        .with_inter_threads(1)
        .map_err(|e| fail(e.to_string()))?
        .with_intra_op_spinning(cfg.spinning)
        .map_err(|e| fail(e.to_string()))?
        .commit_from_memory(model)
        .map_err(|e| fail(e.to_string()))
}

/// Maps an ort failure during inference to the crate's error.
pub(crate) fn inference(model: &'static str) -> impl Fn(ort::Error) -> VisionError {
    move |e| VisionError::Inference {
        model,
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ort::value::TensorRef;

    fn model_bytes(cfg: &RuntimeConfig, role: &str) -> (PathBuf, Vec<u8>) {
        let path = cfg.resolved_models_dir().join(spec(role).file);
        let bytes = std::fs::read(&path).expect("the model files (scripts/setup.sh)");
        (path, bytes)
    }

    /// The model of `role` as the file is and as rewritten, run on the same deterministic
    /// input over the whole 0..255 range: the outputs must agree to float noise.
    fn rewritten_answers_as_the_file_does(role: &str, side: usize) {
        let cfg = RuntimeConfig::default();
        let env = environment(&cfg).unwrap();
        let (path, bytes) = model_bytes(&cfg, role);
        let rewritten = crate::onnx_rewrite::rewrite_prelus(&bytes).expect("PRelu nodes");
        let mut original = session_from(&cfg, env, &path, &bytes).unwrap();
        let mut fused = session_from(&cfg, env, &path, &rewritten).unwrap();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let input: Vec<f32> = (0..3 * side * side)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 56) as f32
            })
            .collect();
        let run = |s: &mut Session| -> Vec<f32> {
            let t = TensorRef::from_array_view(([1usize, 3, side, side], &input[..])).unwrap();
            let out = s.run(ort::inputs![t]).unwrap();
            out[0].try_extract_tensor::<f32>().unwrap().1.to_vec()
        };
        let (a, b) = (run(&mut original), run(&mut fused));
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = a
            .iter()
            .zip(&b)
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(diff <= 1e-5 * scale, "{role}: max diff {diff} of {scale}");
    }

    #[test]
    fn the_rewritten_models_answer_as_the_files_do() {
        rewritten_answers_as_the_file_does("embedder", 128);
        rewritten_answers_as_the_file_does("liveness_v2", 80);
        rewritten_answers_as_the_file_does("liveness_v1se", 80);
    }

    #[test]
    fn the_detector_has_nothing_to_rewrite() {
        let (_, bytes) = model_bytes(&RuntimeConfig::default(), "detector");
        assert!(crate::onnx_rewrite::rewrite_prelus(&bytes).is_none());
    }
}
