//! No hot statement scans a table that grows with traffic (issue 25). The hot paths are driven
//! over real HTTP while the store records every statement it runs; each one is then planned by
//! the engine itself: `EXPLAIN QUERY PLAN` on SQLite, a generic `EXPLAIN` with sequential
//! scans priced out on PostgreSQL (its planner scans small tables whatever the indexes, so the
//! question asked is "could an index serve this?"). Runs on both engines (test.sh's second
//! pass).

use crate::common;

use access_server::Clock;
use access_server::db::GROWING_TABLES;
use common::TestServer;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn the_hot_paths_read_growing_tables_by_index_only() {
    let (t, p) = crate::hostile::face_server().await;
    let k = t.kiosk();
    let db = t.server().state.db.clone();
    db.record_statements(true);

    // Codes: send, a wrong and a right verify, by email and by phone.
    for (send, verify, field, who) in [
        (
            "/email/send-otp",
            "/email/verify-otp",
            "email",
            "plan@example.com",
        ),
        (
            "/phone/send-sms",
            "/phone/verify-otp",
            "phone",
            "+14155550199",
        ),
    ] {
        let v = t
            .post_ok(send, &k, json!({field: who, "project_id": p}))
            .await;
        let vid = v["data"]["validation_id"].as_str().unwrap().to_string();
        let code = t.outbox_code(who).await;
        let wrong = if code.starts_with('1') {
            "000000"
        } else {
            "111111"
        };
        let (s, _) = t
            .post(
                verify,
                &k,
                json!({field: who, "otp": wrong, "validation_id": vid}),
            )
            .await;
        assert_ne!(s, StatusCode::OK);
        t.post_ok(
            verify,
            &k,
            json!({field: who, "otp": code, "validation_id": vid}),
        )
        .await;
    }
    // Faces: enrol, 1:1 and 1:N.
    let face = |v| crate::hostile::photo(1, v);
    t.post_ok(
        "/biometric/register-face",
        &k,
        json!({"user_id": "ada", "project_id": p, "face_image": face(1)}),
    )
    .await;
    for user in [Some("ada"), None] {
        let mut body = json!({"project_id": p, "face_image": face(2)});
        if let Some(u) = user {
            body["user_id"] = json!(u);
        }
        let (s, v) = t.post("/biometric/verify-face", &k, body).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    // A kiosk's day: its token, the template feed, its policy, its offline events.
    t.device_token(&t.device, "ksk_test").await;
    for path in [
        format!("/sync/templates?project_id={p}"),
        format!("/sync/policy?project_id={p}"),
    ] {
        let (s, v) = t.get(&path, &k).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
    }
    let event = access_types::OfflineEvent {
        event_id: "evt_plan".into(),
        kind: "sign_in".into(),
        project_id: p.clone(),
        occurred_at: access_server::clock::rfc3339(t.clock.now_ms()),
        user_id: Some("ada".into()),
        payload: json!({"decision": "accepted", "score": 0.81}),
        signature: None,
    };
    let signed = t.device.sign_event("ksk_test", event);
    t.post_ok("/sync/events", &k, json!({"events": [signed]}))
        .await;
    // The console's lists: the REST API's, and its own (with an operator's session).
    for path in [
        format!("/users?project_id={p}"),
        format!("/kiosks?project_id={p}"),
        format!("/webhooks?project_id={p}"),
    ] {
        let (s, v) = t.get(&path, &t.admin).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
    }
    let cookie = console_session(&t).await;
    for path in [
        "/validations".to_string(),
        format!("/validations?project_id={p}&limit=2"),
        "/audit".to_string(),
        "/audit?actor=kiosk:ksk_test&action=face.enrolled".to_string(),
    ] {
        let r = t
            .client
            .get(format!("http://{}/console/api{path}", t.addr()))
            .header(reqwest::header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }

    // The background worker's minute: the retention sweep.
    let now = t.clock.now_ms();
    db.call(move |c| {
        access_server::retention::sweep(c, &access_server::config::RetentionConfig::default(), now)
    })
    .await
    .unwrap();

    let statements = db.record_statements(false);
    assert!(statements.len() > 30, "{statements:#?}");
    let postgres = t.on_postgres();
    let mut scans = Vec::new();
    for sql in &statements {
        let plan = db
            .transaction({
                let sql = sql.clone();
                move |c| Ok(plan(c, &sql, postgres))
            })
            .unwrap();
        let plan = match plan {
            Ok(plan) => plan,
            Err(e) => {
                scans.push(format!("{sql}\n  cannot be planned: {e}"));
                continue;
            }
        };
        if let Some(table) = full_scan(&plan, postgres) {
            scans.push(format!("{sql}\n  scans {table}: {}", plan.join(" | ")));
        }
    }
    assert!(
        scans.is_empty(),
        "statements of the hot paths scanning a table that grows with traffic:\n{}",
        scans.join("\n\n")
    );
    t.stop().await;
}

/// An operator's session cookie (`name=value`).
async fn console_session(t: &TestServer) -> String {
    let (email, password) = ("plans@example.com", "a long enough passphrase");
    let hash = access_server::operators::hash_password(password).unwrap();
    let now = t.clock.now_ms();
    t.server()
        .state
        .db
        .blocking_tx(|c| access_server::operators::add(c, email, &hash, now))
        .unwrap();
    let r = t
        .client
        .post(format!("http://{}/console/api/login", t.addr()))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let set = r.headers()[reqwest::header::SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

/// The engine's plan of `sql`, one line per step.
fn plan(
    c: &access_server::sql::Connection,
    sql: &str,
    postgres: bool,
) -> Result<Vec<String>, access_server::sql::SqlError> {
    let params = param_count(sql);
    if !postgres {
        // Parameters bound to NULL: SQLite's plan does not depend on their values.
        let nulls = vec![rusqlite::types::Null; params];
        let refs: Vec<&dyn access_server::sql::ToSql> = nulls
            .iter()
            .map(|n| n as &dyn access_server::sql::ToSql)
            .collect();
        return c.query_all(&format!("EXPLAIN QUERY PLAN {sql}"), &refs[..], |r| {
            r.get(3)
        });
    }
    // A generic plan (parameters unknown, as the server's prepared statements run) with
    // sequential scans priced out; `SET LOCAL` ends with this transaction.
    c.execute_batch(&format!(
        "SET LOCAL enable_seqscan = off; SET LOCAL plan_cache_mode = force_generic_plan;
         PREPARE plan_check AS {}",
        access_server::pg::placeholders(sql)
    ))?;
    let nulls = vec!["NULL"; params].join(", ");
    let args = if params == 0 {
        String::new()
    } else {
        format!("({nulls})")
    };
    let plan = c.query_all(&format!("EXPLAIN EXECUTE plan_check{args}"), [], |r| {
        r.get(0)
    });
    c.execute_batch("DEALLOCATE plan_check")?;
    plan
}

/// How many parameters `sql` takes: the highest `?N`, bare `?`s numbered in turn.
fn param_count(sql: &str) -> usize {
    let (mut max, mut bare) = (0, 0);
    for (i, _) in sql.match_indices('?') {
        let digits: String = sql[i + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        match digits.parse::<usize>() {
            Ok(n) => max = max.max(n),
            Err(_) => bare += 1,
        }
    }
    max.max(bare)
}

/// Tables holding a project's history without bound (unlike its people's templates): an
/// index that narrows them to the project alone still reads all of it.
const PROJECT_HISTORY: &[&str] = &["validations", "sync_events", "erasures", "outbox"];

/// The growing table a plan reads in full, if any: a scan of the table, or (SQLite, which
/// names the index's constrained columns) a search that narrows a project's history only to
/// the project.
fn full_scan(plan: &[String], postgres: bool) -> Option<String> {
    plan.iter().find_map(|step| {
        let step = step.trim().trim_start_matches("->").trim();
        if !postgres
            && let Some(rest) = step.strip_prefix("SEARCH ")
            && let Some(table) = rest.split_whitespace().next()
            && PROJECT_HISTORY.contains(&table)
            && rest.ends_with("(project_id=?)")
        {
            return Some(format!("{table} (the whole project)"));
        }
        let table = if postgres {
            step.split_once("Seq Scan on ")?.1
        } else {
            step.strip_prefix("SCAN ")?
        };
        let table = table.split_whitespace().next()?;
        GROWING_TABLES.contains(&table).then(|| table.to_string())
    })
}
