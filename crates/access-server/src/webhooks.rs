//! Webhooks: subscriptions, a durable delivery queue in the store, Standard Webhooks signing.
//!
//! Events are queued in the same transaction as the state change that caused them, so an
//! event exists iff the change committed. Workers (one per server process, any number of
//! processes on one database) claim each delivery with a lease before sending it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::sql::{Connection, OptionalExtension, Row};
use access_types::{
    CreateWebhookRequest, CreatedWebhook, DeliveryAttempt, DeliveryStatus, ErrorCode,
    UpdateWebhookRequest, Webhook, WebhookDelivery, WebhookEvent, WebhookEventType,
};
use axum::extract::{Path, State};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::watch;

use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AdminAuth, ApiJson, ApiQuery};
use crate::flows::{load_flow, project_exists};
use crate::state::AppState;
use crate::{created, ids, ok};

/// Queue `event_type` for every enabled webhook of the project (and of the flow, if the
/// webhook is flow-scoped) that subscribes to it.
pub fn enqueue(
    tx: &Connection,
    project_id: &str,
    flow_id: &str,
    event_type: WebhookEventType,
    data: Value,
    now: i64,
) -> crate::sql::Result<usize> {
    let mut st = tx.prepare_cached(
        "SELECT id, events_json FROM webhooks
         WHERE project_id = ?1 AND enabled = 1 AND (flow_id IS NULL OR flow_id = ?2)",
    )?;
    let hooks = st
        .query_map(rusqlite::params![project_id, flow_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut n = 0;
    for (hook_id, events_json) in hooks {
        let events: Vec<String> = serde_json::from_str(&events_json).unwrap_or_default();
        if !events.is_empty() && !events.iter().any(|e| e == event_type.as_str()) {
            continue;
        }
        let payload = WebhookEvent {
            event_type: event_type.as_str().to_string(),
            timestamp: rfc3339(now),
            data: data.clone(),
        };
        let body = serde_json::to_string(&payload).unwrap_or_default();
        tx.execute(
            "INSERT INTO webhook_deliveries(id, webhook_id, event_type, payload, status, attempts,
               next_attempt_at, created_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5)",
            rusqlite::params![ids::new_id("msg"), hook_id, event_type.as_str(), body, now],
        )?;
        n += 1;
    }
    Ok(n)
}

/// `v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`; the key is the base64 part of
/// `whsec_...`.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix("whsec_")?).ok()?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).ok()?;
    mac.update(format!("{msg_id}.{timestamp}.{body}").as_bytes());
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

fn new_secret() -> String {
    format!("whsec_{}", STANDARD.encode(ids::random_bytes::<24>()))
}

struct Due {
    id: String,
    webhook_id: String,
    url: String,
    secret: String,
    payload: String,
    attempts: u32,
}

/// How long a claim on a delivery holds: the request's timeout plus a margin for recording
/// the attempt. A worker that died mid-delivery loses it then, and the job is retried.
fn lease_ms(cfg: &crate::config::WebhookConfig) -> i64 {
    cfg.timeout_ms as i64 + 30_000
}

/// Claims the oldest due delivery of an endpoint that has none under way anywhere (in this
/// process or another on the same database): one statement, so two workers never get the
/// same job. The lease marks the endpoint busy until the attempt is recorded.
fn claim_one(c: &Connection, worker: &str, now: i64, lease_until: i64) -> ApiResult<Option<Due>> {
    let claimed = crate::db::row(
        c,
        "UPDATE webhook_deliveries SET claimed_by = ?1, lease_until = ?2
         WHERE id = (
           SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
           WHERE d.status = 'pending' AND d.next_attempt_at <= ?3 AND w.enabled = 1
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries o
                             WHERE o.webhook_id = d.webhook_id AND o.status = 'pending'
                               AND o.lease_until > ?3)
           ORDER BY d.next_attempt_at, d.created_at, d.id LIMIT 1)
         RETURNING id, webhook_id, payload, attempts",
        rusqlite::params![worker, lease_until, now],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, u32>(3)?,
            ))
        },
    )
    .optional()?;
    let Some((id, webhook_id, payload, attempts)) = claimed else {
        return Ok(None);
    };
    let (url, secret) = crate::db::row(
        c,
        "SELECT url, secret FROM webhooks WHERE id = ?1",
        [&webhook_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(Some(Due {
        id,
        webhook_id,
        url,
        secret,
        payload,
        attempts,
    }))
}

/// The delivery worker. Runs until `stop` flips to true.
pub async fn run_worker(st: AppState, mut stop: watch::Receiver<bool>) {
    let client = match st
        .outbound
        .client(Some(Duration::from_millis(st.cfg.webhooks.timeout_ms)))
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook worker cannot build its HTTP client");
            return;
        }
    };
    let client = Arc::new(client);
    // Names this worker's claims; unique per start, so a restarted process waits out the
    // leases of its previous life like any other worker's.
    let worker: Arc<str> = ids::new_id("wkr").into();
    let tasks = Arc::new(tokio::sync::Mutex::new(tokio::task::JoinSet::new()));
    let poll = Duration::from_millis(st.cfg.webhooks.poll_ms.max(10));
    let mut last_sweep = Instant::now();
    loop {
        if *stop.borrow() {
            release(&st, &worker, &tasks).await;
            return;
        }
        // The retention sweep (retention.rs): aged-out history, and the rate-limit buckets of
        // keys that never came back (never one still counting).
        if last_sweep.elapsed() > Duration::from_secs(60) {
            last_sweep = Instant::now();
            let now = st.clock.now_ms();
            let cfg = st.cfg.retention.clone();
            if let Err(e) = st
                .db
                .call(move |c| crate::retention::sweep(c, &cfg, now))
                .await
            {
                tracing::warn!(error = %e, "retention sweep failed");
            }
        }
        let worked = if !st.hooks_exist.load(Ordering::Relaxed) {
            false
        } else {
            match drain_once(&st, &client, &worker, &tasks).await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook queue poll failed");
                    false
                }
            }
        };
        if worked {
            continue;
        }
        tokio::select! {
            _ = st.webhook_wake.notified() => {}
            _ = tokio::time::sleep(poll) => {
                // Another server on this database may have added the first webhook.
                if !st.hooks_exist.load(Ordering::Relaxed) {
                    refresh_hooks_flag(&st).await;
                }
            }
            _ = stop.changed() => {}
        }
    }
}

