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

    /// The storage layout of an embedding, the one owner of it (the kiosk's sealed templates
    /// and the server's `templates.embedding` column both hold these bytes):
    ///
    /// each value as an IEEE-754 binary32, little-endian, 4 bytes, in order; no header, no
    /// length prefix, no padding. An embedding of `EMBEDDING_DIM` values is 1024 bytes.
    /// Bit-exact: decoding gives back exactly the values encoded (no re-normalising).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        Self::values_to_le_bytes(&self.0)
    }

    /// [`Embedding::to_le_bytes`] for values held as a plain slice (stored templates).
    pub fn values_to_le_bytes(values: &[f32]) -> Vec<u8> {
        let mut out = Vec::with_capacity(values.len() * 4);
        for x in values {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out
    }

    /// Reads the layout of [`Embedding::to_le_bytes`], of any dimension; a length that is not
    /// a whole number of values is `EMBEDDING_CORRUPT`. The values are taken as they are
    /// (stored embeddings were normalised when they were made).
    pub fn from_le_bytes(bytes: &[u8]) -> Result<Self> {
        if !bytes.len().is_multiple_of(4) {
            return Err(VisionError::EmbeddingCorrupt { len: bytes.len() });
        }
        Ok(Self(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ))
    }

    /// [`Embedding::from_le_bytes`], refusing any dimension but `dim` (`DIMENSION_MISMATCH`).
    pub fn from_le_bytes_dim(bytes: &[u8], dim: usize) -> Result<Self> {
        let e = Self::from_le_bytes(bytes)?;
        if e.0.len() != dim {
            return Err(VisionError::DimensionMismatch(e.0.len(), dim));
        }
        Ok(e)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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
        // One face (every sign-in) is its own tensor already: no copy into the batch buffer.
        let input: &[f32] = if let [one] = faces {
            &one.bgr
        } else {
            self.batch.clear();
            for f in faces {
                self.batch.extend_from_slice(&f.bgr);
            }
            &self.batch
        };
        let tensor = TensorRef::from_array_view(([n, 3, ALIGNED_SIZE, ALIGNED_SIZE], input))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_bit_exactly() {
        let e = Embedding::from_raw((0..EMBEDDING_DIM).map(|i| i as f32 - 100.5).collect());
        let bytes = e.to_le_bytes();
        assert_eq!(bytes.len(), EMBEDDING_DIM * 4);
        assert_eq!(Embedding::from_le_bytes(&bytes).unwrap(), e);
        assert_eq!(
            Embedding::from_le_bytes_dim(&bytes, EMBEDDING_DIM).unwrap(),
            e
        );
        assert_eq!(Embedding::values_to_le_bytes(e.as_slice()), bytes);
        // Stored values are not normalised again.
        let raw = Embedding::from_le_bytes(&Embedding::values_to_le_bytes(&[1.0, 1.0])).unwrap();
        assert_eq!(raw.as_slice(), &[1.0, 1.0]);
    }

    #[test]
    fn the_layout_is_little_endian_f32_without_a_header() {
        let bytes = Embedding::values_to_le_bytes(&[1.0, -2.0]);
        assert_eq!(bytes, [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]);
    }

    #[test]
    fn a_wrong_length_is_refused() {
        let bytes = Embedding::from_raw(vec![0.5; EMBEDDING_DIM]).to_le_bytes();
        let cut = Embedding::from_le_bytes(&bytes[..bytes.len() - 1]).unwrap_err();
        assert_eq!(cut.code(), "EMBEDDING_CORRUPT");
        let short = Embedding::from_le_bytes_dim(&bytes[..bytes.len() - 4], EMBEDDING_DIM);
        assert_eq!(short.unwrap_err().code(), "DIMENSION_MISMATCH");
        let long = [bytes.as_slice(), &[0; 4]].concat();
        assert_eq!(
            Embedding::from_le_bytes_dim(&long, EMBEDDING_DIM)
                .unwrap_err()
                .code(),
            "DIMENSION_MISMATCH"
        );
    }
}
