//! Webhooks: what is delivered (exactly the committed events, as `audit/list` shows them,
//! signed), what is not (rolled-back changes, unmatched events, internal addresses), retries
//! and the failing state, secret rotation, `key.expiring`, and one delivery per event with two
//! instances on PostgreSQL. The official Standard Webhooks library checks deliveries in
//! `scripts/test-webhooks.sh` (with `kill -9`); here signatures are checked by hand.

use crate::support::*;
use axum::{extract::State, http::HeaderMap, routing::post, Router};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use hmac::{Hmac, Mac};
use keyward::domain::audit::AuditAction;
use keyward::server::audit::{Actor, Event, Origin};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::{
    atomic::{AtomicU16, Ordering},
    Arc, Mutex,
};
use std::time::Duration;

/// One request a receiver got.
#[derive(Clone, Debug)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// A receiver on loopback that records every request and answers with `status`.
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
}

async fn receiver() -> Receiver {
    let got = Arc::new(Mutex::new(Vec::new()));
    let status = Arc::new(AtomicU16::new(200));
    let state = (got.clone(), status.clone());
    type Shared = (Arc<Mutex<Vec<Received>>>, Arc<AtomicU16>);
    async fn record(
        State((got, status)): State<Shared>,
        headers: HeaderMap,
        body: String,
    ) -> (axum::http::StatusCode, &'static str) {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        got.lock().unwrap().push(Received {
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            body,
        });
        let code = axum::http::StatusCode::from_u16(status.load(Ordering::SeqCst)).unwrap();
        (code, "thanks")
    }
    let router = Router::new().route("/hook", post(record)).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Receiver { url, got, status }
}

