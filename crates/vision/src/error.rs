use std::path::PathBuf;

/// Everything that can go wrong in the face pipeline. Each variant has a stable machine code
/// (`code()`) that callers forward to the UI or the API unchanged.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    #[error("the image is empty")]
    ImageEmpty,
    #[error("the image could not be decoded: {0}")]
    ImageCorrupt(String),
    #[error("unsupported image format (JPEG and PNG are accepted)")]
    ImageUnsupported,
    #[error(
        "the image is {width}x{height}: more than may be decoded ({max_pixels} pixels at 8 bits a channel, half that at 16)"
    )]
    ImageTooLarge {
        width: u32,
        height: u32,
        max_pixels: u64,
    },
    #[error("raw frame of {width}x{height} needs {expected} bytes, got {actual}")]
    FrameSize {
        width: u32,
        height: u32,
        expected: usize,
        actual: usize,
    },
    #[error("no face was found in the image")]
    NoFace,
    #[error("{count} faces were found; exactly one is required")]
    MultipleFaces { count: usize },
    #[error(
        "model file {path} is missing: run scripts/setup.sh (it copies the models from ../shared/models or $MODELS_DIR)"
    )]
    ModelMissing { path: PathBuf },
    #[error(
        "model file {path} has sha256 {actual}, expected {expected} (models/manifest.tsv): run scripts/setup.sh to replace it"
    )]
    ModelHashMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("could not read model file {path}: {source}")]
    ModelRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the ONNX Runtime library was not found (looked in: {searched}): run scripts/setup.sh or set ORT_DYLIB_PATH"
    )]
    RuntimeMissing { searched: String },
    #[error("the ONNX Runtime library at {path} could not be loaded: {reason}")]
    RuntimeLoad { path: PathBuf, reason: String },
    #[error("model {model} rejected its input or failed: {reason}")]
    Inference { model: &'static str, reason: String },
    #[error("embeddings have different lengths ({0} and {1})")]
    DimensionMismatch(usize, usize),
    #[error("{len} bytes are not a whole number of embedding values (4 bytes each)")]
    EmbeddingCorrupt { len: usize },
}

impl VisionError {
    /// Stable code for programs and UIs; never changes once published.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ImageEmpty => "IMAGE_EMPTY",
            Self::ImageCorrupt(_) => "IMAGE_CORRUPT",
            Self::ImageUnsupported => "IMAGE_UNSUPPORTED",
            Self::ImageTooLarge { .. } => "IMAGE_TOO_LARGE",
            Self::FrameSize { .. } => "FRAME_SIZE",
            Self::NoFace => "NO_FACE",
            Self::MultipleFaces { .. } => "MULTIPLE_FACES",
            Self::ModelMissing { .. } => "MODEL_MISSING",
            Self::ModelHashMismatch { .. } => "MODEL_HASH_MISMATCH",
            Self::ModelRead { .. } => "MODEL_READ",
            Self::RuntimeMissing { .. } => "RUNTIME_MISSING",
            Self::RuntimeLoad { .. } => "RUNTIME_LOAD",
            Self::Inference { .. } => "INFERENCE_FAILED",
            Self::DimensionMismatch(..) => "DIMENSION_MISMATCH",
            Self::EmbeddingCorrupt { .. } => "EMBEDDING_CORRUPT",
        }
    }

    /// True when the problem is the input (the caller's to fix), false when it is the installation.
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            Self::ImageEmpty
                | Self::ImageCorrupt(_)
                | Self::ImageUnsupported
                | Self::ImageTooLarge { .. }
                | Self::FrameSize { .. }
                | Self::NoFace
                | Self::MultipleFaces { .. }
        )
    }
}

pub type Result<T, E = VisionError> = std::result::Result<T, E>;
