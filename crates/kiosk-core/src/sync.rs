//! Sync with the Access API: push the outbox in order (events in idempotent batches, queued
//! enrolments one by one), then pull the template delta feed into the cache. Nothing is
//! marked sent before the server acknowledged it, and every item keeps the client-made id it
//! was queued with, so a crash at any point and a retry never duplicate an event.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use access_types::{
    ErrorCode, KioskPolicy, OfflineEvent, RegisterFaceRequest, SyncEventsRequest, TemplateOp,
};
use kiosk_store::ServerChange;
use serde::Serialize;

use crate::error::{KioskError, Result};
use crate::outbox::Queued;
use crate::{Kiosk, Mode};
use kiosk_store::{AuditDecision, AuditMethod};

pub(crate) const LAST_SYNC_KEY: &str = "last_sync";
pub(crate) const CURSOR_KEY: &str = "template_cursor";
/// When this kiosk's store was first opened: its offline window counts from there until a
/// first good sync.
pub(crate) const FIRST_OPENED_KEY: &str = "first_opened";
/// The last [`KioskPolicy`] the API gave (JSON), for decisions made offline.
pub(crate) const POLICY_KEY: &str = "offline_policy";
const BATCH: usize = 100;
/// Template changes asked for per page of the feed.
const FEED_PAGE: u32 = 200;

/// Between sync rounds the loop asks the API's health check every 1 to 2 s, online or not, the
/// delay drawn afresh each time so a hundred kiosks do not reconnect in lockstep.
const PROBE_EVERY_MS: std::ops::RangeInclusive<u64> = 1000..=2000;
/// Rounds fall within this fraction either side of their interval, drawn afresh each round, so
/// a fleet that started together (power back on a site) does not keep syncing in lockstep.
const ROUND_SPREAD: f64 = 0.2;
/// How long a probe may take before the API counts as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);
/// Visitor actions probe at once, but not more often than this.
const PROBE_MIN_GAP: Duration = Duration::from_millis(500);

/// What the UI shows: connectivity, what waits to be sent, the cache size.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SyncStatus {
    pub online: bool,
    pub pending_events: u64,
    pub templates: u64,
    pub last_sync: Option<String>,
    pub last_error: Option<String>,
    /// When the server said this kiosk was revoked: it decides nothing (faces, codes) until
    /// it is paired again.
    pub revoked_at: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SyncReport {
    pub online: bool,
    pub events_sent: usize,
    pub events_already_known: usize,
    /// Events the server refused for good (unsigned, wrongly signed, another project...).
    pub events_refused: usize,
    pub enrolments_sent: usize,
    pub enrolments_refused: usize,
    pub templates_pulled: usize,
    pub templates_deleted: usize,
    /// Pages of the template feed read (0: the server said nothing changed).
    pub feed_pages: usize,
    pub erasures_sent: usize,
    /// Whether the API gave an offline policy (a server without `/sync/policy` does not).
    pub policy: bool,
    pub pending: u64,
}

impl Kiosk {
    /// One full sync. Offline is not an error: the report says `online: false`.
    pub async fn sync_once(&self) -> Result<SyncReport> {
        let _one_at_a_time = self.sync_lock.lock().await;
        let mut report = SyncReport::default();
        let result = match self.ensure_paired().await {
            Err(e) => Err(e),
            Ok(()) => match self.online_parts() {
                None => Err(KioskError::NotConfigured),
                Some((client, project)) => self.push_and_pull(&client, &project, &mut report).await,
            },
        };
        report.pending = self.store().pending_count()?;
        let last_error = match result {
            Ok(()) => {
                report.online = true;
                self.sync_refused.store(false, Ordering::SeqCst);
                self.store()
                    .set_setting(LAST_SYNC_KEY, &kiosk_store::now_rfc3339())?;
                None
            }
            Err(KioskError::Api(e)) if e.is_offline() => Some(e.to_string()),
            Err(KioskError::NotConfigured) => Some(KioskError::NotConfigured.to_string()),
            Err(e) => {
                if let KioskError::Api(api) = &e {
                    self.note_api_error(api);
                }
                self.sync_refused.store(true, Ordering::SeqCst);
                self.publish(false, Some(e.to_string()))?;
                return Err(e);
            }
        };
        self.publish(report.online, last_error)?;
        Ok(report)
    }

