//! Face enrolment, 1:1 / 1:N verification and liveness.

use crate::face_attempts;
use crate::sql::{Connection, OptionalExtension};
use access_types::{
    EnrolSource, ErrorCode, FaceQuality, LivenessCheckRequest, LivenessCheckResponse, ProjectFlow,
    RegisterFaceRequest, RegisterFaceResponse, ValidationStatus, VerifyFaceRequest,
    VerifyFaceResponse, WebhookEventType,
};
use axum::extract::State;
use axum::response::Response;
use base64::Engine;
use serde_json::json;

use crate::clock::rfc3339;
use crate::db::{exec, row};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, Auth};
use crate::face::FaceAnalysis;
use crate::flows::{self, Method};
use crate::rate::rate_limit;
use crate::state::AppState;
use crate::validation::{Kind, Step, Validation, not_pending};
use crate::{ok, templates};

/// Decode the base64 image (optionally a `data:` URL) within the size limit.
pub fn decode_b64_image(s: &str, max_bytes: usize) -> ApiResult<Vec<u8>> {
    let s = s.trim();
    let s = match s.strip_prefix("data:") {
        Some(rest) => rest.split_once(',').map(|(_, b)| b).unwrap_or(""),
        None => s,
    };
    if s.is_empty() {
        return Err(ApiError::new(ErrorCode::ImageEmpty, "face_image is empty"));
    }
    // Cheap bound before allocating: base64 is 4/3 of the payload.
    if s.len() / 4 * 3 > max_bytes + 3 {
        return Err(too_large(max_bytes));
    }
    let cleaned: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&cleaned)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&cleaned))
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cleaned.trim_end_matches('='))
        })
        .map_err(|_| ApiError::new(ErrorCode::ImageCorrupt, "face_image is not valid base64"))?;
    if bytes.is_empty() {
        return Err(ApiError::new(ErrorCode::ImageEmpty, "face_image is empty"));
    }
    if bytes.len() > max_bytes {
        return Err(too_large(max_bytes));
    }
    Ok(bytes)
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(ErrorCode::ImageTooLarge, "face_image is too large")
        .with_details(json!({ "max_bytes": max }))
}

/// The user id rule is access_types' (`UserId`), the one whitelist / blacklist entries are
/// checked by too.
fn check_user_id(u: &str) -> ApiResult<()> {
    match access_types::UserId::parse(u) {
        Ok(_) => Ok(()),
        Err(e) => Err(
            ApiError::bad_request("user_id must be 1 to 128 printable characters")
                .with_details(json!({ "reason": e.reason() })),
        ),
    }
}

async fn rate_check(st: &AppState, project_id: &str, user: &str) -> ApiResult<()> {
    let key = format!("bio:{project_id}:{user}");
    let (limit, now) = (st.cfg.biometric_per_min, st.clock.now_ms());
    st.db
        .tx(move |tx| rate_limit(tx, &key, limit, 60_000, now))
        .await
}

/// The enrolment rule (`vision::Gallery::admit`): a new person's face must be nobody else's
/// (409 `DUPLICATE_FACE`, without saying whose); a sample for an enrolled person must match
/// them (409 `SAMPLE_MISMATCH`) unless an admin token adds it.
async fn admit(
    st: &AppState,
    auth: &Auth,
    project_id: &str,
    user_id: &str,
    a: &FaceAnalysis,
    targets: vision::decision::FaceTargets,
) -> ApiResult<()> {
    let g = gallery(st, project_id, a).await?;
    let (e, u) = (a.embedding.clone(), user_id.to_string());
    let admission = templates::search(g, move |g| {
        // A sample of a person is held to 1:1's threshold; "is this face someone else's?"
        // is a search of everyone, held to 1:N's.
        let t = g.thresholds(&targets);
        g.admit(e.as_slice(), &u, t.verify, t.identify)
    })
    .await?;
    match admission {
        vision::Admission::New | vision::Admission::SamePerson { .. } => Ok(()),
        vision::Admission::Mismatch { .. } if auth.is_admin() => Ok(()),
        vision::Admission::Mismatch { score } => {
            tracing::warn!(project = %project_id, score, "enrolment sample refused: not the same person");
            Err(ApiError::new(
                ErrorCode::SampleMismatch,
                "this face does not match the person's enrolled samples",
            ))
        }
        vision::Admission::Duplicate(m) => {
            tracing::warn!(project = %project_id, score = m.score, "enrolment refused: face already enrolled");
            Err(ApiError::new(
                ErrorCode::DuplicateFace,
                "this face is already enrolled as someone else in this project",
            ))
        }
    }
}