/// On shutdown: stops the deliveries under way and gives their jobs back at once, so a
/// restarted server (or another one) need not wait for the leases to run out. A receiver may
/// have had one of them already: delivery is at least once, `webhook-id` tells it.
async fn release(
    st: &AppState,
    worker: &Arc<str>,
    tasks: &Arc<tokio::sync::Mutex<tokio::task::JoinSet<()>>>,
) {
    tasks.lock().await.shutdown().await;
    let w = worker.clone();
    let r = st
        .db
        .call(move |c| {
            Ok(crate::db::exec(
                c,
                "UPDATE webhook_deliveries SET claimed_by = NULL, lease_until = NULL
                 WHERE claimed_by = ?1",
                [&*w],
            )?)
        })
        .await;
    if let Err(e) = r {
        tracing::warn!(error = %e, "webhook leases not released; they run out on their own");
    }
}

/// Most deliveries in flight at once, across all endpoints.
const MAX_IN_FLIGHT: usize = 64;

/// Claims the deliveries due now whose endpoint has none under way, up to the in-flight
/// bound, and starts each on its own task (one per endpoint at a time: its events stay in
/// order; a slow or dead receiver delays only its own queue). Returns how many started.
async fn drain_once(
    st: &AppState,
    client: &Arc<reqwest::Client>,
    worker: &Arc<str>,
    tasks: &Arc<tokio::sync::Mutex<tokio::task::JoinSet<()>>>,
) -> ApiResult<usize> {
    let mut tasks = tasks.lock().await;
    // Reap the finished ones.
    while tasks.try_join_next().is_some() {}
    let room = MAX_IN_FLIGHT.saturating_sub(tasks.len());
    if room == 0 {
        return Ok(0);
    }
    let now = st.clock.now_ms();
    let lease_until = now + lease_ms(&st.cfg.webhooks);
    let w = worker.clone();
    let due: Vec<Due> = st
        .db
        .call(move |c| {
            let mut out = Vec::new();
            while out.len() < room {
                match claim_one(c, &w, now, lease_until)? {
                    Some(d) => out.push(d),
                    None => break,
                }
            }
            Ok(out)
        })
        .await?;
    let started = due.len();
    for d in due {
        let (st, client, worker) = (st.clone(), client.clone(), worker.clone());
        tasks.spawn(async move {
            deliver(&st, &client, &worker, d).await;
            // That endpoint's next event may be due: look again now.
            st.webhook_wake.notify_one();
        });
    }
    Ok(started)
}