    fn publish(&self, online: bool, last_error: Option<String>) -> Result<()> {
        let store = self.store();
        let status = SyncStatus {
            online,
            pending_events: store.pending_count()?,
            templates: store.template_count()?,
            last_sync: store.setting(LAST_SYNC_KEY)?,
            last_error,
            revoked_at: store
                .setting(crate::trust::REVOKED_KEY)?
                .filter(|s| !s.is_empty()),
        };
        drop(store);
        // Watchers wake only for a change (the UI redraws on each).
        self.status.send_if_modified(|s| {
            let changed = *s != status;
            *s = status;
            changed
        });
        Ok(())
    }

    /// Publishes the outbox and cache counts as they are now, connectivity unchanged: called
    /// whenever the engine changes either, so the staff screen never waits for a sync round.
    pub(crate) fn publish_counts(&self) {
        let counts = {
            let store = self.store();
            store
                .pending_count()
                .and_then(|p| Ok((p, store.template_count()?)))
        };
        match counts {
            Ok((pending, templates)) => {
                self.status.send_if_modified(|s| {
                    let changed = (s.pending_events, s.templates) != (pending, templates);
                    s.pending_events = pending;
                    s.templates = templates;
                    changed
                });
            }
            Err(e) => tracing::warn!(code = e.code(), "status counts unreadable: {e}"),
        }
    }

    /// Publishes connectivity learnt from a call made anyway (a probe, a visitor's code or
    /// face): reachable clears the last error, unreachable records why.
    pub(crate) fn publish_reachability(&self, reachable: std::result::Result<(), String>) {
        self.status.send_if_modified(|s| match reachable {
            Ok(()) => {
                let changed = !s.online || s.last_error.is_some();
                s.online = true;
                s.last_error = None;
                changed
            }
            Err(why) => {
                let changed = s.online;
                if changed {
                    s.online = false;
                    s.last_error = Some(why);
                }
                changed
            }
        });
    }

    /// Asks the API's health check (cheap: no token, no retry, at most 1.5 s) whether it is
    /// reachable, and publishes what that changes. A kiosk whose last sync was refused for
    /// another reason (its token, its project) stays offline until a sync round succeeds.
    pub async fn probe(&self) -> bool {
        let Some((client, _)) = self.online_parts() else {
            return false;
        };
        match client.health(PROBE_TIMEOUT).await {
            Ok(_) => {
                if !self.sync_refused.load(Ordering::SeqCst) {
                    self.publish_reachability(Ok(()));
                }
                true
            }
            Err(e) => {
                self.publish_reachability(Err(e.to_string()));
                false
            }
        }
    }

    /// A visitor did something (touched the screen, chose a method): the sync loop probes the
    /// API at once rather than at its next turn, so the screen they look at is up to date.
    pub fn visitor_active(&self) {
        self.wake.notify_one();
    }

    /// Sends one queued enrolment sample. Only a definite answer (a 4xx error envelope) drops
    /// it; anything else (offline, 5xx, garbage) leaves it queued for the next round.
    async fn push_upload(
        &self,
        client: &access_client::AccessClient,
        client_id: &str,
        upload: crate::outbox::FaceUpload,
        report: &mut SyncReport,
    ) -> Result<()> {
        let req = RegisterFaceRequest {
            user_id: upload.user_id,
            project_id: upload.project_id,
            face_image: upload.face_image,
            project_flow_id: None,
            captured_at: upload.captured_at,
            source: upload.source,
        };
        match client.register_face(&req, Some(client_id)).await {
            Ok(r) => {
                if let Some(local) = upload.local_template_id {
                    self.store().link_server_id(local, &r.template_id)?;
                }
                self.store().mark_sent(&[client_id.to_string()])?;
                self.publish_counts();
                report.enrolments_sent += 1;
            }
            Err(e) if !refuses_the_item(&e) => return Err(e.into()),
            Err(e) => {
                // Not this person's face, someone else's already, or not a kiosk's to add
                // (the server's people rules): the server's refusal stands here too, the
                // sample leaves this kiosk's gallery.
                if matches!(
                    e.api_code(),
                    Some(
                        ErrorCode::SampleMismatch
                            | ErrorCode::DuplicateFace
                            | ErrorCode::PersonErased
                            | ErrorCode::ReenrolmentNeedsApproval
                            | ErrorCode::TooManySamples
                            | ErrorCode::FileSourceNeedsAdmin
                    )
                ) && let Some(local) = upload.local_template_id
                {
                    let mut store = self.store();
                    store.delete_template(local)?;
                    // Erased elsewhere while this kiosk was offline: nothing of them stays.
                    if matches!(
                        e.api_code(),
                        Some(ErrorCode::PersonErased | ErrorCode::ReenrolmentNeedsApproval)
                    ) && !store.templates()?.iter().any(|t| t.user_id == req.user_id)
                    {
                        store.delete_user(&req.user_id)?;
                    }
                    drop(store);
                    self.refresh_gallery()?;
                }
                // The server refused the sample for good (its own quality gate, an unknown
                // project): keep the local enrolment, record why, move on.
                let mut a = self.entry(
                    AuditMethod::Enrolment,
                    AuditDecision::UploadRefused,
                    Mode::Online,
                );
                a.user_id = Some(req.user_id.clone());
                a.detail = Some(format!("{}: {e}", e.code()));
                self.audit(a);
                self.store().mark_attempt_failed(client_id, e.code())?;
                self.store().mark_sent(&[client_id.to_string()])?;
                self.publish_counts();
                report.enrolments_refused += 1;
            }
        }
        Ok(())
    }

