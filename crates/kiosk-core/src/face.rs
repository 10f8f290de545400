//! Face sign-in: the live camera's analysed frames (or still photos) to a decision. Online,
//! the API decides and issues the token; unreachable, the local cache decides and a signed
//! event is queued. The decision itself is [`decide`], a pure function of the frames' analyses,
//! the cache's answer and the server's, so it is unit-tested without models or a network.

use std::time::Duration;

use access_client::{AccessClient, ClientError};
use access_types::{ErrorCode, KioskPolicy, LivenessCheckRequest, VerifyFaceRequest};
use base64::Engine as _;
use serde::Serialize;
use vision::{Frame, MultiFace, QualityIssue};

use crate::error::{KioskError, Result};
use crate::outbox::{Queued, SignedEvent};
use crate::{Kiosk, live, now_unix};
use kiosk_store::{AuditDecision, AuditMethod};

/// The lockout's subject in the store.
pub(crate) const FACE_LOCK_SUBJECT: &str = "face";
/// A person's own failed face attempts in the store: this prefix and their user id.
const FACE_PERSON_LOCK_PREFIX: &str = "face-person:";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Online,
    Offline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Accepted,
    Rejected,
    /// The frames were not good enough to decide; show the guidance and try again.
    Retry,
}

/// The answer to a face sign-in.
#[derive(Debug, Clone, Serialize)]
pub struct FaceSignIn {
    pub decision: Decision,
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub score: Option<f32>,
    pub liveness: Option<f32>,
    pub mode: Mode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// Why it was rejected or must be retried: a quality hint code, `NO_MATCH`,
    /// `LIVENESS_FAILED`, `NOT_ENROLLED`...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub guidance: Vec<QualityIssue>,
    pub frames: usize,
    /// Failed attempts so far, and whether the next failure locks.
    pub failures: u32,
}

impl Kiosk {
    // ---- face sign-in ------------------------------------------------------------------

    /// Decides on a burst of frames (a camera's, or still photos): best frame by quality,
    /// liveness averaged over the frames, match against the API when online, else against the
    /// local cache with a signed event queued for later.
    pub async fn sign_in_face(
        &self,
        frames: Vec<Frame>,
        user_id: Option<&str>,
    ) -> Result<FaceSignIn> {
        if frames.is_empty() {
            return Err(KioskError::NoFrames);
        }
        self.refuse_if_revoked(AuditMethod::Face)?;
        let failures = self.check_face_lock(user_id)?;
        let analysed = self
            .vision()?
            .run(move |p| {
                frames
                    .into_iter()
                    .map(|f| {
                        let a = p.analyze_frame(&f, MultiFace::Largest);
                        (f, a)
                    })
                    .collect::<Vec<_>>()
            })
            .await?;
        let mut frames = Vec::with_capacity(analysed.len());
        for (f, a) in analysed {
            match a {
                Ok(a) => frames.push((f, Some(a))),
                Err(vision::VisionError::NoFace) => frames.push((f, None)),
                Err(e) => return Err(e.into()),
            }
        }
        self.decide_face(frames, failures, user_id).await
    }

    /// Decides on the live camera's latest frames, which its vision thread has already
    /// analysed: only the best one is embedded here.
    pub async fn sign_in_live(
        &self,
        camera: &live::LiveCamera,
        user_id: Option<&str>,
    ) -> Result<FaceSignIn> {
        self.refuse_if_revoked(AuditMethod::Face)?;
        let failures = self.check_face_lock(user_id)?;
        let frames = camera
            .wait_for_analysed(self.cfg.min_liveness_frames.max(1), Duration::from_secs(3))
            .await;
        if frames.is_empty() {
            return Err(KioskError::NoFrames);
        }
        self.decide_face(frames, failures, user_id).await
    }

    /// Refuses while face sign-in is locked out; else the failures counted so far.
    fn check_face_lock(&self, user_id: Option<&str>) -> Result<u32> {
        let lock = self.store().lockout(FACE_LOCK_SUBJECT)?;
        let now = now_unix();
        if lock.locked_until > now {
            let mut e = self.entry(AuditMethod::Face, AuditDecision::LockedOut, Mode::Offline);
            e.user_id = user_id.map(str::to_string);
            self.audit(e);
            return Err(KioskError::LockedOut {
                retry_after_s: (lock.locked_until - now) as u64,
            });
        }
        Ok(lock.failures)
    }

