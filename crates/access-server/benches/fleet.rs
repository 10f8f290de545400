//! Fleet simulation: `KIOSKS` kiosks, each paired through the API with its own device key and
//! talking through `access-client` as a kiosk does, against `access-server serve` in its own
//! process (so its CPU and memory are its own). Each kiosk syncs every `INTERVAL` spread ±20 %
//! (a conditional, paged template feed, then its queued sign-ins as signed offline events) and
//! queues a sign-in every few seconds; an administrator enrols people meanwhile (templates
//! written to the database by a second process). A local receiver counts the
//! `kiosk.offline_sign_in` webhooks. Prints sync-round latency, the server's CPU and memory,
//! and events lost or duplicated, in the store and at the receiver.
//!
//! `cargo bench -p access-server --bench fleet --profile dev -- [kiosks] [seconds]`
//! (default 200 kiosks, 60 s; the dev profile optimises dependencies fully).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use access_client::{AccessClient, Credentials, DeviceSigner};
use access_types::{OfflineEvent, SyncEventsRequest, kiosk_identity};
use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use rand::Rng;
use serde_json::{Value, json};
use test_support::DeviceKey;

const INTERVAL: Duration = Duration::from_secs(10);
/// A sign-in at each kiosk every 3 to 9 s.
const SIGN_IN_EVERY_MS: std::ops::Range<u64> = 3_000..9_000;
/// People in the project before the kiosks join (each catches up through several pages).
const ENROLLED: usize = 1_000;

struct Signer(DeviceKey);

impl DeviceSigner for Signer {
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.0.sign(msg)
    }
    fn public_key(&self) -> Vec<u8> {
        self.0.public_key()
    }
}

/// What the webhook receiver got: deliveries by webhook-id, sign-ins by event id.
#[derive(Default)]
struct Received {
    by_delivery: HashMap<String, usize>,
    by_event: HashMap<String, usize>,
}

/// What one kiosk saw.
#[derive(Default)]
struct KioskLog {
    /// The first round: joining the project, every page of it.
    catch_up_ms: Option<f64>,
    /// The rounds after it.
    rounds_ms: Vec<f64>,
    failed_rounds: usize,
    made: Vec<String>,
    acked: HashSet<String>,
    pages: usize,
    not_modified: usize,
}

/// The server process's CPU time (user + system, seconds) and memory (VmRSS, VmHWM in MB).
fn proc_stats(pid: u32) -> (f64, f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (cpu, kb("VmRSS:"), kb("VmHWM:"))
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Adds `n` people (one template each) as an enrolment at another server would.
fn enrol(db: &std::path::Path, project: &str, from: usize, n: usize) -> anyhow::Result<()> {
    let store = access_server::db::Db::connect(db)?;
    let project = project.to_string();
    store.transaction(move |tx| enrol_in(tx, &project, from, n))?;
    Ok(())
}

fn enrol_in(
    tx: &access_server::sql::Connection,
    project: &str,
    from: usize,
    n: usize,
) -> Result<(), access_server::db::StoreError> {
    for i in from..from + n {
        let rev = access_server::db::next_counter(tx, "template_rev")?;
        let mut v = vec![0.0f32; 512];
        v[i % 512] = 1.0;
        tx.execute(
            "INSERT INTO templates(id, project_id, user_id, model_id, embedding, created_at, rev)
             VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)",
            rusqlite::params![
                format!("tpl_fleet_{i}"),
                project,
                format!("person{i}"),
                vision::EMBEDDER_MODEL_ID,
                vision::Embedding::values_to_le_bytes(&v),
                rev
            ],
        )?;
    }
    Ok(())
}

/// An administrator's POST through the suites' helper; its data, or why not.
async fn admin_post(
    c: &reqwest::Client,
    url: &str,
    token: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let (s, v) =
        test_support::request(c, reqwest::Method::POST, url, Some(token), Some(body)).await;
    if !s.is_success() {
        bail!("{url}: {s} {v}");
    }
    Ok(v)
}