async fn deliver(st: &AppState, client: &reqwest::Client, worker: &str, d: Due) {
    let ts = st.clock.now_ms() / 1000;
    let started = Instant::now();
    // Checked again at every call: a URL saved before the check existed, or an IP literal.
    let allowed = st.outbound.check(&d.url).map_err(|e| e.reason());
    let result = match (sign(&d.secret, &d.id, ts, &d.payload), allowed) {
        (_, Err(why)) => Err(format!("destination not allowed: {why}")),
        (None, _) => Err("webhook secret unusable".to_string()),
        (Some(sig), Ok(_)) => client
            .post(&d.url)
            .header("content-type", "application/json")
            .header("webhook-id", &d.id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .body(d.payload.clone())
            .send()
            .await
            .map(|r| {
                // A receiver that is overloaded may say when to come back (seconds form).
                let retry_after = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                (r.status().as_u16(), retry_after)
            })
            .map_err(|e| {
                // Without the URL: it may carry a customer's token in its query.
                let kind = if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "connect"
                } else {
                    "request"
                };
                format!("{kind} error")
            }),
    };
    let duration_ms = started.elapsed().as_millis() as i64;
    let now = st.clock.now_ms();
    let attempt = d.attempts + 1;
    let cfg = st.cfg.webhooks.clone();
    let Due { id, webhook_id, .. } = d;
    let gone = matches!(result, Ok((410, _)));
    let worker = worker.to_string();
    let r = st
        .db
        .tx(move |tx| {
            // Our lease lapsed and another worker took the job: its outcome is the one to keep.
            let ours = crate::db::exec(
                tx,
                "UPDATE webhook_deliveries SET claimed_by = NULL, lease_until = NULL
                 WHERE id = ?1 AND claimed_by = ?2",
                rusqlite::params![id, worker],
            )?;
            if ours == 0 {
                tracing::warn!(delivery = %id, "webhook lease lapsed during delivery");
                return Ok(());
            }
            let (code, retry_after, err) = match &result {
                Ok((c, ra)) => (Some(*c), *ra, None),
                Err(e) => (None, None, Some(e.clone())),
            };
            tx.execute(
                "INSERT INTO webhook_attempts(delivery_id, attempt, at, status_code, error, duration_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![id, attempt, now, code, err, duration_ms],
            )?;
            match code {
                Some(c) if (200..300).contains(&c) => {
                    tx.execute(
                        "UPDATE webhook_deliveries SET status = 'delivered', attempts = ?1,
                         delivered_at = ?2, next_attempt_at = NULL WHERE id = ?3",
                        rusqlite::params![attempt, now, id],
                    )?;
                }
                Some(410) => {
                    // 410 Gone: the receiver asks us to stop; disable and drop what is queued.
                    tx.execute(
                        "UPDATE webhooks SET enabled = 0, disabled_reason = 'endpoint answered 410 Gone',
                         updated_at = ?1 WHERE id = ?2",
                        rusqlite::params![now, webhook_id],
                    )?;
                    tx.execute(
                        "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL
                         WHERE webhook_id = ?1 AND status = 'pending'",
                        [&webhook_id],
                    )?;
                    tx.execute(
                        "UPDATE webhook_deliveries SET attempts = ?1 WHERE id = ?2",
                        rusqlite::params![attempt, id],
                    )?;
                }
                _ if attempt >= cfg.max_attempts => {
                    tx.execute(
                        "UPDATE webhook_deliveries SET status = 'failed', attempts = ?1,
                         next_attempt_at = NULL WHERE id = ?2",
                        rusqlite::params![attempt, id],
                    )?;
                }
                _ => {
                    let idx = (attempt as usize - 1).min(cfg.backoff_ms.len().saturating_sub(1));
                    let backoff = cfg.backoff_ms.get(idx).copied().unwrap_or(60_000);
                    // Honour Retry-After, capped at a day so a bogus value cannot park it.
                    let asked = retry_after.map(|s| s.min(86_400) * 1000).unwrap_or(0);
                    let wait = backoff.max(asked) as i64;
                    tx.execute(
                        "UPDATE webhook_deliveries SET attempts = ?1, next_attempt_at = ?2 WHERE id = ?3",
                        rusqlite::params![attempt, now + wait, id],
                    )?;
                }
            }
            Ok(())
        })
        .await;
    match r {
        Err(e) => tracing::warn!(error = %e, "recording a webhook attempt failed"),
        Ok(()) if gone => refresh_hooks_flag(st).await,
        Ok(()) => {}
    }
}