/// Refuses while the person's failed face attempts hold face sign-in back (NIST SP 800-63B-4).
async fn attempts_open(
    st: &AppState,
    project_id: &str,
    user: &str,
    liveness_required: bool,
) -> ApiResult<()> {
    let (p, u, now) = (project_id.to_string(), user.to_string(), st.clock.now_ms());
    st.db
        .call(move |c| face_attempts::check(c, &p, &u, liveness_required, now))
        .await
}

/// A 1:1 verification is limited per caller (a kiosk's token) whoever it names, before any
/// work: the per-person limit alone lets one caller try a face against everyone in turn.
async fn one_to_one_check(st: &AppState, project_id: &str, caller: &str) -> ApiResult<()> {
    let now = st.clock.now_ms();
    let limit = st.cfg.one_to_one_per_min_caller;
    let key = format!("1to1:{project_id}:{}:{caller}", caller.len());
    st.db
        .tx(move |tx| rate_limit(tx, &key, limit, 60_000, now))
        .await
}

/// A 1:N search is limited per caller (a kiosk's token) and per project, before any work.
async fn one_to_n_check(st: &AppState, project_id: &str, caller: &str) -> ApiResult<()> {
    let now = st.clock.now_ms();
    let (per_caller, per_project) = (
        st.cfg.one_to_n_per_min_caller,
        st.cfg.one_to_n_per_min_project,
    );
    let keys = [
        (
            format!("1n:{project_id}:{}:{caller}", caller.len()),
            per_caller,
        ),
        (format!("1n:{project_id}"), per_project),
    ];
    st.db
        .tx(move |tx| {
            for (key, limit) in &keys {
                rate_limit(tx, key, *limit, 60_000, now)?;
            }
            Ok(())
        })
        .await
}

async fn analyze(st: &AppState, image: Vec<u8>, enrol: bool) -> ApiResult<FaceAnalysis> {
    st.face.engine()?.analyze(image, enrol).await
}

/// The project's templates that can match `probe`: those of the embedder's model.
async fn gallery(
    st: &AppState,
    project_id: &str,
    probe: &FaceAnalysis,
) -> ApiResult<std::sync::Arc<vision::Gallery>> {
    let model_id = st.face.engine()?.model_id().to_string();
    st.templates
        .get(&st.db, project_id, &model_id, probe.embedding.len())
        .await
}

/// Header a client sends so that a retried upload (after a crash or a lost answer) returns the
/// first answer instead of enrolling the sample twice.
const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// An idempotency key of one caller for one request: the key is scoped to the token's
/// subject, the project and the user, and remembers a hash of the body it was first used with.
#[derive(Clone)]
struct IdemKey {
    key: String,
    request_hash: String,
}

impl IdemKey {
    fn of(
        headers: &axum::http::HeaderMap,
        caller: &str,
        req: &RegisterFaceRequest,
    ) -> Option<Self> {
        use sha2::{Digest, Sha256};
        let k = headers
            .get(IDEMPOTENCY_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|k| !k.is_empty() && k.len() <= 200)?;
        let mut h = Sha256::new();
        for part in [&req.user_id, &req.project_id, &req.face_image] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        h.update(req.project_flow_id.as_deref().unwrap_or("").as_bytes());
        // Only when said, so a key stored before `source` existed still matches its body.
        if let Some(source) = req.source {
            h.update([0]);
            h.update(source.as_str().as_bytes());
        }
        Some(Self {
            key: format!(
                "register-face|{}|{}|{}|{k}",
                caller.len(),
                caller,
                req.project_id
            ),
            request_hash: hex::encode(h.finalize()),
        })
    }
}