    async fn decide_face(
        &self,
        analysed: Vec<live::AnalysedFrame>,
        failures: u32,
        user_id: Option<&str>,
    ) -> Result<FaceSignIn> {
        let n = analysed.len();
        let qcfg = self.cfg.vision.quality;
        let views: Vec<Option<FrameView<'_>>> = analysed
            .iter()
            .map(|(_, a)| a.as_ref().map(|a| FrameView::of(a, &qcfg)))
            .collect();
        let (best, good, liveness) = match assess_burst(&views, self.cfg.min_liveness_frames) {
            Burst::Ready {
                best,
                good,
                liveness,
            } => (best, good, liveness),
            Burst::Retry { reason, guidance } => {
                return Ok(FaceSignIn::retry(reason, guidance, n, failures));
            }
        };
        // The burst's good frames are embedded and fused into one probe (their noise
        // averages out); the best one alone goes to the server.
        let to_embed: Vec<vision::FrameAnalysis> = good
            .iter()
            .filter_map(|&i| analysed.get(i).and_then(|(_, a)| a.clone()))
            .collect();
        let Some((best_frame, Some(best_analysis))) = analysed.into_iter().nth(best) else {
            return Err(KioskError::NoFrames);
        };
        let best_face = best_analysis.face;
        let embeddings = self
            .vision()?
            .run(move |p| {
                to_embed
                    .iter()
                    .map(|a| p.embed_analysis(a))
                    .collect::<vision::Result<Vec<_>>>()
            })
            .await??;
        let probe = vision::decision::fuse(embeddings.iter().map(|e| e.as_slice()))
            .ok_or(KioskError::NoFrames)?;
        let thresholds = self.face_thresholds()?;
        let local = self
            .gallery
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .decide(&probe, user_id, &thresholds)?;

        let server = match self.api().await {
            None => ServerAnswer::NotAsked,
            Some((client, project)) => match self
                .verify_online(&client, &project, &best_frame, &best_face, user_id)
                .await
                .inspect(|_| self.publish_reachability(Ok(())))
                .inspect_err(|e| {
                    if e.is_unreachable() {
                        self.publish_reachability(Err(e.to_string()))
                    }
                    self.note_api_error(e);
                }) {
                Ok(o) => ServerAnswer::Decided(o),
                // No answer of the API (network, or a gateway without its envelope): the
                // kiosk keeps working from its cache.
                Err(e) if e.is_unreachable() => ServerAnswer::Unreachable,
                // The server saw the face too small or cut off for a liveness verdict (its
                // detector's box a little smaller than ours): come closer, no failure counted.
                Err(ClientError::Api {
                    code: ErrorCode::FaceQuality,
                    details,
                    ..
                }) => {
                    let guidance: Vec<QualityIssue> = details["issues"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c.as_str().and_then(QualityIssue::from_code))
                        .collect();
                    let reason = guidance.first().map_or("FACE_QUALITY", |i| i.code());
                    return Ok(FaceSignIn::retry(reason.into(), guidance, n, failures));
                }
                // The API answered, and said no: a person deleted there, a flow paused, a
                // blacklist, the customer's security check down... Its refusal stands, whatever
                // the cache would say.
                Err(ClientError::Api { code, .. }) => ServerAnswer::Refused(code),
                // Anything else (an answer that is not the API's) decides nothing either way.
                Err(e) => return Err(e.into()),
            },
        };
        let liveness_threshold = self.live().settings.liveness_threshold;
        // From the cache alone: only within the offline window, and by the flow's state,
        // methods and lists as the last sync knew them.
        let policy = if matches!(server, ServerAnswer::Unreachable) {
            if let Err(e) = self.check_offline_window(now_unix()) {
                let mut a = self.entry(AuditMethod::Face, AuditDecision::Rejected, Mode::Offline);
                a.user_id = user_id.map(str::to_string);
                a.liveness = Some(liveness);
                a.detail = Some(e.code().to_string());
                self.audit(a);
                return Err(e);
            }
            // A saved policy that cannot be read refuses (its refusals must not vanish).
            match self.offline_policy() {
                Ok(p) => p,
                Err(e) => {
                    let mut a =
                        self.entry(AuditMethod::Face, AuditDecision::Rejected, Mode::Offline);
                    a.user_id = user_id.map(str::to_string);
                    a.liveness = Some(liveness);
                    a.detail = Some(e.code().to_string());
                    self.audit(a);
                    return Err(e);
                }
            }
        } else {
            None
        };
        // Whom an offline decision is about: the person claimed, else whom the cache named.
        let named = match &local {
            vision::decision::FaceDecision::Match { person, .. } => Some(person.clone()),
            _ => None,
        };
        let liveness_required = policy
            .as_ref()
            .and_then(|p| p.flow.as_ref())
            .is_none_or(|f| f.login.liveness_required);
        let mut out = decide(
            server,
            local,
            liveness,
            liveness_threshold,
            n,
            policy.as_ref(),
        );
        if out.mode == Mode::Offline
            && let Some(person) = user_id.map(str::to_string).or(named)
        {
            self.count_person_attempt(&mut out, &person, liveness_required)?;
        }
        if out.mode == Mode::Offline {
            self.queue_signed_event(&out, user_id)?;
        }
        if let Some(u) = &out.user_id {
            out.name = self.store().user_name(u)?;
        }
        // "Ask who you are" is no failed attempt: nobody's face was refused.
        let no_attempt = matches!(
            out.reason.as_deref(),
            Some("IDENTIFICATION_UNAVAILABLE" | "AMBIGUOUS_MATCH")
        );
        out.failures = match out.decision {
            _ if no_attempt => failures,
            Decision::Accepted => {
                self.store().clear_failures(FACE_LOCK_SUBJECT)?;
                0
            }
            _ => {
                self.store()
                    .record_failure(FACE_LOCK_SUBJECT, now_unix(), |f| self.cfg.lock_for(f))?
                    .failures
            }
        };
        let mut e = self.entry(
            AuditMethod::Face,
            if out.decision == Decision::Accepted {
                AuditDecision::Accepted
            } else {
                AuditDecision::Rejected
            },
            out.mode,
        );
        e.user_id = out.user_id.clone().or(user_id.map(str::to_string));
        e.score = out.score;
        e.liveness = out.liveness;
        e.detail = out.reason.clone();
        self.audit(e);
        Ok(out)
    }