/// Recompute `hooks_exist` after webhooks changed.
pub async fn refresh_hooks_flag(st: &AppState) {
    let r = st
        .db
        .call(|c| {
            Ok(c.query_row(
                "SELECT EXISTS(SELECT 1 FROM webhooks WHERE enabled = 1)",
                [],
                |r| r.get::<_, bool>(0),
            )?)
        })
        .await;
    // On error assume there are some: an extra poll is harmless, a missed delivery is not.
    st.hooks_exist.store(r.unwrap_or(true), Ordering::Relaxed);
    st.webhook_wake.notify_one();
}

// ------------------------------------------------------------------------------------------
// Admin endpoints
// ------------------------------------------------------------------------------------------

const HOOK_COLUMNS: &str =
    "id, project_id, flow_id, url, events_json, enabled, disabled_reason, created_at, updated_at";

fn hook_from_row(r: &Row<'_>) -> crate::sql::Result<Webhook> {
    let events: String = r.get(4)?;
    Ok(Webhook {
        id: r.get(0)?,
        project_id: r.get(1)?,
        project_flow_id: r.get(2)?,
        url: r.get(3)?,
        events: serde_json::from_str(&events).unwrap_or_default(),
        enabled: r.get::<_, i64>(5)? != 0,
        disabled_reason: r.get(6)?,
        created_at: rfc3339(r.get(7)?),
        updated_at: rfc3339(r.get(8)?),
    })
}

fn load_hook(c: &Connection, id: &str) -> ApiResult<Webhook> {
    c.query_row(
        &format!("SELECT {HOOK_COLUMNS} FROM webhooks WHERE id = ?1"),
        [id],
        hook_from_row,
    )
    .optional()?
    .ok_or_else(|| ApiError::new(ErrorCode::WebhookNotFound, "unknown webhook"))
}

fn check_url(st: &AppState, url: &str) -> ApiResult<()> {
    st.outbound
        .check(url)
        .map(|_| ())
        .map_err(|e| crate::outbound::refused("url", &e))
}

fn check_events(events: &[String]) -> ApiResult<()> {
    match events.iter().find(|e| WebhookEventType::parse(e).is_none()) {
        Some(bad) => Err(ApiError::bad_request(format!("unknown event type {bad}"))
            .with_details(serde_json::json!({ "known": access_types::webhook_event_types() }))),
        None => Ok(()),
    }
}