/// The answer stored under `key`, if any; `IDEMPOTENCY_KEY_REUSED` when it was for another body.
fn stored_registration(c: &Connection, key: &IdemKey) -> ApiResult<Option<RegisterFaceResponse>> {
    let found: Option<(String, Option<String>)> = c
        .query_row(
            "SELECT response, request_hash FROM idempotency WHERE key = ?1",
            [&key.key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((json, hash)) = found else {
        return Ok(None);
    };
    if hash.as_deref().is_some_and(|h| h != key.request_hash) {
        return Err(ApiError::new(
            ErrorCode::IdempotencyKeyReused,
            "this Idempotency-Key was used with another request",
        ));
    }
    Ok(serde_json::from_str(&json).ok())
}

#[utoipa::path(
    post,
    path = "/biometric/register-face",
    tag = "faces",
    summary = "Enrol a face sample (source: camera, live when the flow requires it, or an operator's file) and open a biometric validation",
    request_body = access_types::RegisterFaceRequest,
    responses((status = 200, description = "success", body = access_types::RegisterFaceResponse)),
    security(("bearer" = [])),
)]
pub async fn register_face(
    State(st): State<AppState>,
    auth: Auth,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<RegisterFaceRequest>,
) -> ApiResult<Response> {
    check_user_id(&req.user_id)?;
    auth.allow_project(&req.project_id)?;
    let captured_ms = match req.captured_at.as_deref() {
        None => None,
        Some(t) => Some(
            crate::clock::parse_rfc3339(t)
                .ok_or_else(|| ApiError::bad_request("captured_at must be RFC 3339"))?,
        ),
    };
    let idem_key = IdemKey::of(&headers, &auth.caller_key(), &req);
    if let Some(key) = idem_key.clone() {
        let known = st.db.call(move |c| stored_registration(c, &key)).await?;
        if let Some(resp) = known {
            return Ok(ok(resp, "face registered (repeated request)"));
        }
    }
    let image = decode_b64_image(&req.face_image, st.cfg.max_image_bytes)?;
    let flow = {
        let (p, f) = (req.project_id.clone(), req.project_flow_id.clone());
        st.db
            .call(move |c| flows::resolve_login_flow(c, &p, f.as_deref()))
            .await?
    };
    flows::require_method(&flow, Method::Face)?;
    // The limit first: the customer's URL is only asked for requests that may proceed.
    rate_check(&st, &req.project_id, &req.user_id).await?;
    flows::check_identifier(&st, &flow, &req.user_id, Method::Face).await?;
    let engine = st.face.engine()?.clone();
    let model_id = engine.model_id().to_string();
    let a = analyze(&st, image, true).await?;
    if !a.quality_passed {
        return Err(ApiError::new(
            ErrorCode::FaceQuality,
            "the face image is not good enough to enrol",
        )
        .with_details(json!({ "issues": a.issues })));
    }
    let source = enrol_source(&auth, &req);
    file_source_allowed(&auth, source, &flow)?;
    let liveness_score = camera_sample_is_live(source, &flow, &a)?;
    admit(
        &st,
        &auth,
        &req.project_id,
        &req.user_id,
        &a,
        crate::face::targets(&flow.login),
    )
    .await?;
    let now = st.clock.now_ms();
    let ttl_ms = st.cfg.otp_ttl_s as i64 * 1000;
    let max_attempts = st.cfg.otp_max_attempts;
    let max_samples = st.cfg.kiosk_max_samples_per_person;
    let actor = crate::people::actor(&auth.0);
    let resp = st
        .db
        .tx(move |tx| {
            // Checked again inside the write: two copies of one request racing enrol once.
            if let Some(key) = &idem_key
                && let Some(resp) = stored_registration(tx, key)?
            {
                return Ok(resp);
            }
            let flow = flows::resolve_login_flow(tx, &req.project_id, Some(&flow.id))?;
            if let Some(at) = captured_ms {
                crate::erasure::refuse_if_erased_since(tx, &req.project_id, &req.user_id, at)?;
            }
            crate::people::may_enrol(tx, &auth, &req.project_id, &req.user_id, max_samples)?;
            let template_id = templates::insert(
                tx,
                &templates::NewTemplate {
                    project_id: &req.project_id,
                    user_id: &req.user_id,
                    model_id: &model_id,
                    embedding: &a.embedding,
                    source,
                    enrolled_by: &actor,
                },
                now,
            )?;
            let samples: u32 = row(tx,
                "SELECT COUNT(*) FROM templates WHERE project_id = ?1 AND user_id = ?2 AND deleted_at IS NULL",
                [&req.project_id, &req.user_id],
                |r| r.get(0),
            )?;
            let v = Validation::new(
                Kind::Biometric,
                req.user_id.clone(),
                req.project_id.clone(),
                flow.id.clone(),
                max_attempts,
                now + ttl_ms,
                None,
            );
            v.insert(tx, now)?;
            v.announce(
                tx,
                Step::Created,
                json!({ "template_id": template_id, "source": source.as_str() }),
                now,
            )?;
            crate::people::record(
                tx,
                now,
                &actor,
                WebhookEventType::FaceEnrolled,
                &req.project_id,
                Some(&req.user_id),
                json!({ "template_id": template_id, "source": source.as_str(), "samples": samples }),
            )?;
            tracing::info!(project = %req.project_id, template = %template_id, source = source.as_str(), "face enrolled");
            let resp = RegisterFaceResponse {
                validation_id: v.id,
                status: ValidationStatus::Pending,
                expires_at: rfc3339(v.expires_at),
                user_id: req.user_id,
                project_id: req.project_id,
                template_id,
                model_id,
                samples,
                face_score: a.face_score,
                quality: FaceQuality { passed: a.quality_passed, issues: a.issues },
                source: Some(source),
                liveness_score,
            };
            if let Some(key) = &idem_key {
                exec(
                    tx,
                    "INSERT INTO idempotency(key, response, created_at, request_hash)
                     VALUES (?1, ?2, ?3, ?4)",
                    rusqlite::params![
                        key.key,
                        serde_json::to_string(&resp).unwrap_or_default(),
                        now,
                        key.request_hash
                    ],
                )?;
            }
            Ok(resp)
        })
        .await?;
    st.templates.invalidate(&resp.project_id);
    st.webhook_wake.notify_one();
    Ok(ok(resp, "face registered"))
}

