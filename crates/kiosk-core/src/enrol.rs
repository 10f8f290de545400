//! Enrolment at the kiosk by an administrator: samples checked (quality, liveness, one person,
//! nobody else), stored at once, registered with the API now or queued.

use base64::Engine as _;
use serde::Serialize;
use vision::{Frame, MultiFace};

use crate::error::{KioskError, Result};
use crate::outbox::{FaceUpload, Queued};
use crate::{AdminAuth, EnrolSource, Kiosk, Mode};
use kiosk_store::{AuditDecision, AuditMethod};

pub const MIN_ENROL_SAMPLES: usize = 3;
pub const MAX_ENROL_SAMPLES: usize = 5;

#[derive(Debug, Clone, Serialize)]
pub struct Enrolment {
    pub user_id: String,
    pub samples: usize,
    pub template_ids: Vec<i64>,
    pub state: EnrolmentState,
}

/// Where a new enrolment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum EnrolmentState {
    /// The API has it.
    Registered,
    /// Queued for the API: it waits for the network.
    Queued,
    /// No project is configured: this kiosk alone knows the person.
    Local,
}

/// Whether a frame would make a good enrolment sample.
#[derive(Debug, Clone, Serialize)]
pub struct SampleCheck {
    pub quality: f32,
    pub accepted: bool,
    pub guidance: Vec<String>,
}

impl Kiosk {
    // ---- enrolment ---------------------------------------------------------------------

    /// Enrols a person from 3 to 5 camera frames: each quality-gated and liveness-checked, all
    /// of one person, not anyone already enrolled. Stored here at once; registered with the API
    /// now when online, else queued.
    pub async fn enroll(
        &self,
        admin: AdminAuth<'_>,
        user_id: &str,
        name: Option<&str>,
        samples: Vec<Frame>,
    ) -> Result<Enrolment> {
        self.enroll_from(admin, user_id, name, samples, EnrolSource::Camera)
            .await
    }