    /// Offline, this kiosk counts each person's failed face attempts as the server does
    /// (`access_types::face_attempts`, NIST SP 800-63B-4: delayed after 5 or 10 in a row,
    /// disabled at 50 or 100): a person held back is refused here too (`FACE_ATTEMPTS_LOCKED`),
    /// a failure adds one, a success clears this kiosk's count. The server counts the same
    /// failures from the events at sync.
    fn count_person_attempt(
        &self,
        out: &mut FaceSignIn,
        person: &str,
        liveness_required: bool,
    ) -> Result<()> {
        let subject = format!("{FACE_PERSON_LOCK_PREFIX}{person}");
        let now = now_unix();
        let lock = self.store().lockout(&subject)?;
        if lock.locked_until > now {
            *out = FaceSignIn {
                decision: Decision::Rejected,
                user_id: None,
                name: None,
                score: None,
                liveness: out.liveness,
                mode: Mode::Offline,
                access_token: None,
                reason: Some(ErrorCode::FaceAttemptsLocked.as_str().into()),
                guidance: Vec::new(),
                frames: out.frames,
                failures: out.failures,
            };
            return Ok(());
        }
        match (out.decision, out.reason.as_deref()) {
            (Decision::Accepted, _) => self.store().clear_failures(&subject)?,
            (Decision::Rejected, Some("NO_MATCH" | "LIVENESS_FAILED")) => {
                self.store().record_failure(&subject, now, |f| {
                    access_types::face_attempts::delay_ms(f, liveness_required)
                        // Disabled: until staff or the server's reset reach this kiosk.
                        .map_or(i64::MAX / 4, |ms| (ms as u64).div_ceil(1000) as i64)
                })?;
            }
            _ => {}
        }
        Ok(())
    }