/// One kiosk: sync rounds every INTERVAL ±20 %, a sign-in queued every few seconds, until
/// `until`; then one last round so nothing stays queued.
async fn run_kiosk(
    client: AccessClient,
    kiosk_id: String,
    signer: Arc<Signer>,
    project: String,
    until: Instant,
) -> KioskLog {
    let mut log = KioskLog::default();
    let mut queue: Vec<OfflineEvent> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut next_round = Instant::now();
    let mut next_sign_in =
        Instant::now() + Duration::from_millis(rand::rng().random_range(SIGN_IN_EVERY_MS));
    let mut n = 0;
    loop {
        let now = Instant::now();
        let last = now >= until;
        if !last && now >= next_sign_in {
            n += 1;
            let mut e = OfflineEvent {
                event_id: format!("{kiosk_id}-{n}"),
                kind: "sign_in".into(),
                project_id: project.clone(),
                occurred_at: access_server::clock::rfc3339(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64),
                ),
                user_id: Some(format!("person{}", n % 50)),
                payload: json!({"decision": "accepted", "score": 0.71}),
                signature: None,
            };
            e.sign(&kiosk_id, |m| signer.sign(m));
            log.made.push(e.event_id.clone());
            queue.push(e);
            next_sign_in = now + Duration::from_millis(rand::rng().random_range(SIGN_IN_EVERY_MS));
        }
        if last || now >= next_round {
            let t0 = Instant::now();
            let ok = round(&client, &project, &mut cursor, &mut queue, &mut log).await;
            if ok {
                let ms = t0.elapsed().as_secs_f64() * 1000.0;
                match log.catch_up_ms {
                    None => log.catch_up_ms = Some(ms),
                    Some(_) => log.rounds_ms.push(ms),
                }
            } else {
                log.failed_rounds += 1;
            }
            if last && (queue.is_empty() || Instant::now() > until + Duration::from_secs(30)) {
                return log;
            }
            let spread = rand::rng().random_range(0.8..=1.2);
            next_round = Instant::now() + INTERVAL.mul_f64(spread);
        }
        let wake = next_round.min(next_sign_in).min(until);
        tokio::time::sleep_until(wake.max(Instant::now() + Duration::from_millis(5)).into()).await;
    }
}