    async fn push_and_pull(
        &self,
        client: &access_client::AccessClient,
        project: &str,
        report: &mut SyncReport,
    ) -> Result<()> {
        // ---- push, in queue order
        loop {
            let items = self.store().pending(BATCH)?;
            let Some(first) = items.first() else { break };
            let queued = match Queued::read(&first.kind, &first.payload) {
                Ok(q) => q,
                Err(e) => {
                    // A newer kiosk's kind, or damage: it cannot be sent by this version, and
                    // must not block what is queued behind it. It stays in the store, marked.
                    tracing::warn!(error = %e, "outbox item skipped");
                    self.store()
                        .mark_attempt_failed(&first.client_id, &e.to_string())?;
                    self.store()
                        .mark_sent(std::slice::from_ref(&first.client_id))?;
                    continue;
                }
            };
            match queued {
                Queued::Event(_) => {
                    // Consecutive events go in one idempotent batch.
                    let events: Vec<OfflineEvent> = items
                        .iter()
                        .map_while(|i| match Queued::read(&i.kind, &i.payload) {
                            Ok(Queued::Event(e)) => Some(self.signed_as_paired(&e, &i.client_id)),
                            _ => None,
                        })
                        .collect();
                    // Item ids by event id: older items carry no event id of their own.
                    let item_of: std::collections::HashMap<String, String> = events
                        .iter()
                        .zip(&items)
                        .map(|(e, i)| (e.event_id.clone(), i.client_id.clone()))
                        .collect();
                    let resp = client
                        .sync_events(&SyncEventsRequest {
                            kiosk_id: None,
                            events,
                        })
                        .await?;
                    report.events_sent += resp.accepted.len();
                    report.events_already_known += resp.duplicates.len();
                    // Refused for good (unsigned, bad signature, another project...): sending
                    // again cannot help; the audit keeps why.
                    for r in &resp.refused {
                        let mut a = self.entry(
                            AuditMethod::Face,
                            AuditDecision::EventRefused,
                            Mode::Online,
                        );
                        a.detail = Some(format!("{} {}: {}", r.event_id, r.reason, r.detail));
                        self.audit(a);
                    }
                    report.events_refused += resp.refused.len();
                    let acked: Vec<String> = resp
                        .accepted
                        .into_iter()
                        .chain(resp.duplicates)
                        .chain(resp.refused.into_iter().map(|r| r.event_id))
                        .filter_map(|id| item_of.get(&id).cloned())
                        .collect();
                    if acked.is_empty() {
                        // The server took none of them: stop rather than loop.
                        break;
                    }
                    self.store().mark_sent(&acked)?;
                    self.publish_counts();
                }
                Queued::RegisterFace(upload) => {
                    self.push_upload(client, &first.client_id, upload, report)
                        .await?
                }
                Queued::EraseUser(erasure) => {
                    self.push_erasure(client, &first.client_id, erasure, report)
                        .await?
                }
            }
        }

        // ---- pull the delta feed, a page at a time into the store (a kiosk joining a large
        // project holds one page in memory, not the project); "nothing new" is a 304
        let model = self.model_id;
        let mut cursor = self.store().setting(CURSOR_KEY)?;
        loop {
            let Some(page) = client
                .sync_templates(project, cursor.as_deref(), Some(FEED_PAGE))
                .await?
            else {
                break;
            };
            report.feed_pages += 1;
            let changes: Vec<ServerChange> = page
                .items
                .iter()
                .filter_map(|c| match (c.op, &c.embedding) {
                    (TemplateOp::Upsert, Some(e)) if c.model_id == model => {
                        Some(ServerChange::Upsert {
                            server_id: c.template_id.clone(),
                            user_id: c.user_id.clone(),
                            model_id: c.model_id.clone(),
                            embedding: e.clone(),
                        })
                    }
                    (TemplateOp::Delete, _) => Some(ServerChange::Delete {
                        server_id: c.template_id.clone(),
                    }),
                    _ => None,
                })
                .collect();
            report.templates_pulled += changes
                .iter()
                .filter(|c| matches!(c, ServerChange::Upsert { .. }))
                .count();
            report.templates_deleted += changes
                .iter()
                .filter(|c| matches!(c, ServerChange::Delete { .. }))
                .count();
            self.store()
                .apply_server_changes(&changes, CURSOR_KEY, &page.next_cursor)?;
            let advanced = cursor.as_deref() != Some(page.next_cursor.as_str());
            cursor = Some(page.next_cursor);
            if !page.has_more || !advanced {
                break;
            }
        }
        // Rebuilt (every template decrypted) only when the feed brought something: a 304
        // round costs the kiosk nothing.
        if report.feed_pages > 0 {
            self.refresh_gallery()?;
        }

        // ---- the offline policy (flow state, methods, lists)
        match client.sync_policy(project).await {
            Ok(mut policy) => {
                // A rotation, signed by a key this kiosk pinned (else ignored, and logged).
                if let Some(keys) = policy.signing_keys.take() {
                    self.learn_keys(&keys)?;
                }
                let json = serde_json::to_string(&policy).unwrap_or_default();
                self.store().set_setting(POLICY_KEY, &json)?;
                report.policy = true;
            }
            // A server that predates the endpoint: nothing to cache, the sync is still good.
            Err(access_client::ClientError::Api {
                code: ErrorCode::NotFound,
                ..
            }) => {}
            Err(e) => return Err(e.into()),
        }
        // What administrators see in the kiosk list; a failure here is no failed round.
        if self.paired_kiosk_id().is_some() {
            let pending = self.store().pending_count()?;
            let status = access_types::kiosk_identity::KioskStatusReport {
                version: Some(env!("CARGO_PKG_VERSION").to_string()),
                pending_events: pending,
            };
            if let Err(e) = client.report_status(&status).await {
                tracing::debug!(error = %e, "status report not taken");
            }
        }
        Ok(())
    }