    async fn verify_online(
        &self,
        client: &AccessClient,
        project: &str,
        frame: &Frame,
        face: &vision::Face,
        user_id: Option<&str>,
    ) -> std::result::Result<FaceSignIn, ClientError> {
        // Someone is waiting at the kiosk and the cache can decide: no retries here.
        let client = &client
            .clone()
            .with_retry(access_client::RetryPolicy::none());
        // One image, the face and the context its liveness crops read, not the whole frame:
        // the server detects, matches and judges liveness on it in one pass.
        let region = vision::liveness::upload_region(frame.width(), frame.height(), face);
        let jpeg = frame
            .cropped(region)
            .to_jpeg(90)
            .map_err(|e| ClientError::Protocol {
                status: 0,
                snippet: e.to_string(),
            })?;
        let image = base64::engine::general_purpose::STANDARD.encode(jpeg);
        let v = client
            .verify_face(&VerifyFaceRequest {
                user_id: user_id.map(str::to_string),
                face_image: image.clone(),
                validation_id: None,
                project_id: Some(project.to_string()),
            })
            .await?;
        let mut token = v.access_token.clone();
        let mut reason = (!v.matched).then(|| "NO_MATCH".to_string());
        let mut server_liveness = v.liveness_score;
        if v.matched && v.liveness_required {
            match v.liveness_score {
                Some(_) if !v.passed => reason = Some("LIVENESS_FAILED".into()),
                Some(_) => {}
                // A server that judges liveness only in its own call (the seed's contract).
                None if token.is_none() => {
                    let l = client
                        .liveness_check(&LivenessCheckRequest {
                            face_image: image,
                            validation_id: v.validation_id.clone(),
                        })
                        .await?;
                    server_liveness = Some(l.liveness_score);
                    token = l.access_token;
                    if !l.passed {
                        reason = Some("LIVENESS_FAILED".into());
                    }
                }
                None => {}
            }
        }
        let mut accepted = v.matched && reason.is_none();
        let mut unverified = false;
        // An accept counts only with a token this kiosk verifies: signed by a pinned key, for
        // this project, naming the person the answer names (and claimed, if one was). Anything
        // less is a refusal, not an outage: a forged answer must not reach the cache either.
        if accepted {
            let named = v
                .user_id
                .as_deref()
                .filter(|u| user_id.is_none_or(|c| c == *u));
            let verdict = match (token.as_deref(), named) {
                (Some(t), Some(u)) => self.verify_token_refreshing(client, t, project, u).await,
                (None, _) => Err("no access token".to_string()),
                (Some(_), None) => Err("the answer names no person, or another one".to_string()),
            };
            if let Err(why) = verdict {
                tracing::warn!("an answer of the API accepted a face without a valid token: {why}");
                (accepted, unverified) = (false, true);
                reason = Some(crate::KioskCode::AnswerUnverified.as_str().into());
            }
        }
        Ok(FaceSignIn {
            decision: if accepted {
                Decision::Accepted
            } else {
                Decision::Rejected
            },
            // An unverified answer names nobody.
            user_id: if v.matched && !unverified {
                v.user_id
            } else {
                None
            },
            name: None,
            score: v.match_score,
            liveness: server_liveness,
            mode: Mode::Online,
            access_token: if accepted { token } else { None },
            reason,
            guidance: Vec::new(),
            frames: 0,
            failures: 0,
        })
    }

