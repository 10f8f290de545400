//! Measures the real app as a person meets it (not a test: it prints a table). Cold start to the
//! ready home screen, the preview frame rate the UI receives, and face visible to decision,
//! offline and online against a local server. Run after scripts/setup.sh and
//! `cargo build -p access-kiosk-app`:  cargo run -p kiosk-e2e --bin app-bench

use std::time::{Duration, Instant};

use anyhow::Context as _;
use kiosk_e2e::{App, faces_dir, server_knowing_obama};

const WAIT: Duration = Duration::from_secs(30);

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `per_run` decisions per launch: the server allows 10 biometric calls a minute per user,
/// and an online sign-in makes two.
async fn measure(
    label: &str,
    env: Vec<(&'static str, String)>,
    per_run: usize,
) -> anyhow::Result<()> {
    let mut cold = Vec::new();
    let mut decisions = Vec::new();
    let mut fps = Vec::new();
    for run in 0..3 {
        let app = App::launch(&format!("bench-{label}-{run}"), &env).await?;
        app.wait("method-face", WAIT).await?;
        cold.push(app.launched_at.elapsed().as_secs_f64() * 1000.0);
        app.click("method-face").await?;
        app.wait("face-preview", WAIT).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let seq = |s: String| s.parse::<f64>().unwrap_or(0.0);
        let (s0, t0) = (
            seq(app.attribute("face-preview", "data-seq").await?),
            Instant::now(),
        );
        tokio::time::sleep(Duration::from_secs(4)).await;
        let s1 = seq(app.attribute("face-preview", "data-seq").await?);
        fps.push((s1 - s0) / t0.elapsed().as_secs_f64());
        for _ in 0..per_run {
            if !app.exists("face-sign-in").await {
                app.click("method-face").await?;
            }
            // Timed in the page, from the tap to the result on screen: WebDriver's own round
            // trips stay out of the figure.
            app.wait("face-sign-in", WAIT).await?;
            let ms = app
                .execute_async(
                    "const done = arguments[arguments.length - 1]; \
                     const b = document.querySelector('[data-testid=face-sign-in]'); \
                     const go = () => { if (b.disabled) return setTimeout(go, 20); \
                       const t0 = performance.now(); \
                       const seen = () => document.querySelector('[data-testid=screen-result]'); \
                       const obs = new MutationObserver(() => { if (seen()) { obs.disconnect(); \
                         requestAnimationFrame(() => done(performance.now() - t0)); } }); \
                       obs.observe(document.body, {childList: true, subtree: true}); \
                       b.click(); }; \
                     go();",
                )
                .await?;
            decisions.push(ms.as_f64().context("elapsed ms")?);
            anyhow::ensure!(app.exists("result-success").await, "{label}: not accepted");
            app.click("result-done").await?;
            app.wait("method-face", WAIT).await?;
        }
        app.quit().await;
    }
    println!(
        "{label:<8} cold start p50 {:>6.0} ms | preview {:>5.1} fps | face -> decision p50 {:>5.0} ms ({} decisions)",
        p50(cold),
        p50(fps),
        p50(decisions.clone()),
        decisions.len()
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("app-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let camera = format!(
        "replay:{}@30",
        faces_dir()
            .join("face_recognition_examples/obama")
            .display()
    );
    let server = server_knowing_obama().await;
    let online = server.kiosk_env(&dir.join("online"), &camera);
    measure("online", online.clone(), 1).await?;
    // Offline: the same kiosk data (templates already synced), the API unreachable.
    let offline = online
        .into_iter()
        .map(|(k, v)| match k {
            "KIOSK_API_URL" => (k, "http://127.0.0.1:9/v2/access".to_string()),
            _ => (k, v),
        })
        .collect();
    measure("offline", offline, 3).await?;
    Ok(())
}