    /// [`Kiosk::enroll`] from `source`. Trusted files (an operator's photos, `kiosk enroll
    /// --images`) are checked as camera frames are except for liveness (a good photo of a
    /// person is what a print attack looks like); the audit and the upload say the source.
    pub async fn enroll_from(
        &self,
        admin: AdminAuth<'_>,
        user_id: &str,
        name: Option<&str>,
        samples: Vec<Frame>,
        source: EnrolSource,
    ) -> Result<Enrolment> {
        self.check_admin(admin)?;
        // The server's rule (access_types::UserId), so an id one side takes the other takes.
        let user_id = access_types::UserId::parse(user_id)
            .map_err(|_| KioskError::InvalidUserId(user_id.into()))?;
        let user_id = user_id.as_str();
        // The server refuses a kiosk's file where the flow requires liveness: say so now,
        // not after the person was enrolled here and the upload refused.
        if source == EnrolSource::File
            && self
                .offline_policy()?
                .and_then(|p| p.flow)
                .is_some_and(|f| f.login.liveness_required)
        {
            return Err(KioskError::FileSourceNeedsAdmin);
        }
        if !(MIN_ENROL_SAMPLES..=MAX_ENROL_SAMPLES).contains(&samples.len()) {
            return Err(KioskError::EnrolSampleCount {
                min: MIN_ENROL_SAMPLES,
                max: MAX_ENROL_SAMPLES,
                got: samples.len(),
            });
        }
        let analysed = self
            .vision()?
            .run(move |p| {
                samples
                    .into_iter()
                    .map(|f| {
                        let a = p.analyze(&f, MultiFace::Refuse);
                        (f, a)
                    })
                    .collect::<Vec<_>>()
            })
            .await?;
        let mut good = Vec::new();
        for (i, (frame, a)) in analysed.into_iter().enumerate() {
            let sample = i + 1;
            let a = a.map_err(|source| KioskError::EnrolSample { sample, source })?;
            if !a.quality.passed {
                return Err(KioskError::EnrolQuality {
                    sample,
                    issues: a.quality.issues,
                });
            }
            if source == EnrolSource::File {
                good.push((frame, a));
                continue;
            }
            // Too small or cut off for a liveness score: ask for a nearer photo, not a spoof.
            if let Some(issue) = a.quality.liveness_issue {
                return Err(KioskError::EnrolQuality {
                    sample,
                    issues: vec![issue],
                });
            }
            if a.liveness < self.live().settings.liveness_threshold {
                return Err(KioskError::EnrolLiveness {
                    sample,
                    score: a.liveness,
                });
            }
            good.push((frame, a));
        }
        let embeddings: Vec<Vec<f32>> = good
            .iter()
            .map(|(_, a)| a.embedding.as_slice().to_vec())
            .collect();
        let mut min_score = f32::INFINITY;
        for i in 0..embeddings.len() {
            for j in i + 1..embeddings.len() {
                min_score = min_score.min(vision::cosine(&embeddings[i], &embeddings[j]));
            }
        }
        let thresholds = self.face_thresholds()?;
        if min_score < thresholds.verify {
            return Err(KioskError::EnrolInconsistent { min_score });
        }
        {
            let gallery = self.gallery.read().unwrap_or_else(|e| e.into_inner());
            for e in &embeddings {
                match gallery.admit(e, user_id, &thresholds)? {
                    vision::Admission::New | vision::Admission::SamePerson { .. } => {}
                    vision::Admission::Mismatch { score } => {
                        drop(gallery);
                        let mut a = self.entry(
                            AuditMethod::Enrolment,
                            AuditDecision::Refused,
                            Mode::Offline,
                        );
                        a.user_id = Some(user_id.into());
                        a.score = Some(score);
                        a.detail = Some("not the enrolled person's face".into());
                        self.audit(a);
                        return Err(KioskError::SampleMismatch { score });
                    }
                    vision::Admission::Duplicate(m) => {
                        drop(gallery);
                        let mut a = self.entry(
                            AuditMethod::Enrolment,
                            AuditDecision::RefusedDuplicate,
                            Mode::Offline,
                        );
                        a.user_id = Some(user_id.into());
                        a.score = Some(m.score);
                        a.detail = Some(format!("already enrolled as {}", m.person));
                        self.audit(a);
                        return Err(KioskError::AlreadyEnrolled {
                            other_user: m.person,
                            score: m.score,
                        });
                    }
                }
            }
        }

        // Store and queue in one go per sample: the outbox item carries the local template id
        // so the server's id can be linked to it when the upload succeeds.
        let ids = self
            .store()
            .enroll(user_id, name, self.model_id, &embeddings)?;
        let project_id = self.live().settings.project_id.clone();
        if let Some(project) = &project_id {
            let b64 = base64::engine::general_purpose::STANDARD;
            for ((frame, _), id) in good.iter().zip(&ids) {
                let jpeg = frame.to_jpeg(92)?;
                let item = Queued::RegisterFace(FaceUpload {
                    user_id: user_id.to_string(),
                    project_id: project.clone(),
                    face_image: b64.encode(jpeg),
                    local_template_id: Some(*id),
                    captured_at: Some(kiosk_store::now_rfc3339()),
                    source: Some(source),
                });
                self.enqueue(&item)?;
            }
        }
        self.refresh_gallery()?;
        let mut a = self.entry(
            AuditMethod::Enrolment,
            AuditDecision::Enrolled,
            Mode::Offline,
        );
        a.user_id = Some(user_id.into());
        a.detail = Some(format!("source: {}", source.as_str()));
        self.audit(a);

        // Try to deliver now; offline is fine, the sync loop will.
        let state = if project_id.is_none() {
            EnrolmentState::Local
        } else {
            match self.sync_once().await {
                Ok(r) if r.online && self.store().pending_count()? == 0 => {
                    EnrolmentState::Registered
                }
                _ => EnrolmentState::Queued,
            }
        };
        Ok(Enrolment {
            user_id: user_id.into(),
            samples: ids.len(),
            template_ids: ids,
            state,
        })
    }

    /// Checks a would-be enrolment sample as `enroll` will: exactly one face, quality,
    /// liveness. Returns the quality (0..1), hint codes, and whether it would be accepted.
    pub async fn assess_sample(&self, frame: Frame) -> Result<SampleCheck> {
        let qcfg = self.cfg.vision.quality;
        let a = self
            .vision()?
            .run(move |p| p.analyze_frame(&frame, MultiFace::Refuse))
            .await??;
        let live = a.liveness >= self.live().settings.liveness_threshold;
        let mut guidance: Vec<String> = a
            .quality
            .issues
            .iter()
            .map(|i| i.code().to_string())
            .collect();
        let live_ready = a.quality.liveness_ready();
        if let Some(issue) = a.quality.liveness_issue {
            guidance.push(issue.code().to_string());
        } else if !live {
            guidance.push("LIVENESS_FAILED".into());
        }
        Ok(SampleCheck {
            quality: a.quality.score(&qcfg),
            accepted: a.quality.passed && live_ready && live,
            guidance,
        })
    }
}