/// Where a sample comes from: as the request says; unsaid, an admin token's upload is an
/// operator's file, anything else a camera's (a kiosk that predates `source`).
fn enrol_source(auth: &Auth, req: &RegisterFaceRequest) -> EnrolSource {
    req.source.unwrap_or(if auth.is_admin() {
        EnrolSource::File
    } else {
        EnrolSource::Camera
    })
}

/// A file is not judged live: where the flow requires liveness only an administrator may
/// vouch for one (403 `FILE_SOURCE_NEEDS_ADMIN`); elsewhere both sources pass the same checks
/// and the label is a record (`people`).
fn file_source_allowed(auth: &Auth, source: EnrolSource, flow: &ProjectFlow) -> ApiResult<()> {
    if source == EnrolSource::File && flow.login.liveness_required && !auth.is_admin() {
        return Err(ApiError::new(
            ErrorCode::FileSourceNeedsAdmin,
            "this flow requires liveness: only an administrator may enrol a sample from a file",
        ));
    }
    Ok(())
}

/// A camera's sample must be live when the flow requires liveness (the kiosk judged the same
/// frame; this is the server's own check of it): too small or cut off is `FACE_QUALITY`
/// ("Move closer"), a spoof 422 `LIVENESS_FAILED`. A file is not asked; a kiosk that does not
/// say counts as a camera ([`enrol_source`]). The score when judged.
fn camera_sample_is_live(
    source: EnrolSource,
    flow: &ProjectFlow,
    a: &FaceAnalysis,
) -> ApiResult<Option<f32>> {
    if source != EnrolSource::Camera || !flow.login.liveness_required {
        return Ok(None);
    }
    a.require_liveness_ready()?;
    let min = flow.login.liveness_min_score;
    if a.liveness < min {
        return Err(ApiError::new(
            ErrorCode::LivenessFailed,
            "this camera sample did not pass the liveness check",
        )
        .with_details(json!({ "liveness_score": a.liveness, "min_score": min })));
    }
    Ok(Some(a.liveness))
}

/// The access token of a validated face validation, else nothing.
fn token_for(
    st: &AppState,
    v: &Validation,
    flow: &ProjectFlow,
    now: i64,
) -> ApiResult<(Option<String>, Option<u64>)> {
    if v.status != ValidationStatus::Validated {
        return Ok((None, None));
    }
    let amr: &[&str] = if flow.login.liveness_required {
        &["face", "liveness"]
    } else {
        &["face"]
    };
    let (t, ttl) = v.issue_token(st, amr, now)?;
    Ok((Some(t), Some(ttl)))
}