impl Receiver {
    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `count` requests came (or fails after 10 s).
    async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..200 {
            let got = self.received();
            if got.len() >= count {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {count} deliveries, got {:?}", self.received());
    }
}

/// Whether one of the signatures in `received` is by `secret` (`whsec_…`), computed as the
/// Standard Webhooks specification says.
fn signed_by(received: &Received, secret: &str) -> bool {
    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.{}", received.id, received.timestamp, received.body).as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    received.signature.split(' ').any(|part| part == expected)
}

async fn create_webhook(admin: &Caller, url: &str, events: Value) -> (String, String) {
    let created = admin
        .call_ok(
            "webhooks/create",
            json!({"url": url, "events": events, "description": "the SIEM"}),
            StatusCode::CREATED,
        )
        .await;
    (
        created["webhook"]["id"].as_str().unwrap().to_string(),
        created["secret"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn a_committed_change_is_delivered_signed_as_the_trail_shows_it_and_nothing_else_is() {
    on_each_engine(|app| async move {
        let receiver = receiver().await;
        let (admin, _) = app.signup("admin@hooks.example").await;
        let (webhook_id, secret) = create_webhook(&admin, &receiver.url, json!(["key.*"])).await;
        assert!(secret.starts_with("whsec_"));
        let (key, key_secret) = admin.create_key(json!({"name": "ci"})).await;
        // Not matched: a check, and the webhook's own creation.
        admin
            .call_ok(
                "checks/create",
                json!({"name": "home", "kind": "api", "url": "https://example.com/health", "frequency_minutes": 5, "activated": true}),
                StatusCode::CREATED,
            )
            .await;
        // A leak report reaches it too (key.leak_reported).
        app.anonymous()
            .call_ok("keys/report-leak", json!({"secrets": [key_secret]}), StatusCode::ACCEPTED)
            .await;
        let mut got = receiver.wait_for(2).await;
        // Deliveries go out side by side, in no promised order: the chain position orders them.
        got.sort_by_key(|received| received.json()["chain"]["seq"].as_i64());
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let got_later = receiver.received();
        assert_eq!(got_later.len(), 2, "only key events: {got_later:?}");
        let types: Vec<Value> = got.iter().map(|r| r.json()["type"].clone()).collect();
        assert_eq!(types, [json!("key.created"), json!("key.leak_reported")]);

        let created = &got[0];
        assert!(signed_by(created, &secret), "signature verifies");
        assert!(!signed_by(created, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        let body = created.json();
        // The event exactly as audit/list shows it, and where it sits in the chain.
        let listed = admin
            .call_ok("audit/list", json!({"action": "key.created"}), StatusCode::OK)
            .await;
        assert_eq!(body["data"], listed["events"][0]);
        assert_eq!(body["data"]["target"]["id"], key["id"]);
        assert_eq!(created.id, body["data"]["id"].as_str().unwrap());
        assert!(body["chain"]["seq"].as_i64().unwrap() >= 2);
        assert_eq!(body["chain"]["hash"].as_str().unwrap().len(), 64);
        let now = keyward::domain::time::now_millis().as_i64() / 1000;
        let timestamp: i64 = created.timestamp.parse().unwrap();
        assert!((now - timestamp).abs() < 30);

        // The delivery list says how it went.
        let deliveries = admin
            .call_ok("webhooks/deliveries", json!({"webhook_id": webhook_id}), StatusCode::OK)
            .await;
        let list = deliveries["deliveries"].as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.iter().all(|d| d["status"] == "delivered"
            && d["response_status"] == 200
            && d["response_body"] == "thanks"
            && d["attempts"] == 1));

        // Nothing about the secret reaches the database or the logs.
        let salts: Vec<(String,)> = sqlx::query_as("SELECT secret_salt FROM webhooks")
            .fetch_all(&app.state.pool)
            .await
            .unwrap();
        assert!(!salts.is_empty());
        for (salt,) in salts {
            assert!(!secret.contains(&salt));
        }
        assert!(!captured_logs().contains(&secret));
        assert!(!captured_logs().contains(secret.trim_start_matches("whsec_")));
    })
    .await;
}

#[tokio::test]
async fn a_change_that_rolls_back_leaves_no_delivery() {
    on_each_engine(|app| async move {
        let receiver = receiver().await;
        let (admin, me) = app.signup("rollback@hooks.example").await;
        create_webhook(&admin, &receiver.url, json!(["check.*"])).await;
        let account_id = keyward::domain::ids::AccountId::parse(
            "account_id",
            me["account"]["id"].as_str().unwrap(),
        )
        .unwrap();
        let event = Event::new(
            &app.state.key_hasher,
            &account_id,
            AuditAction::CheckCreated,
            Actor::cli(),
            Origin::default(),
        );
        let mut transaction = app.state.pool.begin().await.unwrap();
        keyward::server::stores::audit::append(&mut transaction, &event)
            .await
            .unwrap();
        let (written,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM webhook_deliveries")
            .fetch_one(&mut *transaction)
            .await
            .unwrap();
        assert_eq!(
            written, 1,
            "the append writes the delivery in its transaction"
        );
        transaction.rollback().await.unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(receiver.received().is_empty());
        let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM webhook_deliveries")
            .fetch_one(&app.state.pool)
            .await
            .unwrap();
        assert_eq!(left, 0);
    })
    .await;
}

#[tokio::test]
async fn a_failing_receiver_gets_retries_then_its_endpoint_fails_and_recovers() {
    on_each_engine(|app| async move {
        let receiver = receiver().await;
        receiver.status.store(503, Ordering::SeqCst);
        let (admin, _) = app.signup("failing@hooks.example").await;
        let (webhook_id, _) = create_webhook(&admin, &receiver.url, json!(["key.created"])).await;
        admin.create_key(json!({"name": "one"})).await;
        // The tests' schedule: two retries 300 ms apart, so three attempts.
        let got = receiver.wait_for(3).await;
        assert!(
            got.iter().all(|r| r.id == got[0].id),
            "retries repeat the webhook-id"
        );
        let mut failing = Value::Null;
        for _ in 0..100 {
            failing = admin
                .call_ok("webhooks/list", json!({}), StatusCode::OK)
                .await;
            if failing["webhooks"][0]["status"] == "failing" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(failing["webhooks"][0]["status"], "failing");
        assert!(failing["webhooks"][0]["failing_since"].is_string());
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(
            receiver.received().len(),
            3,
            "no attempt after the last retry"
        );
        let deliveries = admin
            .call_ok(
                "webhooks/deliveries",
                json!({"webhook_id": webhook_id}),
                StatusCode::OK,
            )
            .await;
        let delivery = &deliveries["deliveries"][0];
        assert_eq!(delivery["status"], "failed");
        assert_eq!(delivery["attempts"], 3);
        assert_eq!(delivery["response_status"], 503);
        let trail = admin
            .call_ok(
                "audit/list",
                json!({"action": "webhook.failing"}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(trail["events"].as_array().unwrap().len(), 1);
        assert!(trail["events"][0]["details"]["error"]
            .as_str()
            .unwrap()
            .contains("503"));

        // Fixed: a redelivery goes through and the endpoint is active again.
        receiver.status.store(204, Ordering::SeqCst);
        admin
            .call_ok(
                "webhooks/redeliver",
                json!({"delivery_id": delivery["id"]}),
                StatusCode::ACCEPTED,
            )
            .await;
        let got = receiver.wait_for(4).await;
        assert_eq!(got[3].id, got[0].id);
        for _ in 0..100 {
            let list = admin
                .call_ok("webhooks/list", json!({}), StatusCode::OK)
                .await;
            if list["webhooks"][0]["status"] == "active" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the endpoint stayed failing after a delivery was received");
    })
    .await;
}

#[tokio::test]
async fn internal_addresses_are_refused_by_name_and_by_what_a_name_resolves_to() {
    let guarded = |config: &mut keyward::server::config::Config| {
        config.webhooks.allow_private = false;
        config.webhooks.retries = vec![];
    };
    on_each_engine_with(guarded, |app| async move {
        let receiver = receiver().await;
        let (admin, _) = app.signup("ssrf@hooks.example").await;
        for url in [
            receiver.url.clone(),
            "http://169.254.169.254/latest/meta-data/".to_string(),
            "http://[::1]:8080/".to_string(),
            "http://10.0.0.5:6379/".to_string(),
            "http://localhost:9000/hook".to_string(),
            "http://2130706433/".to_string(),
        ] {
            let (status, body) = admin
                .call_json("webhooks/create", json!({"url": url, "events": ["*"]}))
                .await;
            assert_invalid_field(status, &body, "url");
            assert!(body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("internal"));
        }
        for (url, field) in [
            ("ftp://example.com/", "url"),
            ("https://user:secret@example.com/", "url"),
        ] {
            let (status, body) = admin
                .call_json("webhooks/create", json!({"url": url, "events": ["*"]}))
                .await;
            assert_invalid_field(status, &body, field);
        }
        let (status, body) = admin
            .call_json(
                "webhooks/create",
                json!({"url": "https://example.com/", "events": ["kye.*"]}),
            )
            .await;
        assert_invalid_field(status, &body, "events");

        // A name is checked on the address it resolves to, at delivery: this machine's own
        // name resolves to one of its internal addresses.
        let host = std::process::Command::new("hostname").output().unwrap();
        let host = String::from_utf8(host.stdout).unwrap().trim().to_string();
        let port = receiver.url.rsplit(':').next().unwrap();
        let resolved: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 80))
            .await
            .map(|found| found.collect())
            .unwrap_or_default();
        if resolved.is_empty()
            || !resolved
                .iter()
                .all(|address| keyward::server::webhooks::targets::is_forbidden(address.ip()))
        {
            eprintln!("SKIPPED the name part: {host} resolves to {resolved:?}");
            return;
        }
        let (webhook_id, _) =
            create_webhook(&admin, &format!("http://{host}:{port}"), json!(["key.*"])).await;
        admin.create_key(json!({"name": "rebinding"})).await;
        let mut delivery = Value::Null;
        for _ in 0..100 {
            let list = admin
                .call_ok(
                    "webhooks/deliveries",
                    json!({"webhook_id": webhook_id}),
                    StatusCode::OK,
                )
                .await;
            delivery = list["deliveries"][0].clone();
            if delivery["status"] == "failed" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(delivery["status"], "failed", "{delivery}");
        assert!(
            delivery["error"].as_str().unwrap().contains("internal"),
            "{delivery}"
        );
        assert!(
            receiver.received().is_empty(),
            "nothing reached the internal receiver"
        );
    })
    .await;
}

#[tokio::test]
async fn after_a_rotation_both_secrets_sign_until_the_overlap_ends() {
    on_each_engine(|app| async move {
        let receiver = receiver().await;
        let (admin, _) = app.signup("rotate@hooks.example").await;
        let (webhook_id, old) = create_webhook(&admin, &receiver.url, json!(["key.created"])).await;
        admin.create_key(json!({"name": "before"})).await;
        let before = receiver.wait_for(1).await;
        assert!(signed_by(&before[0], &old));
        let rotated = admin
            .call_ok(
                "webhooks/rotate-secret",
                json!({"webhook_id": webhook_id}),
                StatusCode::OK,
            )
            .await;
        let new = rotated["secret"].as_str().unwrap().to_string();
        assert_ne!(new, old);
        admin.create_key(json!({"name": "during"})).await;
        let during = receiver.wait_for(2).await;
        assert!(
            signed_by(&during[1], &old),
            "receivers still on the old secret verify"
        );
        assert!(
            signed_by(&during[1], &new),
            "receivers on the new secret verify"
        );
        let list = admin
            .call_ok("webhooks/list", json!({}), StatusCode::OK)
            .await;
        assert_eq!(
            list["webhooks"][0]["previous_secret_until"],
            rotated["previous_secret_until"]
        );
        // The overlap over (moved into the past here), only the new secret signs.
        sqlx::query("UPDATE webhooks SET previous_secret_until = 1")
            .execute(&app.state.pool)
            .await
            .unwrap();
        admin.create_key(json!({"name": "after"})).await;
        let after = receiver.wait_for(3).await;
        assert!(signed_by(&after[2], &new));
        assert!(!signed_by(&after[2], &old));
        // A test event goes to the endpoint whatever its patterns.
        admin
            .call_ok(
                "webhooks/test",
                json!({"webhook_id": webhook_id}),
                StatusCode::ACCEPTED,
            )
            .await;
        let tested = receiver.wait_for(4).await;
        assert_eq!(tested[3].json()["type"], "webhook.test");
        assert!(signed_by(&tested[3], &new));
    })
    .await;
}

#[tokio::test]
async fn a_key_expiring_within_a_week_is_an_event_once() {
    on_each_engine(|app| async move {
        let receiver = receiver().await;
        let (admin, _) = app.signup("expiring@hooks.example").await;
        create_webhook(&admin, &receiver.url, json!(["key.expiring"])).await;
        let soon = keyward::domain::time::now_millis()
            .after(Duration::from_secs(3 * 86_400))
            .rfc3339();
        let (key, _) = admin
            .create_key(json!({"name": "short-lived", "expires_at": soon}))
            .await;
        admin.create_key(json!({"name": "forever"})).await;
        let now = keyward::domain::time::now_millis();
        let written = keyward::server::webhooks::worker::record_expiring_keys(&app.state, now)
            .await
            .unwrap();
        assert_eq!(written, 1);
        let again = keyward::server::webhooks::worker::record_expiring_keys(&app.state, now)
            .await
            .unwrap();
        assert_eq!(again, 0, "once per key");
        let got = receiver.wait_for(1).await;
        let body = got[0].json();
        assert_eq!(body["type"], "key.expiring");
        assert_eq!(body["data"]["target"]["id"], key["id"]);
        assert_eq!(body["data"]["details"]["owner"], "expiring@hooks.example");
    })
    .await;
}

#[tokio::test]
async fn two_instances_on_postgresql_deliver_each_event_once() {
    let Some(instances) = spawn_instances(Engine::Postgres, 2, |_| {}).await else {
        return postgres_did_not_answer();
    };
    let receiver = receiver().await;
    let (admin, _) = instances[0].signup("twice@hooks.example").await;
    create_webhook(&admin, &receiver.url, json!(["key.created"])).await;
    let on_second = admin.at(&instances[1]);
    let mut made = Vec::new();
    for n in 0..30 {
        let caller = if n % 2 == 0 { &admin } else { &on_second };
        made.push(caller.create_key(json!({"name": format!("key {n}")})));
    }
    futures_util::future::join_all(made).await;
    let got = receiver.wait_for(30).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got_later = receiver.received();
    assert_eq!(got_later.len(), 30, "no event twice");
    let ids: std::collections::HashSet<&str> = got.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 30);
}

#[tokio::test]
async fn webhooks_are_the_accounts_own() {
    on_each_engine(|app| async move {
        let receiver = receiver().await;
        let (admin, _) = app.signup("mine@hooks.example").await;
        let (other, _) = app.signup("theirs@hooks.example").await;
        let (webhook_id, _) = create_webhook(&admin, &receiver.url, json!(["*"])).await;
        for (operation, body) in [
            (
                "webhooks/update",
                json!({"webhook_id": webhook_id, "url": "https://evil.example/"}),
            ),
            ("webhooks/delete", json!({"webhook_id": webhook_id})),
            ("webhooks/rotate-secret", json!({"webhook_id": webhook_id})),
            ("webhooks/deliveries", json!({"webhook_id": webhook_id})),
            ("webhooks/test", json!({"webhook_id": webhook_id})),
        ] {
            let (status, body) = other.call_json(operation, body).await;
            assert_error(status, &body, 404, "not_found");
        }
        let theirs = other
            .call_ok("webhooks/list", json!({}), StatusCode::OK)
            .await;
        assert_eq!(theirs["webhooks"], json!([]));
        // The other account's events never reach this endpoint.
        other.create_key(json!({"name": "theirs"})).await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert!(receiver
            .received()
            .iter()
            .all(|r| !r.body.contains("theirs@hooks.example")));
        // An Admin's key reads webhooks but does not change them.
        let (_, key) = admin.create_key(json!({"name": "automation"})).await;
        let with_key = app.with_key(&key);
        with_key
            .call_ok("webhooks/list", json!({}), StatusCode::OK)
            .await;
        let (status, body) = with_key
            .call_json(
                "webhooks/create",
                json!({"url": receiver.url, "events": ["*"]}),
            )
            .await;
        assert_error(status, &body, 403, "forbidden");
    })
    .await;
}