#[utoipa::path(
    post,
    path = "/webhooks",
    tag = "webhooks",
    summary = "Create a webhook; the secret is shown once",
    request_body = access_types::CreateWebhookRequest,
    responses((status = 200, description = "success", body = access_types::CreatedWebhook)),
    security(("bearer" = [])),
)]
pub async fn create(
    State(st): State<AppState>,
    _a: AdminAuth,
    ApiJson(req): ApiJson<CreateWebhookRequest>,
) -> ApiResult<Response> {
    check_url(&st, &req.url)?;
    check_events(&req.events)?;
    let now = st.clock.now_ms();
    let secret = new_secret();
    let s2 = secret.clone();
    let hook = st
        .db
        .tx(move |tx| {
            if !project_exists(tx, &req.project_id)? {
                return Err(ApiError::new(
                    ErrorCode::ProjectNotFound,
                    "unknown project_id",
                ));
            }
            if let Some(f) = &req.project_flow_id
                && load_flow(tx, f)?
                    .filter(|f| f.project_id == req.project_id)
                    .is_none()
            {
                return Err(ApiError::new(
                    ErrorCode::FlowNotFound,
                    "unknown project_flow_id",
                ));
            }
            let id = ids::new_id("whk");
            tx.execute(
                "INSERT INTO webhooks(id, project_id, flow_id, url, secret, events_json, enabled,
                   created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7)",
                rusqlite::params![
                    id,
                    req.project_id,
                    req.project_flow_id,
                    req.url,
                    s2,
                    serde_json::to_string(&req.events).unwrap_or_else(|_| "[]".into()),
                    now
                ],
            )?;
            load_hook(tx, &id)
        })
        .await?;
    refresh_hooks_flag(&st).await;
    Ok(created(
        CreatedWebhook {
            webhook: hook,
            secret,
        },
        "webhook created; store the secret now",
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub project_id: Option<String>,
}

#[utoipa::path(
    get,
    path = "/webhooks",
    tag = "webhooks",
    summary = "List webhooks",
    params(("project_id" = Option<String>, Query)),
    responses((status = 200, description = "success", body = Vec<access_types::Webhook>)),
    security(("bearer" = [])),
)]
pub async fn list(
    State(st): State<AppState>,
    _a: AdminAuth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    let hooks = st
        .db
        .call(move |c| {
            let mut s = c.prepare(&format!(
                "SELECT {HOOK_COLUMNS} FROM webhooks WHERE (CAST(?1 AS TEXT) IS NULL OR project_id = ?1) ORDER BY created_at"
            ))?;
            Ok(s.query_map([q.project_id], hook_from_row)?.collect::<Result<Vec<_>, _>>()?)
        })
        .await?;
    Ok(ok(hooks, ""))
}

#[utoipa::path(
    get,
    path = "/webhooks/{id}",
    tag = "webhooks",
    summary = "Get a webhook",
    params(("id" = String, Path)),
    responses((status = 200, description = "success", body = access_types::Webhook)),
    security(("bearer" = [])),
)]
pub async fn get(
    State(st): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let hook = st.db.call(move |c| load_hook(c, &id)).await?;
    Ok(ok(hook, ""))
}

#[utoipa::path(
    patch,
    path = "/webhooks/{id}",
    tag = "webhooks",
    summary = "Update a webhook",
    request_body = access_types::UpdateWebhookRequest,
    params(("id" = String, Path)),
    responses((status = 200, description = "success", body = access_types::Webhook)),
    security(("bearer" = [])),
)]
pub async fn update(
    State(st): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateWebhookRequest>,
) -> ApiResult<Response> {
    if let Some(u) = &req.url {
        check_url(&st, u)?;
    }
    if let Some(e) = &req.events {
        check_events(e)?;
    }
    let now = st.clock.now_ms();
    let hook = st
        .db
        .tx(move |tx| {
            let mut h = load_hook(tx, &id)?;
            if let Some(u) = req.url {
                h.url = u;
            }
            if let Some(e) = req.events {
                h.events = e;
            }
            if let Some(en) = req.enabled {
                h.enabled = en;
                if en {
                    h.disabled_reason = None;
                }
            }
            tx.execute(
                "UPDATE webhooks SET url = ?1, events_json = ?2, enabled = ?3, disabled_reason = ?4,
                 updated_at = ?5 WHERE id = ?6",
                rusqlite::params![
                    h.url,
                    serde_json::to_string(&h.events).unwrap_or_else(|_| "[]".into()),
                    h.enabled,
                    h.disabled_reason,
                    now,
                    id
                ],
            )?;
            load_hook(tx, &id)
        })
        .await?;
    refresh_hooks_flag(&st).await;
    Ok(ok(hook, "webhook updated"))
}

