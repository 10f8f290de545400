//! The store on PostgreSQL across a network: TLS with the server's certificate checked
//! (`sslmode=verify-full`), and no key material on the wire even inside it (the signing and
//! OTP keys are sealed before they are written). Runs in the PostgreSQL pass (scripts/test.sh;
//! scripts/pg.sh gives the cluster a certificate for `pg.test` from a CA of its own, whose file
//! sits beside the server's `ssl_cert_file`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use access_server::Clock;
use access_server::sealed::{DbKey, signing_key_aad};
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::json;
use test_support::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The suite's cluster URL, or None (then this test has nothing to run against).
fn pg_admin_url() -> Option<String> {
    std::env::var("ACCESS_TEST_PG")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Blocking work with the plain (loopback) admin connection.
fn admin<R: Send + 'static>(
    url: &str,
    f: impl FnOnce(&mut postgres::Client) -> R + Send + 'static,
) -> R {
    let url = url.to_string();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("the admin connection");
        f(&mut c)
    })
    .join()
    .expect("the admin thread")
}

/// A TCP relay from a loopback port to `to`, keeping every byte either way.
async fn recording_relay(to: std::net::SocketAddr) -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Arc<Mutex<Vec<u8>>> = Arc::default();
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(to).await else {
                continue;
            };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::spawn(pump(cr, sw, s.clone()));
            tokio::spawn(pump(sr, cw, s.clone()));
        }
    });
    (port, seen)
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    seen: Arc<Mutex<Vec<u8>>>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        seen.lock().unwrap().extend_from_slice(&buf[..n]);
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Every spelling of `secret` a capture could carry it in: raw, hex (either case), base64
/// (standard and URL-safe, at each of the three byte alignments a stream may put it at).
fn spellings(secret: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![
        secret.to_vec(),
        hex::encode(secret).into_bytes(),
        hex::encode_upper(secret).into_bytes(),
    ];
    for skip in 0..3 {
        for engine in [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::URL_SAFE,
        ] {
            let enc = engine.encode(&secret[skip..]);
            // The last group depends on what follows in the stream: leave it out.
            out.push(enc.as_bytes()[..enc.len() / 4 * 4 - 4].to_vec());
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The connection attempt's error for `url`, or None when it connected.
async fn connect_error(url: String) -> Option<String> {
    tokio::task::spawn_blocking(move || {
        access_server::db::Db::connect(Path::new(&url))
            .err()
            .map(|e| format!("{e} / {e:?}"))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_on_postgres_checks_the_servers_certificate_and_no_key_crosses_the_wire() {
    let Some(admin_url) = pg_admin_url() else {
        eprintln!(
            "skipped: needs ACCESS_TEST_PG (scripts/test.sh's PostgreSQL pass runs it, with a TLS-speaking cluster from scripts/pg.sh)"
        );
        return;
    };
    let db_name = format!("t_tls_{}", std::process::id());
    let (cert_file, pg_port) = {
        let name = db_name.clone();
        admin(&admin_url, move |c| {
            c.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                .unwrap();
            c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
            let cert: String = c.query_one("SHOW ssl_cert_file", &[]).unwrap().get(0);
            let port: String = c.query_one("SHOW port", &[]).unwrap().get(0);
            (PathBuf::from(cert), port.parse::<u16>().unwrap())
        })
    };
    let ca = cert_file.with_file_name("ca.crt");
    assert!(
        ca.exists(),
        "{}: the cluster's CA (scripts/pg.sh makes it beside ssl_cert_file)",
        ca.display()
    );
    let dir = test_support::temp_dir("store-tls");
    let key_file = dir.join("db.key");
    let (relay_port, capture) = recording_relay(([127, 0, 0, 1], pg_port).into()).await;
    // The name the certificate is for; the address is the relay's.
    let url = |host: &str, mode: &str, root: &Path| {
        format!(
            "postgres://postgres@{host}:{relay_port}/{db_name}?hostaddr=127.0.0.1&sslmode={mode}&sslrootcert={}",
            root.display()
        )
    };

    // Another CA, or another name: refused before anything is sent.
    let other_ca = dir.join("other-ca.crt");
    let other = rcgen::generate_simple_self_signed(vec!["pg.test".to_string()]).unwrap();
    std::fs::write(&other_ca, other.cert.pem()).unwrap();
    let e = connect_error(url("pg.test", "verify-full", &other_ca)).await;
    assert!(
        e.as_deref().is_some_and(|e| e.contains("UnknownIssuer")),
        "a certificate from another CA: {e:?}"
    );
    let e = connect_error(url("db.other.test", "verify-full", &ca)).await;
    assert!(
        e.as_deref().is_some_and(|e| e.contains("NotValidForName")),
        "a certificate for another name: {e:?}"
    );
    // verify-ca checks the chain only, as libpq does.
    let e = connect_error(url("db.other.test", "verify-ca", &ca)).await;
    assert_eq!(e, None, "verify-ca with the right CA");
    let e = connect_error(url("db.other.test", "verify-ca", &other_ca)).await;
    assert!(e.is_some(), "verify-ca with another CA connected");
    capture.lock().unwrap().clear();

    // The server itself on verify-full through the recording relay: it creates its keys,
    // signs, rotates (a new sealed key written), reloads (every key read back).
    let good = url("pg.test", "verify-full", &ca);
    let kf = key_file.clone();
    let mut t = TestServer::builder()
        .db(good)
        .configure(move |c| c.db_key_file = Some(kf))
        .start()
        .await;
    assert!(t.on_postgres());
    let (s, v) = t.post("/keys/rotate", &t.admin, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, p) = t.post("/projects", &t.admin, json!({"name": "Wire"})).await;
    assert!(p["data"]["id"].is_string(), "{p}");
    let db = t.server().state.db.clone();
    let now = t.clock.now_ms();
    let keys = &t.server().state.keys;
    tokio::task::block_in_place(|| keys.reload(&db, now)).unwrap();
    t.shutdown().await;

    // What the database holds, opened with the key file.
    let db_key = DbKey::load_file(&key_file).unwrap();
    let admin_db_url = format!(
        "{}/{db_name}",
        admin_url
            .rsplit_once('/')
            .map_or(admin_url.as_str(), |(b, _)| b)
    );
    let (keys_rows, otp): (Vec<(String, Vec<u8>)>, Vec<u8>) = admin(&admin_db_url, |c| {
        let keys = c
            .query("SELECT kid, private_pkcs8 FROM signing_keys", &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let otp = c
            .query_one("SELECT value FROM meta WHERE key = 'otp_hmac_key'", &[])
            .unwrap()
            .get(0);
        (keys, otp)
    });
    assert_eq!(keys_rows.len(), 2, "the first key and the rotated one");
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    for (kid, stored) in &keys_rows {
        let (pkcs8, was_clear) = db_key
            .open(stored, &signing_key_aad(kid), "signing key")
            .unwrap();
        assert!(!was_clear, "{kid} is stored in clear");
        // Ed25519 PKCS#8 (ring's v2): the 32-byte seed follows 04 22 04 20.
        let at = pkcs8
            .windows(4)
            .position(|w| w == [0x04, 0x22, 0x04, 0x20])
            .expect("the seed in the PKCS#8 document")
            + 4;
        secrets.push(pkcs8[at..at + 32].to_vec());
        secrets.push(pkcs8);
    }
    let (otp, _) = db_key.open(&otp, b"meta.otp_hmac_key", "OTP key").unwrap();
    secrets.push(otp);

    let capture = capture.lock().unwrap().clone();
    assert!(capture.len() > 1000, "the relay saw the server's traffic");
    // PostgreSQL's SSLRequest, then the server's 'S' and a TLS handshake.
    assert!(
        capture.starts_with(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f, b'S', 0x16, 0x03]),
        "not a TLS session: {:02x?}",
        &capture[..capture.len().min(16)]
    );
    // Nothing in clear: not the statements, not the table names.
    for word in [&b"signing_keys"[..], b"SELECT", b"otp_hmac_key"] {
        assert!(
            !contains(&capture, word),
            "{} in clear on the wire",
            String::from_utf8_lossy(word)
        );
    }
    for marker in [
        &b"-----BEGIN"[..],
        b"PRIVATE KEY",
        &[0x06, 0x03, 0x2b, 0x65, 0x70],
    ] {
        assert!(
            !contains(&capture, marker),
            "a key marker on the wire: {marker:02x?}"
        );
    }
    for secret in &secrets {
        for form in spellings(secret) {
            assert!(!contains(&capture, &form), "key material on the wire");
        }
    }
    admin(&admin_url, move |c| {
        let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"));
    });
    let _ = std::fs::remove_dir_all(&dir);
}