#[utoipa::path(
    post,
    path = "/biometric/verify-face",
    tag = "faces",
    summary = "1:1 (user_id) or 1:N face verification; liveness judged on the same image when the flow requires it (liveness_score, passed, the token)",
    request_body = access_types::VerifyFaceRequest,
    responses((status = 200, description = "success", body = access_types::VerifyFaceResponse)),
    security(("bearer" = [])),
)]
pub async fn verify_face(
    State(st): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<VerifyFaceRequest>,
) -> ApiResult<Response> {
    if let Some(u) = &req.user_id {
        check_user_id(u)?;
    }
    let image = decode_b64_image(&req.face_image, st.cfg.max_image_bytes)?;
    // Which validation / project this is about.
    let existing = match &req.validation_id {
        Some(id) => {
            let id = id.clone();
            Some(
                st.db
                    .call(move |c| Validation::load(c, &id, Kind::Biometric))
                    .await?,
            )
        }
        None => None,
    };
    let project_id = match (&existing, &req.project_id) {
        (Some(v), Some(p)) if &v.project_id != p => {
            return Err(ApiError::new(
                ErrorCode::ValidationNotFound,
                "unknown validation_id",
            ));
        }
        (Some(v), _) => v.project_id.clone(),
        (None, Some(p)) => p.clone(),
        (None, None) => {
            return Err(ApiError::bad_request(
                "validation_id or project_id is required",
            ));
        }
    };
    auth.allow_project(&project_id)?;
    if let (Some(v), Some(u)) = (&existing, &req.user_id)
        && !v.identifier.is_empty()
        && &v.identifier != u
    {
        return Err(ApiError::new(
            ErrorCode::ValidationNotFound,
            "unknown validation_id",
        ));
    }
    if let Some(v) = &existing
        && v.status != ValidationStatus::Pending
    {
        return Err(not_pending(Kind::Biometric, v.status));
    }
    let flow = {
        let (p, f) = (
            project_id.clone(),
            existing.as_ref().map(|v| v.flow_id.clone()),
        );
        st.db
            .call(move |c| flows::resolve_login_flow(c, &p, f.as_deref()))
            .await?
    };
    flows::require_method(&flow, Method::Face)?;
    // 1:1 target: the request's user, else the validation's.
    let target = req.user_id.clone().or_else(|| {
        existing
            .as_ref()
            .map(|v| v.identifier.clone())
            .filter(|u| !u.is_empty())
    });
    match &target {
        Some(u) => {
            one_to_one_check(&st, &project_id, &auth.caller_key()).await?;
            rate_check(&st, &project_id, u).await?;
            flows::check_identifier(&st, &flow, u, Method::Face).await?;
            attempts_open(&st, &project_id, u, flow.login.liveness_required).await?;
        }
        None => one_to_n_check(&st, &project_id, &auth.caller_key()).await?,
    }
    let a = analyze(&st, image, false).await?;
    // One upload, one pipeline pass: the flow's liveness is judged on this same image, so a
    // face whose liveness score is not trusted is asked closer before anything is counted.
    let liveness_required = flow.login.liveness_required;
    if liveness_required {
        a.require_liveness_ready()?;
    }
    let live_min = flow.login.liveness_min_score;
    // One search, one decision (`vision::decision`): 1:1 against the claimed person, else
    // open-set 1:N at the thresholds the flow's error rates give for this gallery.
    let (decision, thresholds) = {
        let g = gallery(&st, &project_id, &a).await?;
        let (e, claim, targets) = (
            a.embedding.clone(),
            target.clone(),
            crate::face::targets(&flow.login),
        );
        templates::search(g, move |g| {
            let t = g.thresholds(&targets);
            let d = match &claim {
                Some(u) => vision::decision::verify(g, e.as_slice(), u, &t)?,
                None => vision::decision::identify(g, e.as_slice(), &t)?,
            };
            Ok((d, t))
        })
        .await?
    };
    if target.is_none() {
        // Each change of the project's 1:N availability is an operator's business: recorded
        // once (audit log, webhook), not per search.
        let off = matches!(decision, vision::decision::FaceDecision::IdentifyOff);
        crate::people::note_identification(
            &st,
            &project_id,
            !off,
            json!({
                "people": thresholds.people,
                "expected_fnir": thresholds.identify_fnir.is_finite().then_some(thresholds.identify_fnir),
                "fnir_ceiling": flow.login.fnir_ceiling,
                "target_fpir": flow.login.target_fpir,
            }),
        )
        .await?;
    }
    let threshold = if target.is_some() {
        thresholds.verify
    } else {
        thresholds.identify
    };
    use vision::decision::FaceDecision;
    let (user, score, matched) = match decision {
        FaceDecision::Match { person, score } => {
            if target.is_none() {
                // 1:N: the security settings apply to whoever the face turns out to be,
                // before the validation can succeed; the per-user limit counts them too.
                rate_check(&st, &project_id, &person).await?;
                flows::check_identifier(&st, &flow, &person, Method::Face).await?;
                attempts_open(&st, &project_id, &person, liveness_required).await?;
            }
            (Some(person), score, true)
        }
        FaceDecision::NoMatch { score } => (target.clone(), score.unwrap_or(-1.0), false),
        // 1:1 of someone with no face enrolled is a miss like any other (a validation failed,
        // an attempt counted): a different answer would tell enrolled people apart.
        FaceDecision::NotEnrolled if target.is_some() => (target.clone(), -1.0, false),
        FaceDecision::NotEnrolled => {
            return Err(ApiError::new(
                ErrorCode::NotEnrolled,
                "no enrolled faces in this project",
            ));
        }
        FaceDecision::IdentifyOff => {
            return Err(ApiError::new(
                ErrorCode::IdentificationUnavailable,
                "face-only sign-in cannot hold this flow's error rates at this gallery's size: ask who the person is",
            )
            .with_details(json!({
                "people": thresholds.people,
                "expected_fnir": thresholds.identify_fnir,
                "fnir_ceiling": flow.login.fnir_ceiling,
                "target_fpir": flow.login.target_fpir,
            })));
        }
        FaceDecision::Ambiguous { .. } => {
            return Err(ApiError::new(
                ErrorCode::AmbiguousMatch,
                "the face is close to more than one person: ask who the person is",
            ));
        }
    };
    let now = st.clock.now_ms();
    let (ttl_ms, max_attempts) = (st.cfg.otp_ttl_s as i64 * 1000, st.cfg.otp_max_attempts);
    let flow2 = flow.clone();
    let liveness = a.liveness;
    let (v, matched, score, user) = st
        .db
        .tx(move |tx| {
            let mut v = match existing {
                Some(v) => {
                    // Re-read inside the transaction: another request may have moved it on.
                    let mut v = Validation::load(tx, &v.id, Kind::Biometric)?;
                    if let Err(refusal) = v.require_pending(tx, now)? {
                        // Commit the expiry (and its event), then refuse.
                        return Ok(Err(refusal));
                    }
                    v
                }
                None => {
                    let v = Validation::new(
                        Kind::Biometric,
                        String::new(),
                        project_id.clone(),
                        flow2.id.clone(),
                        max_attempts,
                        now + ttl_ms,
                        None,
                    );
                    v.insert(tx, now)?;
                    v
                }
            };
            if matched {
                // 1:N names the user only when the match holds.
                if let Some(u) = &user {
                    v.identifier = u.clone();
                }
                v.match_ok = true;
                exec(tx,
                    "UPDATE validations SET identifier = ?1, match_ok = 1, match_score = ?2, matched_user = ?1,
                     updated_at = ?3 WHERE id = ?4",
                    rusqlite::params![v.identifier, score, now, v.id],
                )?;
                if liveness_required {
                    // The face that matched is the face judged live: no second image can
                    // vouch for it.
                    v.record_liveness(tx, liveness, live_min, liveness >= live_min, true, now)?;
                } else {
                    v.complete(tx, false, now)?;
                }
            } else {
                exec(tx,
                    "UPDATE validations SET match_score = ?1, updated_at = ?2 WHERE id = ?3",
                    rusqlite::params![score, now, v.id],
                )?;
                v.announce(tx, Step::MatchFailed, json!({ "match_score": score, "threshold": threshold }), now)?;
                v.fail_attempt(tx, now)?;
            }
            // The person's failed attempts in a row (the claimed one, or whom 1:N named): a
            // pass starts the count again, a miss or a failed liveness adds one.
            if let Some(person) = user.as_deref() {
                if v.status == ValidationStatus::Validated {
                    face_attempts::reset(tx, &v.project_id, person)?;
                } else if !matched || v.liveness_passed == Some(false) {
                    face_attempts::record_failure(tx, &v.project_id, person, now)?;
                }
            }
            Ok(Ok((v, matched, score, user)))
        })
        .await??;
    st.webhook_wake.notify_one();
    let (access_token, expires_in) = token_for(&st, &v, &flow, now)?;
    let resp = VerifyFaceResponse {
        validation_id: v.id.clone(),
        status: v.status,
        expires_at: rfc3339(v.expires_at),
        matched,
        // A miss says nothing about how close the face came (1:N: to anyone; 1:1: to the
        // person, or whether they have a face at all).
        match_score: matched.then_some(score),
        threshold,
        // 1:N never reveals who the face most resembled unless it matched.
        user_id: if matched || req.user_id.is_some() {
            user
        } else {
            None
        },
        attempts_remaining: v.max_attempts.saturating_sub(v.attempts),
        liveness_required,
        liveness_passed: v.liveness_passed,
        liveness_score: (matched && liveness_required).then_some(liveness),
        liveness_min_score: (matched && liveness_required).then_some(live_min),
        passed: v.status == ValidationStatus::Validated,
        access_token,
        expires_in,
    };
    let msg = match (matched, v.liveness_passed) {
        (false, _) => "face did not match",
        (true, Some(false)) if liveness_required => "face matched; liveness failed",
        (true, _) => "face matched",
    };
    Ok(ok(resp, msg))
}