    /// Sends one queued erasure. Acknowledged (however many samples the server had), it is
    /// done; a definite refusal (an unknown project) is audited and dropped; anything else
    /// keeps it queued, and blocks what follows (so nothing of the person is uploaded or
    /// pulled back before the server has erased them).
    async fn push_erasure(
        &self,
        client: &access_client::AccessClient,
        client_id: &str,
        erasure: crate::outbox::Erasure,
        report: &mut SyncReport,
    ) -> Result<()> {
        let result = client
            .erase_user(&erasure.project_id, &erasure.user_id)
            .await;
        let mut a = self.entry(AuditMethod::Admin, AuditDecision::UserDeleted, Mode::Online);
        a.user_id = Some(erasure.user_id.clone());
        match result {
            Ok(d) => {
                a.detail = Some(format!(
                    "erased on the server: {} samples",
                    d.templates_deleted
                ));
                report.erasures_sent += 1;
            }
            Err(e) if !refuses_the_item(&e) => return Err(e.into()),
            Err(e) => {
                a.decision = AuditDecision::UploadRefused;
                a.detail = Some(format!("erasure refused: {}: {e}", e.code()));
                self.store().mark_attempt_failed(client_id, e.code())?;
                // The person stays enrolled at the server (someone else enrolled or confirmed
                // them: an administrator's erasure): the feed from its start brings their
                // samples back to this kiosk, which dropped them when asked.
                if e.api_code() == Some(ErrorCode::ErasureNeedsAdmin) {
                    self.store().set_setting(CURSOR_KEY, "0")?;
                }
            }
        }
        self.audit(a);
        self.store().mark_sent(&[client_id.to_string()])?;
        self.publish_counts();
        Ok(())
    }

