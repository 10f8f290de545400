//! Tap → result of an online face sign-in, as the app does it (`Kiosk::sign_in_live` on a
//! live camera that is already analysing frames: wait for the burst, embed the best frame,
//! ask the API, decide), against the real server over loopback, real models on the shared
//! photos replayed as a 15 fps camera. Prints a table (ms).
//!
//! `CARGO_TARGET_DIR=... cargo bench -p kiosk-core --bench online_sign_in --profile dev`
//! (the dev profile builds vision and every dependency at opt-level 3). `ROUNDS=N` sets
//! the sign-ins per case (default 40).

use std::time::{Duration, Instant};

use kiosk_core::{AdminAuth, Decision, Kiosk, KioskConfig, Mode};
use test_support::{OBAMA_ENROL, TestServer, Vision, every_method, faces_dir, frames, temp_dir};

const PIN: &str = "246810";

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(40);
    let server = TestServer::builder()
        .vision(Vision::Real)
        .login_flow(every_method())
        .configure(|c| {
            // A bench signs the same person in many times a minute.
            c.biometric_per_min = 100_000;
            c.one_to_n_per_min_caller = 100_000;
            c.one_to_n_per_min_project = 100_000;
        })
        .start()
        .await;
    assert_eq!(
        server.vision_loaded().await,
        "ready",
        "run scripts/setup.sh"
    );
    let dir = temp_dir("bench-online");
    let mut cfg = KioskConfig::new(&dir);
    cfg.api_url = Some(server.base_url());
    cfg.pairing_code = Some(server.new_pairing_code(server.project()));
    cfg.project_id = Some(server.project().to_string());
    cfg.api_timeout = Duration::from_secs(5);
    let k = Kiosk::open(cfg).expect("kiosk opens");
    k.set_admin_pin(None, PIN).unwrap();
    k.enroll(AdminAuth::Pin(PIN), "obama", None, frames(&OBAMA_ENROL))
        .await
        .expect("enrolled");
    assert!(k.sync_once().await.unwrap().online);
    let replay = format!(
        "replay:{}@15",
        faces_dir()
            .join("face_recognition_examples/obama")
            .display()
    );
    let camera = k.start_camera(&replay).unwrap();

    println!("| case | sign-ins | p50 ms | p95 ms | mean ms |");
    println!("|---|---|---|---|---|");
    for (case, user) in [("1:1 (obama)", Some("obama")), ("1:N", None)] {
        let mut ms = Vec::new();
        for i in 0..rounds + 3 {
            let t0 = Instant::now();
            let out = k.sign_in_live(&camera, user).await.expect("a decision");
            let took = t0.elapsed().as_secs_f64() * 1000.0;
            assert_eq!(
                (out.decision, out.mode),
                (Decision::Accepted, Mode::Online),
                "{out:?}"
            );
            // The first few warm the sessions and the connection.
            if i >= 3 {
                ms.push(took);
            }
        }
        ms.sort_by(f64::total_cmp);
        let mean = ms.iter().sum::<f64>() / ms.len() as f64;
        println!(
            "| {case} | {} | {:.1} | {:.1} | {:.1} |",
            ms.len(),
            percentile(&ms, 0.5),
            percentile(&ms, 0.95),
            mean
        );
    }
    drop(camera);
    server.stop().await;
}