    /// Queues an offline decision for the server, signed by the device key so the server can
    /// check later that this kiosk made it.
    /// `claim`: who the person said they were (1:1); a refused claim is reported under that
    /// person, so the server counts it against their failed face attempts.
    fn queue_signed_event(&self, out: &FaceSignIn, claim: Option<&str>) -> Result<()> {
        let Some(project) = self.live().settings.project_id.clone() else {
            return Ok(());
        };
        let body = serde_json::json!({
            "decision": out.decision,
            "score": out.score,
            "liveness": out.liveness,
            "reason": out.reason,
        });
        let occurred_at = kiosk_store::now_rfc3339();
        let kind = if out.decision == Decision::Accepted {
            "sign_in"
        } else {
            "sign_in_failed"
        };
        let kiosk_id = self.kiosk_id();
        let mut wire = access_types::OfflineEvent {
            event_id: format!("evt_{}", uuid_like()),
            kind: kind.to_string(),
            project_id: project,
            occurred_at,
            user_id: out.user_id.clone().or_else(|| claim.map(str::to_string)),
            payload: body,
            signature: None,
        };
        wire.sign(&kiosk_id, |m| {
            access_client::DeviceSigner::sign(&*self.device_key, m)
        });
        let item = Queued::Event(SignedEvent {
            event_id: Some(wire.event_id),
            kiosk_id: Some(kiosk_id),
            kind: wire.kind,
            project_id: wire.project_id,
            occurred_at: wire.occurred_at,
            user_id: wire.user_id,
            body: wire.payload,
            signature: wire.signature.unwrap_or_default(),
            device_public_key: String::new(),
        });
        self.enqueue(&item)?;
        Ok(())
    }
}

/// 128 random bits in hex: an event id no other event of this kiosk has.
fn uuid_like() -> String {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).unwrap_or_default();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl FaceSignIn {
    /// Not decided: the frames were not good enough; `guidance` says what to change.
    fn retry(reason: String, guidance: Vec<QualityIssue>, frames: usize, failures: u32) -> Self {
        FaceSignIn {
            decision: Decision::Retry,
            user_id: None,
            name: None,
            score: None,
            liveness: None,
            mode: Mode::Offline,
            access_token: None,
            reason: Some(reason),
            guidance,
            frames,
            failures,
        }
    }
}

/// What a decision needs of one analysed frame.
#[derive(Debug, Clone)]
pub struct FrameView<'a> {
    /// The detector's confidence in the face.
    pub face_score: f32,
    /// 0..1, from [`vision::QualityReport::score`].
    pub quality_score: f32,
    pub quality_passed: bool,
    pub issues: &'a [QualityIssue],
    pub liveness: f32,
    /// Why this frame's liveness score cannot be trusted (face too small or cut off):
    /// [`vision::QualityReport::liveness_issue`]. Such a frame is never decided on.
    pub liveness_issue: Option<QualityIssue>,
}

impl<'a> FrameView<'a> {
    pub fn of(a: &'a vision::FrameAnalysis, qcfg: &vision::QualityConfig) -> Self {
        Self {
            face_score: a.face.score,
            quality_score: a.quality.score(qcfg),
            quality_passed: a.quality.passed,
            issues: &a.quality.issues,
            liveness: a.liveness,
            liveness_issue: a.quality.liveness_issue,
        }
    }
}

/// A burst of frames judged: the one to embed, or why to try again.
#[derive(Debug, Clone, PartialEq)]
pub enum Burst {
    /// `best`: the index of the frame to upload; `good`: the frames to embed and fuse (the
    /// best first, at most [`FUSED_FRAMES`]); `liveness`: the mean over the frames with a face.
    Ready {
        best: usize,
        good: Vec<usize>,
        liveness: f32,
    },
    /// `reason`: `NO_FACE`, or the first quality issue's code.
    Retry {
        reason: String,
        guidance: Vec<QualityIssue>,
    },
}

