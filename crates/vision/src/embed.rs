//! Face embedding: the `FaceEmbedder` trait and face-reidentification-retail-0095 (MODELS.md §2).

use ort::session::Session;
use ort::value::TensorRef;

use crate::align::{ALIGNED_SIZE, AlignedFace};
use crate::error::{Result, VisionError};
use crate::runtime::{RuntimeConfig, inference, load_session};

/// Identifies the embedding space; templates made by another model are not comparable.
pub const EMBEDDER_MODEL_ID: &str = "face-reidentification-retail-0095/onnx-fp32";
pub const EMBEDDING_DIM: usize = 256;

/// An L2-normalised face embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding(Vec<f32>);

impl Embedding {
    /// Normalises `v` to unit length (a zero vector stays zero).
    pub fn from_raw(mut v: Vec<f32>) -> Self {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        }
        Self(v)
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<f32> {
        self.0
    }

    /// Little-endian f32 bytes (for storage and the wire).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    pub fn from_le_bytes(bytes: &[u8]) -> Result<Self> {
        if !bytes.len().is_multiple_of(4) {
            return Err(VisionError::DimensionMismatch(
                bytes.len() / 4,
                EMBEDDING_DIM,
            ));
        }
        Ok(Self(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ))
    }
}

/// The embedder engine boundary.
pub trait FaceEmbedder: Send {
    /// One embedding per aligned face, in order; batched in one model run.
    fn embed(&mut self, faces: &[AlignedFace]) -> Result<Vec<Embedding>>;
    fn model_id(&self) -> &'static str;
}

pub struct ReidEmbedder {
    session: Session,
    batch: Vec<f32>,
}

impl ReidEmbedder {
    pub fn load(runtime: &RuntimeConfig) -> Result<Self> {
        Ok(Self {
            session: load_session(runtime, "embedder")?,
            batch: Vec::new(),
        })
    }
}

impl FaceEmbedder for ReidEmbedder {
    fn embed(&mut self, faces: &[AlignedFace]) -> Result<Vec<Embedding>> {
        if faces.is_empty() {
            return Ok(Vec::new());
        }
        let n = faces.len();
        self.batch.clear();
        for f in faces {
            self.batch.extend_from_slice(&f.bgr);
        }
        let tensor =
            TensorRef::from_array_view(([n, 3, ALIGNED_SIZE, ALIGNED_SIZE], &self.batch[..]))
                .map_err(inference("reid"))?;
        let outputs = self
            .session
            .run(ort::inputs![tensor])
            .map_err(inference("reid"))?;
        let (_, data) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(inference("reid"))?;
        if data.len() != n * EMBEDDING_DIM {
            return Err(VisionError::Inference {
                model: "reid",
                reason: format!("expected {} values, got {}", n * EMBEDDING_DIM, data.len()),
            });
        }
        Ok(data
            .chunks_exact(EMBEDDING_DIM)
            .map(|c| Embedding::from_raw(c.to_vec()))
            .collect())
    }

    fn model_id(&self) -> &'static str {
        EMBEDDER_MODEL_ID
    }
}
