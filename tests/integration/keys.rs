//! User-scoped API keys: creation, verification, revocation, legacy keys.

use crate::support::*;
use keyward::domain::time::now_millis;
use keyward::host::cli::import_legacy_secrets;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Row;

fn a_check() -> Value {
    json!({"name": "API", "kind": "api", "url": "https://api.example.com", "frequency_minutes": 1, "activated": true})
}

/// Every text value stored in the tables keyward owns, to search for secrets.
async fn all_stored_text(app: &TestApp) -> String {
    let mut everything = String::new();
    for table in [
        "users",
        "accounts",
        "memberships",
        "invites",
        "api_keys",
        "checks",
    ] {
        let rows = sqlx::query(&format!("SELECT * FROM {table}"))
            .fetch_all(&app.state.pool)
            .await
            .unwrap();
        for row in rows {
            for index in 0..row.len() {
                if let Ok(Some(text)) = row.try_get::<Option<String>, _>(index) {
                    everything.push_str(&text);
                    everything.push('\n');
                }
            }
        }
    }
    everything
}

#[tokio::test]
async fn a_key_is_shown_once_and_stored_only_as_a_keyed_hash() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("keys@example.com").await;
        let (key, secret) = admin.create_key(json!({"name": "CI deploy"})).await;
        assert_eq!(secret.len(), 41);
        assert!(secret.starts_with("kw_"));
        assert_eq!(key["kind"], "user");
        assert_eq!(key["status"], "active");
        assert_eq!(key["effective_role"], "admin");
        assert_eq!(key["role_cap"], Value::Null);
        assert_eq!(key["owner"]["email"], "keys@example.com");
        let hint = key["hint"].as_str().unwrap();
        assert!(
            hint.starts_with(&secret[..7]) && hint.ends_with(&secret[37..]),
            "{hint}"
        );
        assert!(key.get("secret").is_none() && key.get("secret_hash").is_none());

        let by_key = app.with_key(&secret);
        let me = by_key.call_ok("auth/me", json!({}), StatusCode::OK).await;
        assert_eq!(me["via"], "user_key");
        assert_eq!(me["key_id"], key["id"]);
        by_key
            .call_ok("checks/create", a_check(), StatusCode::CREATED)
            .await;

        let listed = admin.call_ok("keys/list", json!({}), StatusCode::OK).await;
        let all_keys = admin
            .call_ok("account-keys/list", json!({}), StatusCode::OK)
            .await;
        for later in [&listed, &all_keys, &me] {
            assert!(
                !later.to_string().contains(&secret[3..]),
                "a later response leaks the secret"
            );
        }
        assert!(
            !all_stored_text(&app).await.contains(&secret[3..]),
            "the database holds the secret"
        );
        // The scan below means something only if this server's logs were captured at all:
        // the creation of this very key is logged (by id, never by secret).
        let logs = captured_logs();
        assert!(
            logs.contains(&format!("key_id={}", key["id"].as_str().unwrap())),
            "the test captured no log of this server"
        );
        assert!(!logs.contains(&secret[3..]), "the logs hold the secret");
    })
    .await;
}

