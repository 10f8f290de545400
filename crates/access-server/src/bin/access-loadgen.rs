//! Load benchmark: send-otp and verify-otp throughput and latency over loopback HTTP.
//!
//! `access-loadgen --url http://127.0.0.1:8787/v2/access --admin-token TOKEN` drives a running
//! server started with `--dev-outbox` (codes are read back from the outbox). Without `--url` it
//! starts a server in-process on 127.0.0.1:0 with a temporary database.
//! Bounded: `--requests` per phase and `--max-seconds` per phase, whichever comes first.
//!
//! `access-loadgen --face --face-workers 2` measures verify-face instead (1:1 against one
//! enrolled person, the shared photos from `$FACE_DATA_DIR` or `../shared/data/faces`) at each
//! of `--face-connections`, on an in-process server with the real models and that many face
//! workers; it reports the process's memory once the pipelines are loaded.

use cli_output::outln;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use access_server::{ServerConfig, SystemClock, start};
use access_types::ApiScope;
use anyhow::{Context, bail};
use clap::Parser;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(name = "access-loadgen")]
struct Args {
    /// Base URLs of running servers (ending in /v2/access), comma-separated: requests go
    /// round-robin, as a load balancer would spread them over replicas. Omit to start servers
    /// in-process.
    #[arg(long, value_delimiter = ',')]
    url: Vec<String>,
    /// The in-process servers' store: an SQLite path or `postgres://…` (default: a temp file).
    #[arg(long)]
    db: Option<std::path::PathBuf>,
    /// In-process servers on that one store (replicas), requests round-robin over them.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Admin token for the running server (`access-server token --scope admin`).
    #[arg(long, env = "ACCESS_ADMIN_TOKEN")]
    admin_token: Option<String>,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Requests per phase.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Time bound per phase.
    #[arg(long, default_value_t = 30)]
    max_seconds: u64,
    /// Measure verify-face (in-process server only) instead of the OTP phases.
    #[arg(long)]
    face: bool,
    /// The in-process server's face workers (`vision.face_workers`); default one per core.
    #[arg(long)]
    face_workers: Option<usize>,
    /// Connection counts of the verify-face phases.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    face_connections: Vec<usize>,
    /// Before measuring, fill the project with this many past validations (in-process
    /// servers only): the cost of a send after a site's year of history.
    #[arg(long, default_value_t = 0)]
    seed_validations: i64,
    /// Keep the default anti-abuse caps (sends per caller, per project, per day) instead of
    /// lifting them: what one caller really gets. Without it the caps are lifted so the
    /// figures measure the store.
    #[arg(long)]
    default_caps: bool,
}

struct Phase {
    name: &'static str,
    done: usize,
    errors: usize,
    elapsed: Duration,
    lat_us: Vec<u64>,
}

impl Phase {
    fn report(&mut self) {
        self.lat_us.sort_unstable();
        let q = |p: f64| -> f64 {
            if self.lat_us.is_empty() {
                return 0.0;
            }
            let i = ((self.lat_us.len() as f64 - 1.0) * p).round() as usize;
            self.lat_us[i] as f64 / 1000.0
        };
        outln!(
            "{:<11} {:>7} req {:>5} err {:>7.2} s {:>9.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms",
            self.name,
            self.done,
            self.errors,
            self.elapsed.as_secs_f64(),
            self.done as f64 / self.elapsed.as_secs_f64().max(1e-9),
            q(0.50),
            q(0.99),
            q(1.0),
        );
    }
}

/// Run `n` requests from one worker per client; each client keeps its own keep-alive
/// connection, opened in the warm-up so connection setup is not measured.
async fn run_phase<F, Fut>(
    name: &'static str,
    n: usize,
    clients: &[reqwest::Client],
    limit: Duration,
    make: F,
) -> Phase
where
    F: Fn(reqwest::Client, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let make = Arc::new(make);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for client in clients {
        let (next, make, client) = (next.clone(), make.clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || start.elapsed() > limit {
                    break;
                }
                let t0 = Instant::now();
                if !make(client.clone(), i).await {
                    errors += 1;
                }
                lat.push(t0.elapsed().as_micros() as u64);
            }
            (lat, errors)
        }));
    }
    let mut p = Phase {
        name,
        done: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        lat_us: Vec::new(),
    };
    for t in tasks {
        if let Ok((lat, e)) = t.await {
            p.done += lat.len();
            p.errors += e;
            p.lat_us.extend(lat);
        }
    }
    p.elapsed = start.elapsed();
    p
}