#[utoipa::path(
    post,
    path = "/biometric/liveness-check",
    tag = "faces",
    summary = "Presentation-attack check (the seed's second call; verify-face already judges liveness)",
    request_body = access_types::LivenessCheckRequest,
    responses((status = 200, description = "success", body = access_types::LivenessCheckResponse)),
    security(("bearer" = [])),
)]
pub async fn liveness_check(
    State(st): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<LivenessCheckRequest>,
) -> ApiResult<Response> {
    let image = decode_b64_image(&req.face_image, st.cfg.max_image_bytes)?;
    let v = {
        let id = req.validation_id.clone();
        st.db
            .call(move |c| Validation::load(c, &id, Kind::Biometric))
            .await?
    };
    // Another project's validation is as good as unknown to this caller.
    if auth.allow_project(&v.project_id).is_err() {
        return Err(ApiError::new(
            ErrorCode::ValidationNotFound,
            "unknown validation_id",
        ));
    }
    if v.status != ValidationStatus::Pending {
        return Err(not_pending(Kind::Biometric, v.status));
    }
    // Liveness must be tied to a known person: a 1:N validation needs its match first, or a
    // live stranger could vouch for a photo matched afterwards.
    if v.identifier.is_empty() {
        return Err(ApiError::new(
            ErrorCode::ValidationNotPending,
            "verify the face first; this validation has no matched user yet",
        ));
    }
    let flow = {
        let (p, f) = (v.project_id.clone(), v.flow_id.clone());
        st.db
            .call(move |c| flows::resolve_login_flow(c, &p, Some(&f)))
            .await?
    };
    flows::require_method(&flow, Method::Face)?;
    rate_check(&st, &v.project_id, &v.identifier).await?;
    let a = analyze(&st, image, false).await?;
    a.require_liveness_ready()?;
    let min = flow.login.liveness_min_score;
    // The live face must be the person being validated, or a real face could vouch for a
    // photo shown to verify-face.
    let g = gallery(&st, &v.project_id, &a).await?;
    let (e, u, targets) = (
        a.embedding.clone(),
        v.identifier.clone(),
        crate::face::targets(&flow.login),
    );
    let same_person = templates::search(g, move |g| {
        let t = g.thresholds(&targets);
        Ok(matches!(
            vision::decision::verify(g, e.as_slice(), &u, &t)?,
            vision::decision::FaceDecision::Match { .. }
        ))
    })
    .await?;
    let now = st.clock.now_ms();
    let flow2 = flow.clone();
    let (v, passed, same_person) = st
        .db
        .tx(move |tx| {
            let mut v = Validation::load(tx, &v.id, Kind::Biometric)?;
            if let Err(refusal) = v.require_pending(tx, now)? {
                // Commit the expiry (and its event), then refuse.
                return Ok(Err(refusal));
            }
            let passed = a.liveness >= min && same_person;
            v.record_liveness(
                tx,
                a.liveness,
                min,
                passed,
                flow2.login.liveness_required,
                now,
            )?;
            Ok(Ok((v, passed, same_person)))
        })
        .await??;
    st.webhook_wake.notify_one();
    let (access_token, expires_in) = token_for(&st, &v, &flow, now)?;
    let msg = match (passed, same_person) {
        (true, _) => "liveness passed",
        (false, false) => "liveness failed: not the face being validated",
        (false, true) => "liveness failed",
    };
    Ok(ok(
        LivenessCheckResponse {
            validation_id: v.id.clone(),
            status: v.status,
            expires_at: rfc3339(v.expires_at),
            liveness_score: a.liveness,
            min_score: min,
            passed,
            access_token,
            expires_in,
        },
        msg,
    ))
}