    /// The policy the API last gave for the kiosk's project now, if any (one saved for a
    /// project the kiosk has since left says nothing). One that does not parse is an error
    /// (`OFFLINE_POLICY_UNREADABLE`, logged): the refusals it held must not silently vanish.
    pub(crate) fn offline_policy(&self) -> Result<Option<KioskPolicy>> {
        let project = self.live().settings.project_id.clone();
        let Some(json) = self.store().setting(POLICY_KEY)? else {
            return Ok(None);
        };
        let policy = serde_json::from_str::<KioskPolicy>(&json).map_err(|e| {
            tracing::error!("the saved offline policy cannot be read: {e}");
            KioskError::OfflinePolicyUnreadable(e.to_string())
        })?;
        Ok(Some(policy).filter(|p| Some(&p.project_id) == project.as_ref()))
    }

    /// The face thresholds this kiosk decides by: the flow's error-rate targets (from the
    /// last policy the server sent; the defaults before the first) turned into thresholds for
    /// the cached gallery by `vision::decision`, never under the kiosk's `match_threshold`.
    /// An unreadable policy gives the defaults here: online the server decides, and offline
    /// the sign-in is refused before the cache is asked.
    pub(crate) fn face_thresholds(&self) -> Result<vision::decision::Thresholds> {
        let policy = self.offline_policy().unwrap_or(None);
        let targets =
            policy
                .and_then(|p| p.flow)
                .map_or_else(vision::decision::FaceTargets::default, |f| {
                    vision::decision::FaceTargets {
                        target_fmr: f.login.target_fmr,
                        target_fpir: f.login.target_fpir,
                        fnir_ceiling: f.login.fnir_ceiling,
                        threshold_override: f.login.match_min_score,
                    }
                });
        let floor = self.live().settings.match_threshold;
        Ok(self
            .gallery
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .thresholds(&targets, floor))
    }

    /// Refuses a face decided from the cache when the last good sync (or, before the first,
    /// the store's creation) is more than `offline_max_hours` ago.
    pub(crate) fn check_offline_window(&self, now_unix: i64) -> Result<()> {
        let store = self.store();
        let since = match store.setting(LAST_SYNC_KEY)? {
            Some(t) => Some(t),
            None => store.setting(FIRST_OPENED_KEY)?,
        };
        drop(store);
        let since_unix = since.as_deref().and_then(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .ok()
                .map(|t| t.unix_timestamp())
        });
        if offline_window_open(since_unix, now_unix, self.cfg.offline_max_hours) {
            return Ok(());
        }
        Err(KioskError::OfflineTooLong {
            max_hours: self.cfg.offline_max_hours.max(0.0),
            last_sync: since.unwrap_or_else(|| "never".into()),
        })
    }
}

/// Whether a kiosk whose last good sync was at `since_unix` may still decide faces on its own
/// at `now_unix`: less than `max_hours` ago. An unknown time, or 0 hours, never.
pub(crate) fn offline_window_open(since_unix: Option<i64>, now_unix: i64, max_hours: f64) -> bool {
    let Some(since) = since_unix else {
        return false;
    };
    let elapsed_s = (now_unix - since).max(0) as f64;
    max_hours > 0.0 && elapsed_s < max_hours * 3600.0
}

impl Kiosk {
    /// The wire event, signed as the kiosk id this kiosk has now: an event decided before
    /// the kiosk was paired (signed under its configured name) is signed again by the same
    /// device key, for the id the server knows the key by.
    fn signed_as_paired(&self, e: &crate::outbox::SignedEvent, client_id: &str) -> OfflineEvent {
        let mut wire = e.to_wire(client_id);
        let now_id = self.kiosk_id();
        if e.kiosk_id.as_deref() != Some(now_id.as_str()) {
            wire.sign(&now_id, |m| {
                access_client::DeviceSigner::sign(&*self.device_key, m)
            });
        }
        wire
    }
}

/// A definite refusal of this one item (bad image, unknown project...), as opposed to a problem
/// of the kiosk or the network (token, rate limit, 5xx, garbage) that retrying later can fix.
fn refuses_the_item(e: &access_client::ClientError) -> bool {
    // A 403 is the credential's (revoked, another project) unless its code is about this
    // item: the server's people rules.
    matches!(e, access_client::ClientError::Api { status, .. }
        if matches!(status, 400 | 404 | 409 | 410 | 413 | 415 | 422))
        || matches!(
            e.api_code(),
            Some(ErrorCode::ErasureNeedsAdmin | ErrorCode::FileSourceNeedsAdmin)
        )
}