async fn post(c: &reqwest::Client, url: &str, token: &str, body: &Value) -> anyhow::Result<Value> {
    let r = c.post(url).bearer_auth(token).json(body).send().await?;
    let s = r.status();
    let v: Value = r.json().await?;
    if !s.is_success() {
        bail!("{url}: {s} {v}");
    }
    Ok(v)
}

/// A project with an active login flow of `login`; its id.
async fn project_with_flow(
    c: &reqwest::Client,
    base: &str,
    admin: &str,
    login: Value,
) -> anyhow::Result<(String, String)> {
    let p = post(
        c,
        &format!("{base}/projects"),
        admin,
        &json!({"name": "loadgen"}),
    )
    .await?;
    let pid = p["data"]["id"].as_str().context("project id")?.to_string();
    let f = post(
        c,
        &format!("{base}/project-flows"),
        admin,
        &json!({"project_id": pid, "type": "login", "status": "active", "login": login}),
    )
    .await?;
    let flow = f["data"]["id"].as_str().context("flow id")?.to_string();
    Ok((pid, flow))
}

/// This process's resident memory (kB), from `/proc/self/status`.
fn rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU seconds (user + system) of each of this process's vision threads, by thread id and
/// name (threads ONNX Runtime starts from one inherit its name): whether the face workers all
/// worked, whatever else the machine was doing.
fn vision_cpu() -> Vec<(String, String, f64)> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for t in tasks.flatten() {
        let name = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        let name = name.trim().to_string();
        if !name.starts_with("vision") {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        let f: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        let tid = t.file_name().to_string_lossy().into_owned();
        out.push((tid, name, (ticks(11) + ticks(12)) / 100.0));
    }
    out.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    out
}