/// Judges a burst (`None`: no face in that frame). At least `min_frames` (or every frame, when
/// there are fewer) must show a face; the best frame is the one whose quality passed, with a
/// trustworthy liveness score (face big enough, not cut off), with the highest quality ×
/// detector score; liveness is averaged over the frames whose score is trustworthy. A face
/// too far for liveness is a `Retry` with "Move closer" (`FACE_TOO_SMALL`), never a spoof.
pub fn assess_burst(frames: &[Option<FrameView<'_>>], min_frames: usize) -> Burst {
    let with_face: Vec<(usize, &FrameView<'_>)> = frames
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.as_ref().map(|f| (i, f)))
        .collect();
    let mut issues: Vec<QualityIssue> = with_face
        .iter()
        .flat_map(|(_, f)| f.issues.iter().copied().chain(f.liveness_issue))
        .collect();
    if with_face.len() < min_frames.min(frames.len()).max(1) {
        return Burst::Retry {
            reason: "NO_FACE".into(),
            guidance: issues,
        };
    }
    let trusted: Vec<f32> = with_face
        .iter()
        .filter(|(_, f)| f.liveness_issue.is_none())
        .map(|(_, f)| f.liveness)
        .collect();
    let liveness = trusted.iter().sum::<f32>() / trusted.len().max(1) as f32;
    let mut good: Vec<&(usize, &FrameView<'_>)> = with_face
        .iter()
        .filter(|(_, f)| f.quality_passed && f.liveness_issue.is_none())
        .collect();
    // Best first: highest quality x detector score; a stable sort keeps frame order on ties.
    good.sort_by(|a, b| {
        (b.1.quality_score * b.1.face_score).total_cmp(&(a.1.quality_score * a.1.face_score))
    });
    let good: Vec<usize> = good.iter().take(FUSED_FRAMES).map(|(i, _)| *i).collect();
    match good.first() {
        Some(&best) => Burst::Ready {
            best,
            good,
            liveness,
        },
        None => {
            issues.sort_by_key(|i| *i as u8);
            issues.dedup();
            Burst::Retry {
                reason: issues.first().map_or("FACE_QUALITY", |i| i.code()).into(),
                guidance: issues,
            }
        }
    }
}

/// At most this many good frames of a burst are embedded and fused: each costs one
/// embedding (about 7 ms), and past three the noise they average out is small.
pub const FUSED_FRAMES: usize = 3;

/// What the Access API said about a face.
#[derive(Debug, Clone)]
pub enum ServerAnswer {
    /// No API is configured.
    NotAsked,
    /// It could not be reached (or cannot decide on this face yet): the cache decides.
    Unreachable,
    /// It decided.
    Decided(FaceSignIn),
    /// It refused the request with this code (in its envelope): a refusal.
    Refused(ErrorCode),
}

/// The decision on a judged burst: the server's when it decided, else the cache's (`local`:
/// `vision::decision`'s answer on the fused probe). A rejection from the cache never names
/// whom the face resembled. `failures` and `name` are the caller's to fill.
pub fn decide(
    server: ServerAnswer,
    local: vision::decision::FaceDecision,
    liveness: f32,
    liveness_threshold: f32,
    frames: usize,
    policy: Option<&KioskPolicy>,
) -> FaceSignIn {
    use vision::decision::FaceDecision;
    match server {
        ServerAnswer::Decided(mut o) => {
            o.liveness = Some(liveness);
            o.frames = frames;
            return o;
        }
        ServerAnswer::Refused(code) => {
            return FaceSignIn {
                decision: Decision::Rejected,
                user_id: None,
                name: None,
                score: None,
                liveness: Some(liveness),
                mode: Mode::Online,
                access_token: None,
                reason: Some(code.as_str().to_string()),
                guidance: Vec::new(),
                frames,
                failures: 0,
            };
        }
        ServerAnswer::NotAsked | ServerAnswer::Unreachable => {}
    }
    let live = liveness >= liveness_threshold;
    let (user, score) = match &local {
        FaceDecision::Match { person, score } => (Some(person.clone()), Some(*score)),
        FaceDecision::NoMatch { score } => (None, *score),
        FaceDecision::Ambiguous { score, .. } => (None, Some(*score)),
        FaceDecision::IdentifyOff | FaceDecision::NotEnrolled => (None, None),
    };
    let matched = user.is_some();
    // What the server would refuse offline too: the flow (paused, face off) for anyone, its
    // lists for the person the cache recognised.
    let refusal = policy.and_then(|p| {
        p.offline_face_refusal(None).or_else(|| {
            user.as_deref()
                .filter(|_| matched && live)
                .and_then(|u| p.offline_face_refusal(Some(u)))
        })
    });
    let decision = if matched && live && refusal.is_none() {
        Decision::Accepted
    } else {
        Decision::Rejected
    };
    let reason = if let Some(code) = refusal {
        Some(code.as_str())
    } else if !live {
        Some("LIVENESS_FAILED")
    } else {
        local.code()
    };
    FaceSignIn {
        decision,
        user_id: user.filter(|_| decision == Decision::Accepted),
        name: None,
        score,
        liveness: Some(liveness),
        mode: Mode::Offline,
        access_token: None,
        reason: reason.map(String::from),
        guidance: Vec::new(),
        frames,
        failures: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vision::decision::FaceDecision;

    fn view(quality: f32, passed: bool, liveness: f32) -> Option<FrameView<'static>> {
        Some(FrameView {
            face_score: 0.9,
            quality_score: quality,
            quality_passed: passed,
            issues: if passed {
                &[]
            } else {
                &[QualityIssue::FaceTooSmall]
            },
            liveness,
            liveness_issue: None,
        })
    }

    #[test]
    fn a_face_too_far_for_liveness_is_asked_closer_not_refused() {
        let far = |liveness: f32| {
            view(0.9, true, liveness).map(|mut v| {
                v.liveness_issue = Some(QualityIssue::FaceTooSmall);
                v
            })
        };
        // Every frame too far: retry with the hint, whatever the (untrusted) scores.
        match assess_burst(&[far(0.01), far(0.02), far(0.9)], 3) {
            Burst::Retry { reason, guidance } => {
                assert_eq!(reason, "FACE_TOO_SMALL");
                assert_eq!(guidance, vec![QualityIssue::FaceTooSmall]);
                assert_eq!(QualityIssue::FaceTooSmall.hint(), "Move closer");
            }
            other => panic!("{other:?}"),
        }
        // One near frame among far ones: it is chosen, and only its liveness counts.
        match assess_burst(&[far(0.01), view(0.5, true, 0.9), far(0.02)], 3) {
            Burst::Ready {
                best,
                good,
                liveness,
            } => assert_eq!((best, good, liveness), (1, vec![1], 0.9)),
            other => panic!("{other:?}"),
        }
    }

    const T: f32 = 0.6;

    fn matched(person: &str, score: f32) -> FaceDecision {
        FaceDecision::Match {
            person: person.into(),
            score,
        }
    }

    #[test]
    fn the_best_passing_frame_is_chosen_and_liveness_averaged() {
        let frames = [
            view(0.5, true, 0.9),
            None,
            view(0.9, true, 0.7),
            view(1.0, false, 0.8),
        ];
        match assess_burst(&frames, 3) {
            Burst::Ready {
                best,
                good,
                liveness,
            } => {
                // The frames fused: those that passed, best first.
                assert_eq!((best, good), (2, vec![2, 0]));
                assert!((liveness - 0.8).abs() < 1e-6, "{liveness}");
            }
            other => panic!("{other:?}"),
        }
        // Too few frames with a face.
        assert!(
            matches!(assess_burst(&frames, 4), Burst::Retry { ref reason, .. } if reason == "NO_FACE")
        );
        assert!(
            matches!(assess_burst(&[None, None], 1), Burst::Retry { ref reason, .. } if reason == "NO_FACE")
        );
        // Faces, but none good enough: the first issue is the hint.
        let poor = [view(0.9, false, 0.9), view(0.8, false, 0.9)];
        match assess_burst(&poor, 2) {
            Burst::Retry { reason, guidance } => {
                assert_eq!(reason, QualityIssue::FaceTooSmall.code());
                assert_eq!(guidance, vec![QualityIssue::FaceTooSmall]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_cache_decides_only_when_the_server_did_not() {
        let obama = matched("obama", 0.8);
        let yes = decide(ServerAnswer::Unreachable, obama.clone(), 0.9, T, 3, None);
        assert_eq!(
            (yes.decision, yes.user_id.as_deref(), yes.mode),
            (Decision::Accepted, Some("obama"), Mode::Offline)
        );
        let yes = decide(ServerAnswer::NotAsked, obama.clone(), 0.9, T, 3, None);
        assert_eq!(yes.decision, Decision::Accepted);
        // A spoof: refused, and the cache does not say whom it resembled.
        let spoof = decide(ServerAnswer::Unreachable, obama.clone(), 0.2, T, 3, None);
        assert_eq!(
            (spoof.decision, spoof.user_id, spoof.reason.as_deref()),
            (Decision::Rejected, None, Some("LIVENESS_FAILED"))
        );
        let stranger = decide(
            ServerAnswer::Unreachable,
            FaceDecision::NoMatch { score: Some(0.2) },
            0.9,
            T,
            3,
            None,
        );
        assert_eq!(
            (
                stranger.decision,
                stranger.user_id,
                stranger.reason.as_deref()
            ),
            (Decision::Rejected, None, Some("NO_MATCH"))
        );
        let nobody = decide(
            ServerAnswer::Unreachable,
            FaceDecision::NotEnrolled,
            0.9,
            T,
            3,
            None,
        );
        assert_eq!(nobody.reason.as_deref(), Some("NOT_ENROLLED"));
        // 1:N off, or two people too close: nobody named, the reason says ask who it is.
        for (local, code) in [
            (FaceDecision::IdentifyOff, "IDENTIFICATION_UNAVAILABLE"),
            (
                FaceDecision::Ambiguous {
                    score: 0.8,
                    runner_up: 0.79,
                },
                "AMBIGUOUS_MATCH",
            ),
        ] {
            let out = decide(ServerAnswer::Unreachable, local, 0.9, T, 3, None);
            assert_eq!(
                (out.decision, out.user_id, out.reason.as_deref()),
                (Decision::Rejected, None, Some(code))
            );
        }
        // The server's refusal stands, whatever the cache says.
        let refused = FaceSignIn {
            decision: Decision::Rejected,
            user_id: None,
            name: None,
            score: Some(0.1),
            liveness: None,
            mode: Mode::Online,
            access_token: None,
            reason: Some("NO_MATCH".into()),
            guidance: Vec::new(),
            frames: 0,
            failures: 0,
        };
        let out = decide(
            ServerAnswer::Decided(refused),
            obama.clone(),
            0.95,
            T,
            3,
            None,
        );
        assert_eq!(
            (out.decision, out.mode, out.liveness, out.frames),
            (Decision::Rejected, Mode::Online, Some(0.95), 3)
        );
        // A refusal in the API's envelope (the person deleted there, the customer's check
        // down): rejected online, though the cache knows the face.
        for code in [
            ErrorCode::NotEnrolled,
            ErrorCode::SecurityCheckUnavailable,
            ErrorCode::FlowPaused,
        ] {
            let out = decide(ServerAnswer::Refused(code), obama.clone(), 0.95, T, 3, None);
            assert_eq!(
                (out.decision, out.mode, out.user_id, out.reason.as_deref()),
                (Decision::Rejected, Mode::Online, None, Some(code.as_str()))
            );
        }
    }

    #[test]
    fn offline_the_last_policy_refuses_what_the_server_would() {
        use access_types::{FlowStatus, KioskFlowPolicy, LoginSettings, SecurityMode};
        let obama = matched("obama", 0.8);
        let policy = |status, mode, ids: &[&str]| KioskPolicy {
            project_id: "p".into(),
            flow: Some(KioskFlowPolicy {
                id: "f".into(),
                status,
                login: LoginSettings {
                    face: true,
                    ..LoginSettings::default()
                },
                security_mode: mode,
                identifiers: ids.iter().map(|s| s.to_string()).collect(),
            }),
            generated_at: String::new(),
            signing_keys: None,
        };
        let open = policy(FlowStatus::Active, SecurityMode::None, &[]);
        let yes = decide(
            ServerAnswer::Unreachable,
            obama.clone(),
            0.9,
            T,
            3,
            Some(&open),
        );
        assert_eq!(yes.decision, Decision::Accepted);
        for (p, code) in [
            (
                policy(FlowStatus::Paused, SecurityMode::None, &[]),
                "FLOW_PAUSED",
            ),
            (
                policy(FlowStatus::Active, SecurityMode::Blacklist, &["obama"]),
                "IDENTIFIER_NOT_ALLOWED",
            ),
        ] {
            let out = decide(
                ServerAnswer::Unreachable,
                obama.clone(),
                0.9,
                T,
                3,
                Some(&p),
            );
            assert_eq!(
                (out.decision, out.user_id, out.reason.as_deref(), out.mode),
                (Decision::Rejected, None, Some(code), Mode::Offline)
            );
        }
        // Someone else on a blacklist does not stop this face.
        let other = policy(FlowStatus::Active, SecurityMode::Blacklist, &["ada"]);
        let yes = decide(ServerAnswer::Unreachable, obama, 0.9, T, 3, Some(&other));
        assert_eq!(yes.decision, Decision::Accepted);
    }
}