#[tokio::test]
async fn role_changes_and_removal_apply_to_keys_on_the_next_request() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("boss@example.com").await;
        let (member, accepted) = app
            .add_member(&admin, "dev@example.com", "read_write")
            .await;
        let member_id = accepted["user"]["id"].as_str().unwrap().to_string();
        let (_, secret) = member.create_key(json!({"name": "laptop script"})).await;
        let key = app.with_key(&secret);
        key.call_ok("checks/create", a_check(), StatusCode::CREATED)
            .await;

        admin
            .call_ok(
                "members/set-role",
                json!({"user_id": member_id, "role": "read_only"}),
                StatusCode::OK,
            )
            .await;
        let (status, error) = key.call_json("checks/create", a_check()).await;
        assert_error(status, &error, 403, "forbidden");
        let me = key.call_ok("auth/me", json!({}), StatusCode::OK).await;
        assert_eq!(me["role"], "read_only");

        admin
            .call_ok(
                "members/set-role",
                json!({"user_id": member_id, "role": "read_write"}),
                StatusCode::OK,
            )
            .await;
        key.call_ok("checks/create", a_check(), StatusCode::CREATED)
            .await;

        admin
            .call_ok(
                "members/remove",
                json!({"user_id": member_id}),
                StatusCode::OK,
            )
            .await;
        let (status, error) = key.call_json("checks/list", json!({})).await;
        assert_error(status, &error, 401, "unauthenticated");

        // Invited back, the person starts over: the old key stays dead.
        app.add_member(&admin, "dev@example.com", "read_write")
            .await;
        let (status, _) = key.call_json("checks/list", json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn caps_limit_keys_and_keys_cannot_mint_stronger_keys() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("capper@example.com").await;
        let (capped, secret) = admin
            .create_key(json!({"name": "read only", "role_cap": "read_only"}))
            .await;
        assert_eq!(capped["effective_role"], "read_only");
        let key = app.with_key(&secret);
        let (status, _) = key.call_json("checks/create", a_check()).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = key.call_json("account-keys/list", json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // Through a key, making keys is a write: a Read only key makes none at all.
        let (status, error) = key
            .call_json("keys/create", json!({"name": "persist"}))
            .await;
        assert_error(status, &error, 403, "forbidden");

        let (_, writer_secret) = admin
            .create_key(json!({"name": "writer", "role_cap": "read_write"}))
            .await;
        let writer = app.with_key(&writer_secret);
        let (status, error) = writer
            .call_json(
                "keys/create",
                json!({"name": "escalate", "role_cap": "admin"}),
            )
            .await;
        assert_error(status, &error, 403, "forbidden");
        // Without a cap, a key made by a capped key inherits the cap, not the owner's role.
        let (child, child_secret) = writer.create_key(json!({"name": "child"})).await;
        assert_eq!(child["role_cap"], "read_write");
        assert_eq!(child["effective_role"], "read_write");
        let (status, _) = app
            .with_key(&child_secret)
            .call_json("account-keys/list", json!({}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        let (member, _) = app.add_member(&admin, "ro@example.com", "read_only").await;
        let (status, error) = member
            .call_json(
                "keys/create",
                json!({"name": "up", "role_cap": "read_write"}),
            )
            .await;
        assert_error(status, &error, 403, "forbidden");

        for (body, field) in [
            (json!({"name": ""}), "name"),
            (
                json!({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}),
                "expires_at",
            ),
            (
                json!({"name": "x", "expires_at": "next week"}),
                "expires_at",
            ),
            (json!({"name": "x", "role_cap": "owner"}), "role_cap"),
            (json!({"name": "x", "secret": "kw_mine"}), "secret"),
        ] {
            let (status, error) = admin.call_json("keys/create", body.clone()).await;
            assert_invalid_field(status, &error, field);
        }
    })
    .await;
}

#[tokio::test]
async fn revoked_expired_foreign_and_malformed_keys_are_refused() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("revoker@example.com").await;
        let (member, _) = app
            .add_member(&admin, "holder@example.com", "read_write")
            .await;
        let (other_admin, _) = app.signup("stranger@example.com").await;

        let (own, own_secret) = member.create_key(json!({"name": "own"})).await;
        let (second, second_secret) = member.create_key(json!({"name": "second"})).await;
        let (status, error) = other_admin
            .call_json("keys/revoke", json!({"key_id": own["id"]}))
            .await;
        assert_error(status, &error, 404, "not_found");
        let (reader, _) = app
            .add_member(&admin, "reader@example.com", "read_only")
            .await;
        let (status, _) = reader
            .call_json("keys/revoke", json!({"key_id": own["id"]}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        let revoked = member
            .call_ok("keys/revoke", json!({"key_id": own["id"]}), StatusCode::OK)
            .await;
        assert_eq!(revoked["key"]["status"], "revoked");
        let (status, _) = app
            .with_key(&own_secret)
            .call_json("auth/me", json!({}))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        app.with_key(&second_secret)
            .call_ok("auth/me", json!({}), StatusCode::OK)
            .await;
        // An Admin may revoke any key of the account.
        admin
            .call_ok(
                "keys/revoke",
                json!({"key_id": second["id"]}),
                StatusCode::OK,
            )
            .await;
        let (status, _) = app
            .with_key(&second_secret)
            .call_json("auth/me", json!({}))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let listed = member.call_ok("keys/list", json!({}), StatusCode::OK).await;
        let statuses: Vec<_> = listed["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["status"].clone())
            .collect();
        assert_eq!(
            statuses,
            [json!("revoked"), json!("revoked")],
            "revoked keys stay listed"
        );

        let (expiring, expiring_secret) = member
            .create_key(json!({"name": "short-lived", "expires_at": "2099-01-01T00:00:00Z"}))
            .await;
        assert_eq!(expiring["expires_at"], "2099-01-01T00:00:00Z");
        sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE id = $2")
            .bind(now_millis().before(std::time::Duration::from_secs(1)))
            .bind(expiring["id"].as_str().unwrap())
            .execute(&app.state.pool)
            .await
            .unwrap();
        let (status, _) = app
            .with_key(&expiring_secret)
            .call_json("auth/me", json!({}))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let listed = member.call_ok("keys/list", json!({}), StatusCode::OK).await;
        assert_eq!(listed["keys"][0]["status"], "expired");

        let (_, valid) = member.create_key(json!({"name": "valid"})).await;
        let response = app
            .anonymous()
            .client
            .post(app.url("/api/v1/auth/me"))
            .bearer_auth(&valid)
            .header("x-account-id", "acc_someotheraccount")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "X-Account-Id naming another account"
        );
        let mut tampered = valid.clone().into_bytes();
        tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
        for bad in [
            String::from_utf8(tampered).unwrap(),
            "kw_short".to_string(),
            "Basic abc".to_string(),
        ] {
            let (status, error) = app.with_key(&bad).call_json("auth/me", json!({})).await;
            assert_error(status, &error, 401, "unauthenticated");
        }
    })
    .await;
}