#[utoipa::path(
    delete,
    path = "/webhooks/{id}",
    tag = "webhooks",
    summary = "Delete a webhook",
    params(("id" = String, Path)),
    responses((status = 200, description = "success")),
    security(("bearer" = [])),
)]
pub async fn delete(
    State(st): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    st.db
        .tx(move |tx| {
            load_hook(tx, &id)?;
            tx.execute(
                "DELETE FROM webhook_attempts WHERE delivery_id IN
                   (SELECT id FROM webhook_deliveries WHERE webhook_id = ?1)",
                [&id],
            )?;
            tx.execute(
                "DELETE FROM webhook_deliveries WHERE webhook_id = ?1",
                [&id],
            )?;
            tx.execute("DELETE FROM webhooks WHERE id = ?1", [&id])?;
            Ok(())
        })
        .await?;
    refresh_hooks_flag(&st).await;
    Ok(ok(serde_json::json!({}), "webhook deleted"))
}

/// Delivery log of one webhook, newest first, with every attempt.
#[utoipa::path(
    get,
    path = "/webhooks/{id}/deliveries",
    tag = "webhooks",
    summary = "Delivery log",
    params(("id" = String, Path)),
    responses((status = 200, description = "success", body = Vec<access_types::WebhookDelivery>)),
    security(("bearer" = [])),
)]
pub async fn deliveries(
    State(st): State<AppState>,
    _a: AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let list = st
        .db
        .call(move |c| {
            load_hook(c, &id)?;
            let mut s = c.prepare(
                "SELECT id, webhook_id, event_type, status, attempts, next_attempt_at, created_at,
                        delivered_at
                 FROM webhook_deliveries WHERE webhook_id = ?1 ORDER BY created_at DESC, id LIMIT 500",
            )?;
            let mut out = s
                .query_map([&id], |r| {
                    let status: String = r.get(3)?;
                    Ok(WebhookDelivery {
                        id: r.get(0)?,
                        webhook_id: r.get(1)?,
                        event_type: r.get(2)?,
                        status: match status.as_str() {
                            "delivered" => DeliveryStatus::Delivered,
                            "failed" => DeliveryStatus::Failed,
                            _ => DeliveryStatus::Pending,
                        },
                        attempts: r.get(4)?,
                        next_attempt_at: r.get::<_, Option<i64>>(5)?.map(rfc3339),
                        created_at: rfc3339(r.get(6)?),
                        delivered_at: r.get::<_, Option<i64>>(7)?.map(rfc3339),
                        log: Vec::new(),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut a = c.prepare_cached(
                "SELECT attempt, at, status_code, error, duration_ms FROM webhook_attempts
                 WHERE delivery_id = ?1 ORDER BY attempt",
            )?;
            for d in &mut out {
                d.log = a
                    .query_map([&d.id], |r| {
                        Ok(DeliveryAttempt {
                            attempt: r.get(0)?,
                            at: rfc3339(r.get(1)?),
                            status_code: r.get(2)?,
                            error: r.get(3)?,
                            duration_ms: r.get::<_, i64>(4)?.max(0) as u64,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
            }
            Ok(out)
        })
        .await?;
    Ok(ok(list, ""))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn signature_matches_standard_webhooks_example() {
        // Test vector from the Standard Webhooks spec repository.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let ts = 1614265330;
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, id, ts, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(sign("nope", id, ts, body).is_none());
    }
}
