//! The enrolment draft: the samples an administrator has captured for the person being
//! enrolled, each checked as it is taken (`Kiosk::assess_sample`), at most
//! [`MAX_ENROL_SAMPLES`]. It belongs to the administrator's session (`session::Admin::draft`).

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use serde::Serialize;
use vision::Frame;

use crate::error::{KioskError, Result};
use crate::live::LiveCamera;
use crate::{AdminAuth, Enrolment, Kiosk, MAX_ENROL_SAMPLES, MIN_ENROL_SAMPLES};

/// A sample taken into the draft, as the administrator sees it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CapturedSample {
    /// Its place in the draft, from 0.
    pub index: usize,
    /// A small JPEG (at most 160 x 120) for the thumbnail row.
    pub thumbnail_jpeg_b64: String,
    /// 0..1.
    pub quality: f32,
    pub guidance: Vec<String>,
}

/// How long a capture waits for the camera's next frame.
const FRAME_WAIT: Duration = Duration::from_secs(3);

#[derive(Default)]
pub struct EnrolmentDraft {
    samples: Mutex<Vec<Frame>>,
}

impl EnrolmentDraft {
    pub fn new() -> Self {
        Self::default()
    }

    fn samples_mut(&self) -> MutexGuard<'_, Vec<Frame>> {
        self.samples.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn len(&self) -> usize {
        self.samples_mut().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&self) {
        self.samples_mut().clear();
    }

    fn full(got: usize) -> KioskError {
        KioskError::EnrolSampleCount {
            min: MIN_ENROL_SAMPLES,
            max: MAX_ENROL_SAMPLES,
            got,
        }
    }

    /// Adds a sample and returns its index; `ENROL_SAMPLE_COUNT` when the draft is full.
    pub fn push(&self, frame: Frame) -> Result<usize> {
        let mut samples = self.samples_mut();
        if samples.len() >= MAX_ENROL_SAMPLES {
            return Err(Self::full(samples.len() + 1));
        }
        samples.push(frame);
        Ok(samples.len() - 1)
    }

    /// The samples so far.
    pub fn samples(&self) -> Vec<Frame> {
        self.samples_mut().clone()
    }

    /// Takes the camera's next frame into the draft if it would make a good enrolment sample:
    /// `FACE_QUALITY` (with the quality and guidance as details) when not, `NO_FRAMES` when
    /// the camera gives none, `ENROL_SAMPLE_COUNT` when the draft is full.
    pub async fn capture(&self, kiosk: &Kiosk, camera: &LiveCamera) -> Result<CapturedSample> {
        if self.len() >= MAX_ENROL_SAMPLES {
            return Err(Self::full(self.len() + 1));
        }
        let frame = camera
            .wait_for_frames(1, FRAME_WAIT)
            .await
            .pop()
            .ok_or(KioskError::NoFrames)?;
        let check = kiosk.assess_sample(frame.clone()).await?;
        if !check.accepted {
            return Err(KioskError::SampleRefused {
                quality: check.quality,
                guidance: check.guidance,
            });
        }
        let thumb = frame.fitted(160, 120).and_then(|t| t.to_jpeg(75))?;
        let index = self.push(frame)?;
        Ok(CapturedSample {
            index,
            thumbnail_jpeg_b64: base64::engine::general_purpose::STANDARD.encode(thumb),
            quality: check.quality,
            guidance: check.guidance,
        })
    }

    /// Enrols the person from the draft (`Kiosk::enroll`), then empties it. A refusal keeps
    /// the samples, so the administrator can correct the id and save again. A blank name is
    /// no name.
    pub async fn save(
        &self,
        kiosk: &Kiosk,
        admin: AdminAuth<'_>,
        user_id: &str,
        name: Option<&str>,
    ) -> Result<Enrolment> {
        let name = name.map(str::trim).filter(|n| !n.is_empty());
        let enrolment = kiosk.enroll(admin, user_id, name, self.samples()).await?;
        self.clear();
        Ok(enrolment)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn frame() -> Frame {
        Frame::from_raw(2, 2, vision::PixelFormat::Gray8, &[0, 64, 128, 255]).unwrap()
    }

    #[test]
    fn holds_at_most_five_samples_in_order() {
        let d = EnrolmentDraft::new();
        assert!(d.is_empty());
        for i in 0..MAX_ENROL_SAMPLES {
            assert_eq!(d.push(frame()).unwrap(), i);
        }
        let e = d.push(frame()).unwrap_err();
        assert_eq!(e.code(), "ENROL_SAMPLE_COUNT");
        assert!(e.to_string().contains("3 to 5 samples, got 6"), "{e}");
        assert_eq!(d.len(), MAX_ENROL_SAMPLES);
        assert_eq!(d.samples().len(), MAX_ENROL_SAMPLES);
    }

    #[test]
    fn clear_starts_again_from_index_zero() {
        let d = EnrolmentDraft::new();
        d.push(frame()).unwrap();
        d.push(frame()).unwrap();
        d.clear();
        assert!(d.is_empty());
        assert_eq!(d.push(frame()).unwrap(), 0);
    }
}