/// The background sync: a round every `interval` (±20 %) while online, backing off (doubling, up to a
/// minute) while offline. Between rounds it probes the API's health check every 1 to 2 s
/// (jittered) and at once when a visitor acts ([`Kiosk::visitor_active`]), so the status flips
/// within a probe of the server going or coming back; coming back starts a round at once (what
/// waited in the outbox goes out). The status stream (`Kiosk::status`) reports each change.
pub fn spawn_sync_loop(kiosk: Arc<Kiosk>, interval: Duration) -> tokio::task::JoinHandle<()> {
    use tokio::time::Instant;
    tokio::spawn(async move {
        let mut wait = interval;
        let mut next_round = Instant::now();
        let mut last_probe = Instant::now();
        loop {
            if Instant::now() >= next_round {
                match kiosk.sync_once().await {
                    Ok(r) if r.online => wait = interval,
                    Ok(_) => wait = (wait * 2).min(Duration::from_secs(60)),
                    Err(e) => {
                        tracing::warn!(code = e.code(), "sync failed: {e}");
                        wait = (wait * 2).min(Duration::from_secs(60));
                    }
                }
                next_round = Instant::now() + spread(wait, &mut rand::rng());
            }
            let nap = probe_delay().min(next_round.saturating_duration_since(Instant::now()));
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                _ = kiosk.wake.notified() => {
                    tokio::time::sleep_until(last_probe + PROBE_MIN_GAP).await;
                }
            }
            if Instant::now() >= next_round {
                continue;
            }
            let was_online = kiosk.status.borrow().online;
            let reachable = kiosk.probe().await;
            last_probe = Instant::now();
            if reachable && !was_online && !kiosk.sync_refused.load(Ordering::SeqCst) {
                next_round = Instant::now();
            }
        }
    })
}

/// The delay to the next round: `base` spread by [`ROUND_SPREAD`].
fn spread(base: Duration, rng: &mut impl rand::Rng) -> Duration {
    base.mul_f64(rng.random_range(1.0 - ROUND_SPREAD..=1.0 + ROUND_SPREAD))
}

/// The next probe's delay, drawn from [`PROBE_EVERY_MS`].
fn probe_delay() -> Duration {
    use rand::Rng as _;
    Duration::from_millis(rand::rng().random_range(PROBE_EVERY_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_intervals_spread_twenty_percent_either_side() {
        use rand::SeedableRng as _;
        let mut rng = rand::rngs::StdRng::seed_from_u64(14);
        let base = Duration::from_secs(10);
        let ms: Vec<u128> = (0..1000)
            .map(|_| spread(base, &mut rng).as_millis())
            .collect();
        let (lo, hi) = (*ms.iter().min().unwrap(), *ms.iter().max().unwrap());
        assert!((8000..=12000).contains(&lo) && (8000..=12000).contains(&hi));
        // Spread over the whole band, not bunched: both ends reached, every second filled.
        assert!(lo < 8200 && hi > 11800, "{lo}..{hi}");
        for s in 8..12u128 {
            let n = ms.iter().filter(|m| **m / 1000 == s).count();
            assert!((150..=350).contains(&n), "{n} rounds in second {s}");
        }
    }

    #[test]
    fn the_offline_window_closes_after_max_hours() {
        let t0 = 1_000_000;
        assert!(offline_window_open(Some(t0), t0, 72.0));
        assert!(offline_window_open(Some(t0), t0 + 72 * 3600 - 1, 72.0));
        assert!(!offline_window_open(Some(t0), t0 + 72 * 3600, 72.0));
        // A clock set back counts as no time gone; 0 hours and an unknown time never open it.
        assert!(offline_window_open(Some(t0), t0 - 10, 72.0));
        assert!(!offline_window_open(Some(t0), t0, 0.0));
        assert!(!offline_window_open(None, t0, 72.0));
        // Fractions of an hour count.
        assert!(offline_window_open(Some(t0), t0 + 3, 0.001));
        assert!(!offline_window_open(Some(t0), t0 + 4, 0.001));
    }
}