fn photo_b64(rel: &str) -> anyhow::Result<String> {
    use base64::Engine as _;
    let dir = std::env::var_os("FACE_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "../shared/data/faces".into());
    let path = dir.join(rel);
    let bytes = std::fs::read(&path).with_context(|| format!("{}", path.display()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// verify-face throughput and latency with the real models on `workers` face workers.
async fn face_bench(args: &Args) -> anyhow::Result<()> {
    let limit = Duration::from_secs(args.max_seconds);
    let dir = std::env::temp_dir().join(format!("access-loadgen-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut cfg = ServerConfig {
        db: dir.join("load.db"),
        ..Default::default()
    };
    cfg.addr = "127.0.0.1:0".parse()?;
    cfg.vision.face_workers = args.face_workers;
    // Throughput, not the per-person and per-caller limits, is measured; every connection
    // comes from this one address.
    cfg.biometric_per_min = u32::MAX;
    cfg.one_to_one_per_min_caller = u32::MAX;
    cfg.max_connections_per_address = cfg.max_connections;
    let workers = cfg.vision.workers();
    let rss_before = rss_kb();
    let s = start(cfg, Arc::new(SystemClock), None).await?;
    let now = access_server::Clock::now_ms(&SystemClock);
    let admin = access_server::tokens::issue(
        &s.state.db,
        &s.state.keys,
        "loadgen",
        ApiScope::Admin,
        3600,
        now,
    )?;
    let base = s.base_url();
    let c = reqwest::Client::new();
    let loaded = Instant::now();
    loop {
        let h: Value = c
            .get(format!("{base}/healthz"))
            .send()
            .await?
            .json()
            .await?;
        match h["data"]["vision"].as_str() {
            Some("ready") => break,
            Some("loading") if loaded.elapsed() < Duration::from_secs(120) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => bail!("vision is {other:?}: {h}"),
        }
    }
    let (pid, _) = project_with_flow(&c, &base, &admin, json!({"face": true})).await?;
    post(
        &c,
        &format!("{base}/biometric/register-face"),
        &admin,
        &json!({"user_id": "lg-person", "project_id": pid,
                "face_image": photo_b64("face_recognition_examples/obama/obama.jpg")?}),
    )
    .await?;
    // Every worker has loaded (and run once) by the end of the warm-up.
    let body = Arc::new(json!({"user_id": "lg-person", "project_id": pid,
        "face_image": photo_b64("face_recognition_examples/obama/obama3.jpg")?}));
    outln!(
        "verify-face, {workers} face worker(s), up to {} requests / {} s per phase",
        args.requests,
        args.max_seconds
    );
    for &n in &args.face_connections {
        let clients: Vec<reqwest::Client> = (0..n.max(1))
            .map(|_| reqwest::Client::builder().pool_max_idle_per_host(1).build())
            .collect::<Result<_, _>>()?;
        let verify = {
            let (b, t, body) = (base.clone(), admin.clone(), body.clone());
            move |c: reqwest::Client, _| {
                let (b, t, body) = (b.clone(), t.clone(), body.clone());
                async move {
                    post(&c, &format!("{b}/biometric/verify-face"), &t, &body)
                        .await
                        .is_ok_and(|v| v["data"]["matched"] == true)
                }
            }
        };
        run_phase(
            "warm-up",
            2 * workers.max(n),
            &clients,
            limit,
            verify.clone(),
        )
        .await;
        let before = vision_cpu();
        let mut phase = run_phase("verify-face", args.requests, &clients, limit, verify).await;
        let busy: Vec<String> = vision_cpu()
            .into_iter()
            .filter_map(|(tid, name, s)| {
                let was = before.iter().find(|b| b.0 == tid).map_or(0.0, |b| b.2);
                let share = (s - was) / phase.elapsed.as_secs_f64() * 100.0;
                // Idle helper threads say nothing.
                (share >= 1.0).then(|| format!("{name} {share:.0} %"))
            })
            .collect();
        outln!("{n} connection(s), face workers busy: {}", busy.join(", "));
        phase.report();
    }
    if let (Some(before), Some(after)) = (rss_before, rss_kb()) {
        outln!(
            "resident memory: {} MB before the server, {} MB with {workers} face worker(s) loaded",
            before / 1024,
            after / 1024
        );
    }
    s.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.face {
        if !args.url.is_empty() {
            bail!("--face runs its own in-process server (no --url)");
        }
        return face_bench(&args).await;
    }
    let limit = Duration::from_secs(args.max_seconds);
    let mut servers = Vec::new();
    let (bases, admin) = match (args.url.is_empty(), &args.admin_token) {
        (false, Some(t)) => (
            args.url
                .iter()
                .map(|u| u.trim_end_matches('/').to_string())
                .collect::<Vec<_>>(),
            t.clone(),
        ),
        (false, None) => bail!("--url needs --admin-token"),
        (true, _) => {
            let dir = std::env::temp_dir().join(format!("access-loadgen-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let mut cfg = ServerConfig {
                dev_outbox: true,
                db: args.db.clone().unwrap_or_else(|| dir.join("load.db")),
                ..Default::default()
            };
            cfg.addr = "127.0.0.1:0".parse()?;
            // The key sealing the store's secrets, one file every in-process replica shares
            // (PostgreSQL needs it named; created on first use).
            cfg.db_key_file = Some(dir.join("db.key"));
            cfg.vision.enabled = false;
            // A load test is one caller in one project: lift the anti-abuse send caps (issue 11)
            // so they measure the store, not the caps (still counted, at their cost).
            if !args.default_caps {
                cfg.sends_per_hour_caller = u32::MAX;
                cfg.sends_per_day_caller = u32::MAX;
                cfg.sends_per_hour_project = u32::MAX;
                cfg.sends_per_day_project = u32::MAX;
            }
            // Every connection comes from this one address.
            cfg.max_connections_per_address = cfg.max_connections;
            let mut bases = Vec::new();
            let mut tok = String::new();
            for _ in 0..args.replicas.max(1) {
                let s = start(cfg.clone(), Arc::new(SystemClock), None).await?;
                let now = access_server::Clock::now_ms(&SystemClock);
                tok = access_server::tokens::issue(
                    &s.state.db,
                    &s.state.keys,
                    "loadgen",
                    ApiScope::Admin,
                    3600,
                    now,
                )?;
                bases.push(s.base_url());
                servers.push(s);
            }
            outln!(
                "{} in-process server(s) at {} on {}",
                bases.len(),
                bases.join(", "),
                access_server::db::redact_db(&cfg.db)
            );
            (bases, tok)
        }
    };
    let bases = Arc::new(bases);
    let base = bases[0].clone();
    let c = reqwest::Client::new();
    let (pid, flow) = project_with_flow(&c, &base, &admin, json!({"email": true})).await?;
    if args.seed_validations > 0 {
        let Some(s) = servers.first() else {
            bail!("--seed-validations needs an in-process server (no --url)");
        };
        let t0 = Instant::now();
        let now = access_server::Clock::now_ms(&SystemClock);
        // 50,000 rows a transaction: the writer is never held for long.
        for first in (1..=args.seed_validations).step_by(50_000) {
            let n = 50_000.min(args.seed_validations - first + 1);
            let (p, f) = (pid.clone(), flow.clone());
            s.state.db.blocking_tx(move |tx| {
                Ok(access_server::validation::seed_history(
                    tx, &p, &f, first, n, now,
                )?)
            })?;
        }
        outln!(
            "seeded {} past validations in {:.1} s",
            args.seed_validations,
            t0.elapsed().as_secs_f64()
        );
    }
    let run = std::process::id();
    outln!(
        "{} connections, up to {} requests / {} s per phase",
        args.connections,
        args.requests,
        args.max_seconds
    );
    let clients: Vec<reqwest::Client> = (0..args.connections)
        .map(|_| reqwest::Client::builder().pool_max_idle_per_host(1).build())
        .collect::<Result<_, _>>()?;
    // Warm-up (not measured): open every connection.
    let b = base.clone();
    run_phase(
        "warm-up",
        args.connections * 8,
        &clients,
        limit,
        move |c, _| {
            let url = format!("{b}/healthz");
            async move { c.get(url).send().await.is_ok() }
        },
    )
    .await;

    // Phase 1: send-otp to distinct addresses (the per-address limit is 5/min).
    let ids: Arc<Vec<std::sync::OnceLock<String>>> = Arc::new(
        (0..args.requests)
            .map(|_| std::sync::OnceLock::new())
            .collect(),
    );
    let (bs, t, pj, ids2) = (bases.clone(), admin.clone(), pid.clone(), ids.clone());
    let mut send = run_phase("send-otp", args.requests, &clients, limit, move |c, i| {
        let (b, t, pj, ids) = (
            bs[i % bs.len()].clone(),
            t.clone(),
            pj.clone(),
            ids2.clone(),
        );
        async move {
            let body = json!({"email": format!("lg{run}-{i}@load.test"), "project_id": pj});
            match post(&c, &format!("{b}/email/send-otp"), &t, &body).await {
                Ok(v) => {
                    if let Some(id) = v["data"]["validation_id"].as_str() {
                        let _ = ids[i].set(id.to_string());
                    }
                    true
                }
                Err(_) => false,
            }
        }
    })
    .await;
    send.report();

    // Read the codes back (not measured).
    let sent = send.done;
    let codes: Arc<Vec<std::sync::OnceLock<String>>> =
        Arc::new((0..sent).map(|_| std::sync::OnceLock::new()).collect());
    let (b, t, codes2) = (base.clone(), admin.clone(), codes.clone());
    run_phase(
        "outbox",
        sent,
        &clients,
        Duration::from_secs(120),
        move |c, i| {
            let (b, t, codes) = (b.clone(), t.clone(), codes2.clone());
            async move {
                let url = format!("{b}/dev/outbox?to=lg{run}-{i}%40load.test");
                let Ok(r) = c.get(url).bearer_auth(&t).send().await else {
                    return false;
                };
                let Ok(v) = r.json::<Value>().await else {
                    return false;
                };
                match v["data"]["messages"][0]["code"].as_str() {
                    Some(code) => codes[i].set(code.to_string()).is_ok(),
                    None => false,
                }
            }
        },
    )
    .await;

    // Phase 2: verify-otp with the right code (each mints an EdDSA access token).
    let (bs, t) = (bases.clone(), admin.clone());
    let mut verify = run_phase("verify-otp", sent, &clients, limit, move |c, i| {
        // The other replica than the send's: a code is verified wherever the request lands.
        let b = bs[(i + 1) % bs.len()].clone();
        let (t, ids, codes) = (t.clone(), ids.clone(), codes.clone());
        async move {
            let (Some(id), Some(code)) = (ids[i].get(), codes[i].get()) else { return false };
            let body = json!({"email": format!("lg{run}-{i}@load.test"), "otp": code, "validation_id": id});
            post(&c, &format!("{b}/email/verify-otp"), &t, &body).await.is_ok()
        }
    })
    .await;
    verify.report();
    // The whole process (in-process servers and this client together): CPU over the run and
    // the peak resident memory.
    outln!(
        "process     cpu {:.1} s  peak rss {} MB",
        process_cpu_s().unwrap_or(0.0),
        peak_rss_kb().unwrap_or(0) / 1024
    );
    for s in servers {
        s.shutdown().await;
    }
    Ok(())
}

/// This process's peak resident memory (kB), `VmHWM` in `/proc/self/status`.
fn peak_rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// This process's CPU seconds so far (user + system, `/proc/self/stat` fields 14 and 15 in
/// clock ticks of 1/100 s, Linux's `USER_HZ` on every architecture it runs on).
fn process_cpu_s() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces), from field 3 on.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}