/// `DELETE /biometric/users/{user_id}/face-attempts?project_id=`: an operator re-opens face
/// sign-in for a person whose failed attempts delayed or disabled it (admin scope).
#[utoipa::path(
    delete,
    path = "/biometric/users/{user_id}/face-attempts",
    tag = "faces",
    summary = "Reset a person's failed face attempts (face sign-in delayed or disabled after too many in a row)",
    params(("user_id" = String, Path), ("project_id" = String, Query)),
    responses((status = 200, description = "success")),
    security(("bearer" = [])),
)]
pub async fn reset_face_attempts(
    State(st): State<AppState>,
    _admin: crate::extract::AdminAuth,
    axum::extract::Path(user_id): axum::extract::Path<String>,
    crate::extract::ApiQuery(q): crate::extract::ApiQuery<crate::admin::RequiredProject>,
) -> ApiResult<Response> {
    check_user_id(&user_id)?;
    let (p, u) = (q.project_id.clone(), user_id.clone());
    st.db
        .tx(move |tx| Ok(face_attempts::reset(tx, &p, &u)?))
        .await?;
    Ok(ok(
        json!({ "user_id": user_id, "project_id": q.project_id }),
        "face attempts reset",
    ))
}

/// `GET /project-flows/{id}/face-rates`: the flow's face thresholds for its project's gallery
/// today, and the error rates they give (what the console shows an operator).
#[utoipa::path(
    get,
    path = "/project-flows/{id}/face-rates",
    tag = "flows",
    summary = "The flow's face thresholds for its project's gallery today, with the FMR, FPIR and FNIR they give, and how many people 1:N can hold",
    params(("id" = String, Path)),
    responses((status = 200, description = "success", body = access_types::FaceRates)),
    security(("bearer" = [])),
)]
pub async fn face_rates(
    State(st): State<AppState>,
    _admin: crate::extract::AdminAuth,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> ApiResult<Response> {
    let flow = st.db.call(move |c| crate::admin::get_flow(c, &id)).await?;
    let model_id = st.face.engine()?.model_id().to_string();
    let g = st
        .templates
        .get(&st.db, &flow.project_id, &model_id, vision::EMBEDDING_DIM)
        .await?;
    let login = flow.login.clone();
    let rates = templates::search(g, move |g| {
        use vision::decision::{Availability, Calibration, identify_capacity};
        let targets = crate::face::targets(&login);
        let t = g.thresholds(&targets);
        let model = Calibration::for_model(g.model_id());
        let capacity = identify_capacity(model.as_deref(), g.site_calibration(), &targets);
        let rate = |r: f64| r.is_finite().then_some(r);
        Ok(access_types::FaceRates {
            flow_id: flow.id.clone(),
            project_id: flow.project_id.clone(),
            people: t.people as u64,
            target_fmr: login.target_fmr,
            target_fpir: login.target_fpir,
            fnir_ceiling: login.fnir_ceiling,
            match_min_score: login.match_min_score,
            verify_threshold: t.verify,
            verify_fmr: rate(t.verify_fmr),
            verify_fnmr: rate(t.verify_fnmr),
            identify_threshold: t.identify,
            identify_fpir: rate(t.identify_fpir),
            identify_fnir: rate(t.identify_fnir),
            identify_on: t.identify_on(),
            identify_off_reason: match t.identify_availability {
                Availability::On => None,
                Availability::Off(r) => serde_json::to_value(r)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string)),
            },
            identify_capacity: capacity.map(|c| c as u64),
            site_refined: t.site_refined,
            calibration: model.map(|c| c.made_with.clone()),
        })
    })
    .await?;
    Ok(ok(rates, ""))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn base64_images() {
        assert_eq!(decode_b64_image("aGVsbG8=", 100).unwrap(), b"hello");
        assert_eq!(
            decode_b64_image("data:image/png;base64,aGVsbG8=", 100).unwrap(),
            b"hello"
        );
        assert_eq!(
            decode_b64_image("", 100).unwrap_err().code,
            ErrorCode::ImageEmpty
        );
        assert_eq!(
            decode_b64_image("!!!!", 100).unwrap_err().code,
            ErrorCode::ImageCorrupt
        );
        assert_eq!(
            decode_b64_image("aGVsbG8=", 3).unwrap_err().code,
            ErrorCode::ImageTooLarge
        );
    }
}