#[tokio::test]
async fn a_malformed_key_is_refused_without_touching_the_database() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("offline@example.com").await;
        let (_, secret) = admin.create_key(json!({"name": "x"})).await;
        let mut bad_checksum = secret.clone().into_bytes();
        bad_checksum[40] = if bad_checksum[40] == b'0' { b'1' } else { b'0' };
        let bad_checksum = String::from_utf8(bad_checksum).unwrap();

        // With the database gone, anything that queries it fails with 500. A malformed key or
        // a bad checksum still gets a clean 401: it never reached the database.
        app.state.pool.close().await;
        for bad in [
            bad_checksum,
            "kw_tooshort".to_string(),
            format!("{}!", &secret[..40]),
        ] {
            let (status, error) = app.with_key(&bad).call_json("checks/list", json!({})).await;
            assert_error(status, &error, 401, "unauthenticated");
        }
        let (status, error) = app
            .with_key(&secret)
            .call_json("checks/list", json!({}))
            .await;
        assert_error(status, &error, 500, "internal");
        assert!(
            !error.to_string().contains("pool"),
            "no internal detail leaks: {error}"
        );
    })
    .await;
}

#[tokio::test]
async fn legacy_account_keys_work_as_admin_but_cannot_be_created_or_own_keys() {
    on_each_engine(|app| async move {
        let (admin, signed_up) = app.signup("legacy@example.com").await;
        let account_id = keyward::domain::ids::AccountId::parse(
            "account_id",
            signed_up["account"]["id"].as_str().unwrap(),
        )
        .unwrap();
        let legacy_secret = "old-style-account-key-0123456789abcdef";
        let input = format!("{legacy_secret}\n\n");
        let imported = import_legacy_secrets(
            &app.state.pool,
            &app.state.key_hasher,
            &account_id,
            input.as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(imported, 1);

        let legacy = app.with_key(legacy_secret);
        let me = legacy.call_ok("auth/me", json!({}), StatusCode::OK).await;
        assert_eq!(me["via"], "account_key");
        assert_eq!(me["role"], "admin");
        assert_eq!(me["user"], Value::Null);
        legacy
            .call_ok("checks/create", a_check(), StatusCode::CREATED)
            .await;
        legacy
            .call_ok("members/list", json!({}), StatusCode::OK)
            .await;
        let (status, _) = legacy
            .call_json("keys/create", json!({"name": "new"}))
            .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "no way to create a key without an owner"
        );
        let (status, _) = legacy.call_json("keys/list", json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        let all = admin
            .call_ok("account-keys/list", json!({}), StatusCode::OK)
            .await;
        let legacy_view = all["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kind"] == "legacy_account")
            .unwrap()
            .clone();
        assert_eq!(legacy_view["owner"], Value::Null);
        assert_eq!(legacy_view["effective_role"], "admin");
        assert!(!all.to_string().contains(legacy_secret));
        assert!(!all_stored_text(&app).await.contains(legacy_secret));

        admin
            .call_ok(
                "keys/revoke",
                json!({"key_id": legacy_view["id"]}),
                StatusCode::OK,
            )
            .await;
        let (status, _) = legacy.call_json("auth/me", json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn last_use_is_recorded_without_writing_on_the_request_path() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("usage@example.com").await;
        let (key, secret) = admin.create_key(json!({"name": "used"})).await;
        app.with_key(&secret)
            .call_ok("checks/list", json!({}), StatusCode::OK)
            .await;
        let before = admin.call_ok("keys/list", json!({}), StatusCode::OK).await;
        assert_eq!(
            before["keys"][0]["last_used_at"],
            Value::Null,
            "collected in memory first"
        );
        let flushed = app.state.key_usage.flush(&app.state.pool).await.unwrap();
        assert_eq!(flushed, 1);
        let after = admin.call_ok("keys/list", json!({}), StatusCode::OK).await;
        assert_eq!(after["keys"][0]["id"], key["id"]);
        assert!(after["keys"][0]["last_used_at"].as_str().is_some());
        assert_eq!(after["keys"][0]["last_used_ip"], "127.0.0.1");
        assert_eq!(after["keys"][0]["usage_7d"], json!([0, 0, 0, 0, 0, 0, 1]));

        // Counts add up across flushes, per UTC day, today last.
        for _ in 0..4 {
            app.with_key(&secret)
                .call_ok("auth/me", json!({}), StatusCode::OK)
                .await;
        }
        app.state.key_usage.flush(&app.state.pool).await.unwrap();
        let counted = admin
            .call_ok("account-keys/list", json!({}), StatusCode::OK)
            .await;
        assert_eq!(counted["keys"][0]["usage_7d"], json!([0, 0, 0, 0, 0, 0, 5]));
    })
    .await;
}

/// A secret scanner posts what it found, without credentials: valid keys die at once (with
/// their children), their owner sees why, the trail names the reporter's address, and the
/// answer is the same 202 whatever was sent.
#[tokio::test]
async fn anyone_can_report_a_leaked_key_and_it_dies_at_once() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("leaky@example.com").await;
        let (member, _) = app
            .add_member(&admin, "dev@example.com", "read_write")
            .await;
        let (leaked, leaked_secret) = member.create_key(json!({"name": "in a gist"})).await;
        let (_, child_secret) = app
            .with_key(&leaked_secret)
            .create_key(json!({"name": "child"}))
            .await;
        let (_, safe_secret) = member.create_key(json!({"name": "safe"})).await;
        let (stranger, _) = app.signup("stranger@example.com").await;
        let (_, revoked_secret) = stranger.create_key(json!({"name": "old"})).await;

        let scanner = app.anonymous_from("127.0.3.1");
        let reported = scanner
            .call(
                "keys/report-leak",
                json!({"secrets": [format!(" {leaked_secret}\n"), "kw_nonsense", "ghp_notours0123456789"]}),
            )
            .await;
        assert_eq!(reported.status(), StatusCode::ACCEPTED);
        assert_eq!(reported.json::<Value>().await.unwrap(), json!({}));
        for (secret, expected) in [
            (&leaked_secret, StatusCode::UNAUTHORIZED),
            (&child_secret, StatusCode::UNAUTHORIZED),
            (&safe_secret, StatusCode::OK),
            (&revoked_secret, StatusCode::OK),
        ] {
            let (status, _) = app.with_key(secret).call_json("auth/me", json!({})).await;
            assert_eq!(status, expected);
        }
        let keys = member.call_ok("keys/list", json!({}), StatusCode::OK).await;
        let view = keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|key| key["id"] == leaked["id"])
            .unwrap();
        assert_eq!(view["status"], "revoked");
        assert!(view["leak_reported_at"].is_string(), "the owner sees why");
        let trail = admin
            .call_ok("audit/list", json!({"action": "key.leak_reported"}), StatusCode::OK)
            .await;
        assert_eq!(trail["events"].as_array().unwrap().len(), 1);
        let event = &trail["events"][0];
        assert_eq!(event["client_address"], "127.0.3.1");
        assert_eq!(event["actor"]["type"], "anonymous");
        assert_eq!(event["target"]["id"], leaked["id"]);
        assert_eq!(event["details"]["children_revoked"], 1);

        // Reporting it again changes nothing and records nothing; the answer is the same, and
        // it settles as one that revoked a key does (announced to every live instance and
        // acknowledged, or waited for: see `peers`), so its timing tells nothing either.
        let again = scanner
            .call("keys/report-leak", json!({"secrets": [leaked_secret]}))
            .await;
        assert_eq!(again.status(), StatusCode::ACCEPTED);
        let trail = admin
            .call_ok("audit/list", json!({"action": "key.leak_reported"}), StatusCode::OK)
            .await;
        assert_eq!(trail["events"].as_array().unwrap().len(), 1);

        for body in [json!({"secrets": []}), json!({"secrets": vec!["x"; 101]})] {
            let (status, error) = scanner.call_json("keys/report-leak", body).await;
            assert_invalid_field(status, &error, "secrets");
        }
        // Throttled per address.
        let per_minute = keyward::server::limits::throttle::LEAK_REPORTS_PER_MINUTE as usize;
        let flooder = app.anonymous_from("127.0.3.2");
        let mut accepted = 0;
        let mut limited = false;
        // The budget refills one every two seconds: a slow machine may fit a few more in.
        for _ in 0..2 * per_minute {
            let response = flooder
                .call("keys/report-leak", json!({"secrets": ["kw_nothing"]}))
                .await;
            if response.status() == StatusCode::TOO_MANY_REQUESTS {
                assert!(response.headers().contains_key("retry-after"));
                limited = true;
                break;
            }
            assert_eq!(response.status(), StatusCode::ACCEPTED);
            accepted += 1;
        }
        assert!(limited, "flooding was throttled");
        assert!(
            (per_minute..per_minute + 5).contains(&accepted),
            "{accepted} accepted"
        );
    })
    .await;
}