/// A kiosk's round: the feed (conditional, paged), then the queued events. False on an error
/// (what was queued stays queued).
async fn round(
    client: &AccessClient,
    project: &str,
    cursor: &mut Option<String>,
    queue: &mut Vec<OfflineEvent>,
    log: &mut KioskLog,
) -> bool {
    loop {
        match client
            .sync_templates(project, cursor.as_deref(), Some(200))
            .await
        {
            Ok(None) => {
                log.not_modified += 1;
                break;
            }
            Ok(Some(page)) => {
                log.pages += 1;
                *cursor = Some(page.next_cursor);
                if !page.has_more {
                    break;
                }
            }
            Err(_) => return false,
        }
    }
    if queue.is_empty() {
        return true;
    }
    let req = SyncEventsRequest {
        kiosk_id: None,
        events: queue.clone(),
    };
    match client.sync_events(&req).await {
        Ok(r) => {
            let done: HashSet<String> = r
                .accepted
                .into_iter()
                .chain(r.duplicates)
                .chain(r.refused.into_iter().map(|x| x.event_id))
                .collect();
            queue.retain(|e| !done.contains(&e.event_id));
            log.acked.extend(done);
            true
        }
        Err(_) => false,
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let kiosks: usize = args.first().map_or(Ok(200), |a| a.parse())?;
    let seconds: u64 = args.get(1).map_or(Ok(60), |a| a.parse())?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(fleet(kiosks, seconds))
}

async fn fleet(kiosks: usize, seconds: u64) -> anyhow::Result<()> {
    let exe = env!("CARGO_BIN_EXE_access-server");
    let dir = test_support::temp_dir("access-fleet");
    // FLEET_DB=postgres://… runs the fleet against PostgreSQL (a fresh database).
    let db = std::env::var_os("FLEET_DB").map_or_else(|| dir.join("fleet.db"), Into::into);
    let out = std::process::Command::new(exe)
        .args(["token", "--subject", "fleet", "--db"])
        .arg(&db)
        .env_remove("ACCESS_CONFIG")
        .output()?;
    if !out.status.success() {
        bail!("token: {}", String::from_utf8_lossy(&out.stderr));
    }
    let admin = String::from_utf8(out.stdout)?.trim().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    // The whole fleet connects from this one address.
    let config = db.with_extension("toml");
    std::fs::write(&config, "max_connections_per_address = 1024\n")?;
    let mut server = std::process::Command::new(exe)
        .args([
            "serve",
            "--no-vision",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--db",
        ])
        .arg(&db)
        .arg("--config")
        .arg(&config)
        .env("ACCESS_OUTBOUND_ALLOW", "127.0.0.1")
        .env("RUST_LOG", "warn")
        .env_remove("ACCESS_CONFIG")
        .spawn()?;
    let pid = server.id();
    let base = format!("http://127.0.0.1:{port}/v2/access");
    let http = reqwest::Client::new();
    let up = Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        if up.elapsed() > Duration::from_secs(20) {
            let _ = server.kill();
            bail!("the server did not come up");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let result = drive(&http, &base, &admin, &db, pid, kiosks, seconds).await;
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn drive(
    http: &reqwest::Client,
    base: &str,
    admin: &str,
    db: &std::path::Path,
    pid: u32,
    kiosks: usize,
    seconds: u64,
) -> anyhow::Result<()> {
    let p = admin_post(
        http,
        &format!("{base}/projects"),
        admin,
        json!({"name": "fleet"}),
    )
    .await?;
    let project = p["data"]["id"].as_str().context("project id")?.to_string();
    admin_post(
        http,
        &format!("{base}/project-flows"),
        admin,
        json!({"project_id": project, "type": "login", "status": "active", "login": {"face": true}}),
    )
    .await?;
    enrol(db, &project, 0, ENROLLED)?;

    // The customer's webhook receiver: deliveries by webhook-id, sign-ins by event id.
    let seen: Arc<Mutex<Received>> = Arc::default();
    let s2 = seen.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let seen = s2.clone();
            async move {
                let id = headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let event = v["data"]["event_id"].as_str().unwrap_or("").to_string();
                let mut s = seen.lock().unwrap();
                *s.by_delivery.entry(id).or_default() += 1;
                *s.by_event.entry(event).or_default() += 1;
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_url = format!("http://{}/hook", l.local_addr()?);
    tokio::spawn(async move { axum::serve(l, app).await });
    admin_post(
        http,
        &format!("{base}/webhooks"),
        admin,
        json!({"project_id": project, "url": hook_url, "events": ["kiosk.offline_sign_in"]}),
    )
    .await?;

    // Pair the fleet (not measured) with the store's own functions, as `access-server kiosks
    // pair` does (the API would serve them too: only refused pairings are limited).
    let store = access_server::db::Db::connect(db)?;
    let now = access_server::Clock::now_ms(&access_server::SystemClock);
    let mut fleet = Vec::new();
    for i in 0..kiosks {
        let signer = Arc::new(Signer(DeviceKey::generate()));
        let req = access_types::kiosk_identity::CreatePairingRequest {
            project_id: project.clone(),
            name: Some(format!("kiosk {i}")),
        };
        let s2 = signer.clone();
        // On the store's writer thread: its transactions take the write lock first.
        let paired = store
            .tx(move |c| {
                let code = access_server::kiosks::create_pairing(c, &req, now)?.code;
                let pk = kiosk_identity::b64(&s2.public_key());
                let proof = kiosk_identity::b64(
                    &s2.sign(kiosk_identity::pairing_proof_text(&code, &pk).as_bytes()),
                );
                let body = kiosk_identity::PairKioskRequest {
                    code,
                    public_key: pk,
                    proof,
                    version: None,
                };
                access_server::kiosks::pair(c, &body, now)
            })
            .await
            .map_err(|e| anyhow::anyhow!("pairing: {e:?}"))?;
        let client = AccessClient::with_credentials(
            base,
            Credentials::Device {
                kiosk_id: paired.kiosk_id.clone(),
                signer: signer.clone(),
                version: None,
            },
            Duration::from_secs(10),
        )?;
        fleet.push((client, paired.kiosk_id, signer));
    }
    drop(store);

    println!(
        "{kiosks} kiosks, rounds every {} s ±20 %, a sign-in per kiosk every {}-{} s, {seconds} s; \
         {ENROLLED} people enrolled before, 10 more every 5 s",
        INTERVAL.as_secs(),
        SIGN_IN_EVERY_MS.start / 1000,
        SIGN_IN_EVERY_MS.end / 1000
    );
    let (cpu0, _, _) = proc_stats(pid);
    let t0 = Instant::now();
    let until = t0 + Duration::from_secs(seconds);
    let tasks: Vec<_> = fleet
        .into_iter()
        .map(|(client, id, signer)| {
            let project = project.clone();
            tokio::spawn(run_kiosk(client, id, signer, project, until))
        })
        .collect();
    // Enrolments elsewhere while the fleet runs.
    let mut enrolled = ENROLLED;
    while Instant::now() + Duration::from_secs(5) < until {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (db, p) = (db.to_path_buf(), project.clone());
        tokio::task::spawn_blocking(move || enrol(&db, &p, enrolled, 10)).await??;
        enrolled += 10;
    }
    let mut logs = Vec::new();
    for t in tasks {
        logs.push(t.await?);
    }
    let busy = t0.elapsed().as_secs_f64();
    let (cpu1, rss, hwm) = proc_stats(pid);

    let made: Vec<&String> = logs.iter().flat_map(|l| &l.made).collect();
    let acked: usize = logs.iter().map(|l| l.acked.len()).sum();
    // Every webhook of an acknowledged sign-in, given time to drain.
    let drain = Instant::now();
    while seen.lock().unwrap().by_event.len() < made.len()
        && drain.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stored: HashSet<String> = {
        let store = access_server::db::Db::connect(db)?;
        tokio::task::spawn_blocking(move || {
            store.blocking(|c| {
                Ok(c.query_all("SELECT event_id FROM sync_events", [], |r| r.get(0))?)
            })
        })
        .await??
        .into_iter()
        .collect()
    };
    let mut rounds: Vec<f64> = logs
        .iter()
        .flat_map(|l| l.rounds_ms.iter().copied())
        .collect();
    rounds.sort_by(f64::total_cmp);
    let mut catch_up: Vec<f64> = logs.iter().filter_map(|l| l.catch_up_ms).collect();
    catch_up.sort_by(f64::total_cmp);
    let failed: usize = logs.iter().map(|l| l.failed_rounds).sum();
    let pages: usize = logs.iter().map(|l| l.pages).sum();
    let not_modified: usize = logs.iter().map(|l| l.not_modified).sum();
    let lost_store = made.iter().filter(|e| !stored.contains(e.as_str())).count();
    let (by_delivery, by_event) = {
        let s = seen.lock().unwrap();
        (s.by_delivery.clone(), s.by_event.clone())
    };
    let lost_hooks = made
        .iter()
        .filter(|e| !by_event.contains_key(e.as_str()))
        .count();
    let dup_deliveries: usize = by_delivery.values().map(|n| n - 1).sum();
    let dup_events: usize = by_event.values().map(|n| n - 1).sum();

    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| sync rounds (ok / failed) | {} / {failed} |",
        rounds.len() + catch_up.len()
    );
    println!(
        "| first round, all kiosks at once ({ENROLLED} people, 5 pages) p50 / p99 / max | {:.0} / {:.0} / {:.0} ms |",
        quantile(&catch_up, 0.5),
        quantile(&catch_up, 0.99),
        quantile(&catch_up, 1.0)
    );
    println!(
        "| later rounds p50 / p99 / max | {:.1} / {:.1} / {:.1} ms |",
        quantile(&rounds, 0.5),
        quantile(&rounds, 0.99),
        quantile(&rounds, 1.0)
    );
    println!("| feed pages read / 304 answers | {pages} / {not_modified} |");
    println!(
        "| server CPU | {:.1} s in {busy:.0} s = {:.0} % of one core |",
        cpu1 - cpu0,
        (cpu1 - cpu0) / busy * 100.0
    );
    println!("| server memory (RSS now / peak) | {rss:.0} / {hwm:.0} MB |");
    println!(
        "| sign-ins made / acknowledged / stored | {} / {acked} / {} |",
        made.len(),
        stored.len()
    );
    println!("| sign-ins lost (store / webhooks) | {lost_store} / {lost_hooks} |");
    println!(
        "| duplicated (webhook-id / event id at receiver) | {dup_deliveries} / {dup_events} |"
    );
    Ok(())
}