/// Every answer to a key with an expiry says when; in its last week it also warns.
#[tokio::test]
async fn answers_to_an_expiring_key_announce_its_expiry() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("expiring@example.com").await;
        let in_days = |days: u64| {
            now_millis()
                .after(std::time::Duration::from_secs(days * 86_400 - 60))
                .rfc3339()
        };
        for (expires_at, warning, flagged) in [
            (Some(in_days(3)), Some("expires in 3 days"), json!(3)),
            (Some(in_days(30)), None, json!(30)),
            (None, None, Value::Null),
        ] {
            let (key, secret) = admin
                .create_key(json!({"name": "k", "expires_at": expires_at}))
                .await;
            assert_eq!(key["expires_in_days"], flagged, "flagged in the lists");
            let response = app.with_key(&secret).call("checks/list", json!({})).await;
            assert_eq!(response.status(), StatusCode::OK);
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .map(|value| value.to_str().unwrap().to_string())
            };
            assert_eq!(
                header("keyward-key-expires"),
                key["expires_at"].as_str().map(String::from)
            );
            assert_eq!(header("keyward-key-warning").as_deref(), warning);
        }
    })
    .await;
}

/// The account's key policy applies when a key is made and, for the maximum lifetime, every
/// time it is used: a key older than the maximum is refused (and audited) but not revoked.
#[tokio::test]
async fn the_key_policy_binds_at_creation_and_at_use() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("policy@example.com").await;
        let (member, _) = app
            .add_member(&admin, "member@example.com", "read_write")
            .await;
        let (old_key, old_secret) = member.create_key(json!({"name": "forever"})).await;
        let policy = member
            .call_ok("account/policy", json!({}), StatusCode::OK)
            .await;
        assert_eq!(
            policy["policy"],
            json!({"max_key_lifetime_days": null, "require_expiry": false, "require_service_key_guard": false, "require_second_factor": false, "require_sso": false})
        );
        let (status, _) = member
            .call_json("account/set-policy", json!({"require_expiry": true}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        for (body, field) in [
            (json!({"max_key_lifetime_days": 0}), "max_key_lifetime_days"),
            (
                json!({"max_key_lifetime_days": 3651}),
                "max_key_lifetime_days",
            ),
            (json!({"require_expiry": "yes"}), "require_expiry"),
        ] {
            let (status, error) = admin.call_json("account/set-policy", body).await;
            assert_invalid_field(status, &error, field);
        }

        let set = admin
            .call_ok(
                "account/set-policy",
                json!({"max_key_lifetime_days": 30}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(set["policy"]["max_key_lifetime_days"], 30);
        let in_days = |days: u64| {
            now_millis()
                .after(std::time::Duration::from_secs(days * 86_400))
                .rfc3339()
        };
        for body in [
            json!({"name": "no expiry"}),
            json!({"name": "too long", "expires_at": in_days(31)}),
        ] {
            let (status, error) = member.call_json("keys/create", body).await;
            assert_invalid_field(status, &error, "expires_at");
        }
        let (_, fresh) = member
            .create_key(json!({"name": "monthly", "expires_at": in_days(29)}))
            .await;

        // An old key (made before the policy, 40 days ago) is refused, not revoked.
        sqlx::query("UPDATE api_keys SET created_at = $1 WHERE id = $2")
            .bind(now_millis().before(std::time::Duration::from_secs(40 * 86_400)))
            .bind(old_key["id"].as_str().unwrap())
            .execute(&app.state.pool)
            .await
            .unwrap();
        let old = app.anonymous_from("127.0.4.1").using_key(&old_secret);
        let (status, _) = old.call_json("auth/me", json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = app.with_key(&fresh).call_json("auth/me", json!({})).await;
        assert_eq!(status, StatusCode::OK);
        let rejected = admin
            .call_ok(
                "audit/list",
                json!({"action": "key.rejected"}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(
            rejected["events"][0]["details"]["reason"],
            "older_than_policy"
        );
        let changed = admin
            .call_ok(
                "audit/list",
                json!({"action": "policy.changed"}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(
            changed["events"][0]["details"]["to"]["max_key_lifetime_days"],
            30
        );

        // Lifting the maximum brings the old key back; requiring an expiry still binds new keys.
        admin
            .call_ok(
                "account/set-policy",
                json!({"max_key_lifetime_days": null, "require_expiry": true}),
                StatusCode::OK,
            )
            .await;
        let (status, _) = old.call_json("auth/me", json!({})).await;
        assert_eq!(status, StatusCode::OK, "refused, never revoked");
        let (status, error) = member
            .call_json("keys/create", json!({"name": "no expiry"}))
            .await;
        assert_invalid_field(status, &error, "expires_at");
        member
            .create_key(json!({"name": "far", "expires_at": in_days(400)}))
            .await;
    })
    .await;
}

/// Rotation without downtime: the successor is shown once and copies the key's settings; the
/// old secret works through the grace period and then stops, with the keys it created; a key
/// is rotated once.
#[tokio::test]
async fn a_rotated_key_keeps_working_through_its_grace_then_stops() {
    on_each_engine(|app| async move {
        let (owner, _) = app.signup("rotator@example.com").await;
        let in_days = |days: u64| {
            now_millis()
                .after(std::time::Duration::from_secs(days * 86_400))
                .rfc3339()
        };
        let (old, old_secret) = owner
            .create_key(
                json!({"name": "deploy", "role_cap": "read_write", "expires_at": in_days(30)}),
            )
            .await;
        let (_, child_secret) = app
            .with_key(&old_secret)
            .create_key(json!({"name": "child"}))
            .await;
        let rotated = owner
            .call_ok(
                "keys/rotate",
                json!({"key_id": old["id"], "grace_seconds": 3600}),
                StatusCode::CREATED,
            )
            .await;
        let successor = &rotated["key"];
        let new_secret = rotated["secret"].as_str().unwrap();
        assert_ne!(new_secret, old_secret);
        assert_eq!(successor["name"], "deploy");
        assert_eq!(successor["role_cap"], "read_write");
        assert_eq!(successor["status"], "active");
        assert!(successor["expires_at"].as_str().unwrap() > in_days(29).as_str());
        assert_eq!(rotated["previous"]["rotated_to"], successor["id"]);
        let stops = rotated["previous"]["expires_at"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            stops < in_days(1),
            "the old key stops after the grace: {stops}"
        );

        // Both work during the grace; the old key's child stops with it.
        for secret in [&old_secret, new_secret] {
            let response = app.with_key(secret).call("auth/me", json!({})).await;
            assert_eq!(response.status(), StatusCode::OK);
        }
        let response = app.with_key(&old_secret).call("auth/me", json!({})).await;
        assert_eq!(response.headers()["keyward-key-expires"], stops.as_str());
        let child = owner.call_ok("keys/list", json!({}), StatusCode::OK).await;
        let child = child["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|key| key["name"] == "child")
            .unwrap()
            .clone();
        assert_eq!(child["expires_at"], stops.as_str());

        let (status, _) = owner
            .call_json(
                "keys/rotate",
                json!({"key_id": old["id"], "grace_seconds": 0}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "a key is rotated once");
        let trail = owner
            .call_ok(
                "audit/list",
                json!({"action": "key.rotated"}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(
            trail["events"][0]["details"]["successor_key_id"],
            successor["id"]
        );

        // Grace 0: the old secret stops at once; the new one goes on.
        let again = owner
            .call_ok(
                "keys/rotate",
                json!({"key_id": successor["id"], "grace_seconds": 0}),
                StatusCode::CREATED,
            )
            .await;
        let thief = app.anonymous_from("127.0.5.1");
        for (secret, expected) in [
            (new_secret, StatusCode::UNAUTHORIZED),
            (again["secret"].as_str().unwrap(), StatusCode::OK),
            (&child_secret, StatusCode::OK),
        ] {
            let (status, _) = thief
                .using_key(secret)
                .call_json("auth/me", json!({}))
                .await;
            assert_eq!(status, expected);
        }

        // Through a key, only the key itself; and grace is bounded.
        let (other, other_secret) = owner.create_key(json!({"name": "other"})).await;
        let (status, _) = app
            .with_key(&other_secret)
            .call_json(
                "keys/rotate",
                json!({"key_id": again["key"]["id"], "grace_seconds": 0}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        app.with_key(&other_secret)
            .call_ok(
                "keys/rotate",
                json!({"key_id": other["id"], "grace_seconds": 60}),
                StatusCode::CREATED,
            )
            .await;
        let (status, error) = owner
            .call_json(
                "keys/rotate",
                json!({"key_id": again["key"]["id"], "grace_seconds": 604801}),
            )
            .await;
        assert_invalid_field(status, &error, "grace_seconds");
    })
    .await;
}

/// Guards per key: a key works only from its networks (403 elsewhere, audited) and within its
/// requests a minute (429 past it, with the RateLimit-* headers on every answer); a child stays
/// inside its parent's guards; only a session changes guards, and the next request sees it.
#[tokio::test]
async fn a_key_is_bound_to_its_networks_and_its_rate() {
    on_each_engine(|app| async move {
        let (owner, _) = app.signup("guarded@example.com").await;
        let (key, secret) = owner
            .create_key(
                json!({"name": "office", "allowed_cidrs": ["127.0.7.0/24", "2001:db8::/32"]}),
            )
            .await;
        assert_eq!(
            key["allowed_cidrs"],
            json!(["127.0.7.0/24", "2001:db8::/32"])
        );
        let inside = app.anonymous_from("127.0.7.9").using_key(&secret);
        let outside = app.anonymous_from("127.0.8.9").using_key(&secret);
        inside.call_ok("auth/me", json!({}), StatusCode::OK).await;
        let (status, error) = outside.call_json("auth/me", json!({})).await;
        assert_error(status, &error, 403, "forbidden");
        let rejected = owner
            .call_ok(
                "audit/list",
                json!({"action": "key.rejected"}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(
            rejected["events"][0]["details"]["reason"],
            "outside_networks"
        );
        assert_eq!(rejected["events"][0]["client_address"], "127.0.8.9");

        // A child may only narrow its parent's networks.
        let (child, _) = inside.create_key(json!({"name": "child"})).await;
        assert_eq!(child["allowed_cidrs"], key["allowed_cidrs"]);
        let (status, error) = inside
            .call_json(
                "keys/create",
                json!({"name": "wider", "allowed_cidrs": ["127.0.0.0/8"]}),
            )
            .await;
        assert_invalid_field(status, &error, "allowed_cidrs");
        // A key cannot change guards, not even its own; a session can, at once.
        let (status, _) = inside
            .call_json(
                "keys/update",
                json!({"key_id": key["id"], "allowed_cidrs": []}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let updated = owner
            .call_ok(
                "keys/update",
                json!({"key_id": key["id"], "allowed_cidrs": ["127.0.8.0/24"], "name": "moved"}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(updated["key"]["name"], "moved");
        outside.call_ok("auth/me", json!({}), StatusCode::OK).await;
        let (status, _) = inside.call_json("auth/me", json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        for (body, field) in [
            (
                json!({"key_id": key["id"], "allowed_cidrs": ["10.0.0.0/33"]}),
                "allowed_cidrs",
            ),
            (
                json!({"key_id": key["id"], "rate_limit_per_minute": 0}),
                "rate_limit_per_minute",
            ),
            (json!({"key_id": key["id"], "name": " "}), "name"),
        ] {
            let (status, error) = owner.call_json("keys/update", body).await;
            assert_invalid_field(status, &error, field);
        }

        // Three requests a minute: each answer says what is left; the fourth is refused.
        let (limited, limited_secret) = owner
            .create_key(json!({"name": "metered", "rate_limit_per_minute": 3}))
            .await;
        assert_eq!(limited["rate_limit_per_minute"], 3);
        let metered = app.with_key(&limited_secret);
        for remaining in ["2", "1", "0"] {
            let response = metered.call("auth/me", json!({})).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()["ratelimit-limit"], "3");
            assert_eq!(response.headers()["ratelimit-remaining"], remaining);
            assert!(response.headers().contains_key("ratelimit-reset"));
        }
        let refused = metered.call("auth/me", json!({})).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.headers().contains_key("retry-after"));
        assert_eq!(refused.headers()["ratelimit-remaining"], "0");
        // Lifting the limit applies to the next request.
        owner
            .call_ok(
                "keys/update",
                json!({"key_id": limited["id"], "rate_limit_per_minute": null}),
                StatusCode::OK,
            )
            .await;
        let free = metered.call("auth/me", json!({})).await;
        assert_eq!(free.status(), StatusCode::OK);
        assert!(!free.headers().contains_key("ratelimit-limit"));

        // Rotation copies the guards.
        let rotated = owner
            .call_ok(
                "keys/rotate",
                json!({"key_id": key["id"], "grace_seconds": 0}),
                StatusCode::CREATED,
            )
            .await;
        assert_eq!(rotated["key"]["allowed_cidrs"], json!(["127.0.8.0/24"]));
        let updates = owner
            .call_ok(
                "audit/list",
                json!({"action": "key.updated"}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(updates["events"].as_array().unwrap().len(), 2);
    })
    .await;
}
