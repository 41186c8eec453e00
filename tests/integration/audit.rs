//! The audit trail: every change writes exactly its event in the change's transaction, refused
//! keys and failed sign-ins are counted without flooding, nothing secret is ever recorded,
//! pages walk a large trail once and in order, and tampering is found.

use crate::support::*;
use keyward::domain::{audit::AuditAction, ids::AccountId};
use keyward::server::audit::{Actor, Event, Origin, Target};
use keyward::server::{audit, stores};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The account's whole trail, newest first, as its Admin reads it.
async fn trail(admin: &Caller) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let page = admin
            .call_ok(
                "audit/list",
                json!({"limit": 200, "cursor": cursor}),
                StatusCode::OK,
            )
            .await;
        events.extend(page["events"].as_array().unwrap().iter().cloned());
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            return events;
        }
    }
}

fn account_of(body: &Value) -> AccountId {
    AccountId::parse("account_id", body["account"]["id"].as_str().unwrap()).unwrap()
}

/// How long `admin`'s account's trail is now, to see what a change adds.
struct Mark<'a> {
    admin: &'a Caller,
    length: usize,
}

async fn mark(admin: &Caller) -> Mark<'_> {
    Mark {
        admin,
        length: trail(admin).await.len(),
    }
}

impl Mark<'_> {
    /// The events written since the mark, newest first.
    async fn new_events(self) -> Vec<Value> {
        let after = trail(self.admin).await;
        after[..after.len() - self.length].to_vec()
    }
}

/// Asserts that `events` is exactly one event with these fields (a subset of the event).
fn assert_one(events: &[Value], expected: Value, what: &str) {
    assert_eq!(
        events.len(),
        1,
        "{what}: expected one event, got {events:#?}"
    );
    let event = &events[0];
    assert_subset(event, &expected, what);
    assert!(event["time"].as_str().unwrap().ends_with('Z'), "{what}");
    assert!(event["id"].as_str().unwrap().starts_with("evt_"), "{what}");
}

fn assert_subset(actual: &Value, expected: &Value, path: &str) {
    match expected {
        Value::Object(fields) => {
            for (name, value) in fields {
                assert_subset(&actual[name], value, &format!("{path}.{name}"));
            }
        }
        _ => assert_eq!(actual, expected, "{path}: in {actual}"),
    }
}

/// The table of the issue: each operation that changes something, and the one event it writes
/// — action, actor (person and key), target and details.
#[tokio::test]
async fn every_change_writes_exactly_its_event() {
    on_each_engine(|app| async move {
        let (admin, signed_up) = app.signup("boss@example.com").await;
        let admin_id = signed_up["user"]["id"].clone();
        let first = trail(&admin).await;
        assert_one(
            &first,
            json!({"action": "account.created", "outcome": "success",
                   "actor": {"type": "user", "user": {"email": "boss@example.com"}},
                   "target": {"type": "account", "label": "boss@example.com's account"}}),
            "auth/signup",
        );

        let before = mark(&admin).await;
        admin.invite("dev@example.com", "read_write").await;
        let invited = before.new_events().await;
        assert_one(
            &invited,
            json!({"action": "member.invited", "actor": {"type": "user", "user": {"id": admin_id}},
                   "target": {"type": "invite", "label": "dev@example.com"},
                   "details": {"email": "dev@example.com", "role": "read_write"}}),
            "members/invite",
        );
        let invite_id = invited[0]["target"]["id"].clone();
        let before = mark(&admin).await;
        admin
            .call_ok("invites/withdraw", json!({"invite_id": invite_id}), StatusCode::OK)
            .await;
        let withdrawn = before.new_events().await;
        assert_one(
            &withdrawn,
            json!({"action": "invite.withdrawn", "target": {"id": invite_id, "label": "dev@example.com"}}),
            "invites/withdraw",
        );

        let before = mark(&admin).await;
        let (dev, dev_body) = app.add_member(&admin, "dev@example.com", "read_write").await;
        let joined = before.new_events().await;
        let dev_id = dev_body["user"]["id"].clone();
        // Inviting writes its own event; joining writes one more.
        assert_eq!(joined.len(), 2, "{joined:#?}");
        assert_one(
            &joined[..1],
            json!({"action": "member.joined", "actor": {"type": "user", "user": {"id": dev_id}},
                   "target": {"type": "user", "id": dev_id, "label": "dev@example.com"},
                   "details": {"role": "read_write", "new_login": true}}),
            "invites/accept",
        );

        let before = mark(&admin).await;
        admin
            .call_ok("members/set-role", json!({"user_id": dev_id, "role": "admin"}), StatusCode::OK)
            .await;
        let changed = before.new_events().await;
        assert_one(
            &changed,
            json!({"action": "member.role_changed", "target": {"id": dev_id},
                   "details": {"from": "read_write", "to": "admin"}}),
            "members/set-role",
        );

        // A key acting: the actor is the person and the key.
        let (ci_key, ci_secret) = dev.create_key(json!({"name": "CI deploy"})).await;
        let ci = app.with_key(&ci_secret);
        let before = mark(&admin).await;
        let (grafana, _) = ci.create_key(json!({"name": "Grafana", "role_cap": "read_only"})).await;
        let created = before.new_events().await;
        assert_one(
            &created,
            json!({"action": "key.created",
                   "actor": {"type": "user_key", "user": {"id": dev_id}, "key_id": ci_key["id"], "key_name": "CI deploy"},
                   "target": {"type": "key", "id": grafana["id"], "label": "Grafana"},
                   "details": {"role_cap": "read_only", "parent_key_id": ci_key["id"], "owner": "dev@example.com"}}),
            "keys/create with a key",
        );
        assert_eq!(created[0]["client_address"], "127.0.0.1");
        let before = mark(&admin).await;
        admin
            .call_ok("keys/revoke", json!({"key_id": grafana["id"]}), StatusCode::OK)
            .await;
        let revoked = before.new_events().await;
        assert_one(
            &revoked,
            json!({"action": "key.revoked", "actor": {"type": "user", "user": {"id": admin_id}},
                   "target": {"id": grafana["id"], "label": "Grafana"},
                   "details": {"owner": "dev@example.com", "children_revoked": 0}}),
            "keys/revoke",
        );
        // Revoking it again changes nothing and records nothing.
        let before = mark(&admin).await;
        admin
            .call_ok("keys/revoke", json!({"key_id": grafana["id"]}), StatusCode::OK)
            .await;
        let again = before.new_events().await;
        assert!(again.is_empty(), "{again:#?}");

        let before = mark(&admin).await;
        let check = ci
            .call_ok(
                "checks/create",
                json!({"name": "Home", "kind": "api", "url": "https://h.example", "frequency_minutes": 5, "activated": true}),
                StatusCode::CREATED,
            )
            .await;
        let check_id = check["check"]["id"].clone();
        let check_created = before.new_events().await;
        assert_one(
            &check_created,
            json!({"action": "check.created", "actor": {"type": "user_key", "key_name": "CI deploy"},
                   "target": {"type": "check", "id": check_id, "label": "Home"}}),
            "checks/create",
        );
        let before = mark(&admin).await;
        admin
            .call_ok("checks/update", json!({"check_id": check_id, "url": "https://new.example", "activated": false}), StatusCode::OK)
            .await;
        let check_updated = before.new_events().await;
        assert_one(
            &check_updated,
            json!({"action": "check.updated", "details": {"changed": ["url", "activated"]}}),
            "checks/update",
        );
        let before = mark(&admin).await;
        admin
            .call_ok("checks/delete", json!({"check_id": check_id}), StatusCode::OK)
            .await;
        let check_deleted = before.new_events().await;
        assert_one(
            &check_deleted,
            json!({"action": "check.deleted", "target": {"id": check_id, "label": "Home"}}),
            "checks/delete",
        );

        let before = mark(&admin).await;
        dev.call_ok(
            "auth/change-password",
            json!({"current_password": PASSWORD, "new_password": "another long password"}),
            StatusCode::OK,
        )
        .await;
        let password_changed = before.new_events().await;
        assert_one(
            &password_changed,
            json!({"action": "password.changed", "actor": {"user": {"id": dev_id}}, "target": {"id": dev_id}}),
            "auth/change-password",
        );

        let before = mark(&admin).await;
        dev.call_ok(
            "auth/login",
            json!({"email": "dev@example.com", "password": "another long password"}),
            StatusCode::OK,
        )
        .await;
        let signed_in = before.new_events().await;
        assert_one(
            &signed_in,
            json!({"action": "session.signed_in", "actor": {"user": {"id": dev_id}}}),
            "auth/login",
        );
        let before = mark(&admin).await;
        dev.call_ok("auth/logout", json!({}), StatusCode::OK).await;
        let signed_out = before.new_events().await;
        assert_one(
            &signed_out,
            json!({"action": "session.signed_out", "actor": {"user": {"id": dev_id}}}),
            "auth/logout",
        );

        let (leaver, leaver_body) = app.add_member(&admin, "leaver@example.com", "read_only").await;
        let leaver_id = leaver_body["user"]["id"].clone();
        let before = mark(&admin).await;
        leaver
            .call_ok("members/remove", json!({"user_id": leaver_id}), StatusCode::OK)
            .await;
        let left = before.new_events().await;
        assert_one(
            &left,
            json!({"action": "member.left", "actor": {"user": {"id": leaver_id}}, "target": {"id": leaver_id}}),
            "members/remove of oneself",
        );
        let before = mark(&admin).await;
        admin
            .call_ok("members/remove", json!({"user_id": dev_id}), StatusCode::OK)
            .await;
        let removed = before.new_events().await;
        assert_one(
            &removed,
            json!({"action": "member.removed", "actor": {"user": {"id": admin_id}},
                   "target": {"id": dev_id, "label": "dev@example.com"},
                   "details": {"role": "admin", "keys_revoked": 1}}),
            "members/remove",
        );

        let account_id = account_of(&signed_up);
        let before = mark(&admin).await;
        keyward::host::cli::import_legacy_secrets(
            &app.state.pool,
            &app.state.key_hasher,
            &account_id,
            "legacy-one-0123456789abcdef\nlegacy-two-0123456789abcdef\n".as_bytes(),
        )
        .await
        .unwrap();
        let imported = before.new_events().await;
        assert_one(
            &imported,
            json!({"action": "legacy_keys.imported", "actor": {"type": "cli", "user": null}, "details": {"count": 2}}),
            "keyward legacy-keys import",
        );

        // By or about the CI key, a page of one at a time: what it did, and its own creation.
        let mut by_key = Vec::new();
        let mut cursor = Value::Null;
        loop {
            let page = admin
                .call_ok(
                    "audit/list",
                    json!({"key_id": ci_key["id"], "limit": 1, "cursor": cursor}),
                    StatusCode::OK,
                )
                .await;
            by_key.extend(page["events"].as_array().unwrap().iter().cloned());
            cursor = page["next_cursor"].clone();
            if cursor.is_null() {
                break;
            }
        }
        let described: Vec<(&str, &str)> = by_key
            .iter()
            .map(|event| {
                (
                    event["action"].as_str().unwrap(),
                    event["target"]["label"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            described,
            [
                ("check.created", "Home"),
                ("key.created", "Grafana"),
                ("key.created", "CI deploy")
            ]
        );
        let created_by_or_about = admin
            .call_ok(
                "audit/list",
                json!({"key_id": ci_key["id"], "action": "key.created", "actor_user_id": dev_id}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(created_by_or_about["events"].as_array().unwrap().len(), 2);

        // Reads are not events.
        let before = mark(&admin).await;
        admin.call_ok("members/list", json!({}), StatusCode::OK).await;
        admin.call_ok("account-keys/list", json!({}), StatusCode::OK).await;
        let reads = before.new_events().await;
        assert!(reads.is_empty(), "{reads:#?}");
        let verification = audit::verify::verify(&app.state.pool, &app.state.key_hasher, &Default::default()).await.unwrap();
        assert!(verification.broken.is_empty(), "{:?}", verification.broken);
    })
    .await;
}

/// The event is written in the change's transaction: when writing it fails, the change is
/// rolled back too — no change without its event.
#[tokio::test]
async fn a_failed_event_write_takes_the_change_with_it() {
    on_each_engine(|app| async move {
        let (admin, signed_up) = app.signup("atomic@example.com").await;
        let account_id = account_of(&signed_up);
        // Break the account's chain head: appending fails after the change's own write.
        sqlx::query("DELETE FROM audit_heads WHERE account_id = $1")
            .bind(&account_id)
            .execute(&app.state.pool)
            .await
            .unwrap();
        let (status, _) = admin
            .call_json(
                "checks/create",
                json!({"name": "Lost", "kind": "api", "url": "https://l.example", "frequency_minutes": 5, "activated": true}),
            )
            .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let (status, _) = admin.call_json("keys/create", json!({"name": "lost"})).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let checks = admin.call_ok("checks/list", json!({}), StatusCode::OK).await;
        assert_eq!(checks["checks"], json!([]), "the check was rolled back");
        let keys = admin.call_ok("keys/list", json!({}), StatusCode::OK).await;
        assert_eq!(keys["keys"], json!([]), "the key was rolled back");
        let (events,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE action <> 'account.created'")
                .fetch_one(&app.state.pool)
                .await
                .unwrap();
        assert_eq!(events, 0);
    })
    .await;
}

/// A revoked key sent again and again, and a password being guessed: the first attempt is in
/// the trail at once, the rest are counted into one event per minute, not one row each.
#[tokio::test]
async fn refused_keys_and_failed_sign_ins_are_counted_not_flooded() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("watch@example.com").await;
        let (key, secret) = admin.create_key(json!({"name": "leaked"})).await;
        admin
            .call_ok("keys/revoke", json!({"key_id": key["id"]}), StatusCode::OK)
            .await;
        let thief = app.anonymous_from("127.0.2.9").using_key(&secret);
        for _ in 0..7 {
            let (status, _) = thief.call_json("auth/me", json!({})).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let rejected = |events: &[Value]| -> Vec<Value> {
            events
                .iter()
                .filter(|event| event["action"] == "key.rejected")
                .cloned()
                .collect()
        };
        let now = rejected(&trail(&admin).await);
        assert_eq!(now.len(), 1, "{now:#?}");
        assert_subset(
            &now[0],
            &json!({"outcome": "failure", "actor": {"type": "anonymous"}, "client_address": "127.0.2.9",
                    "target": {"type": "key", "id": key["id"], "label": "leaked"},
                    "details": {"reason": "revoked", "count": 1}}),
            "first refusal",
        );
        app.state.audit_repeats.flush(&app.state, true).await;
        let later = rejected(&trail(&admin).await);
        assert_eq!(later.len(), 2, "{later:#?}");
        assert_eq!(later[0]["details"]["count"], 6, "the other six, counted");

        // A wrong password for a member: told to their account, counted the same way.
        for _ in 0..3 {
            let (status, _) = app
                .anonymous_from("127.0.2.10")
                .call_json("auth/login", json!({"email": "watch@example.com", "password": "not the password"}))
                .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        // Recorded off the request path (so a known email answers as fast as an unknown one):
        // wait for the first, give the others a moment, then count what is left.
        let failed_events = || async {
            trail(&admin)
                .await
                .into_iter()
                .filter(|event| event["action"] == "session.sign_in_failed")
                .collect::<Vec<_>>()
        };
        // Wait until all three are in: the first written, the other two counted.
        for _ in 0..500 {
            if !failed_events().await.is_empty() && app.state.audit_repeats.uncounted() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        app.state.audit_repeats.flush(&app.state, true).await;
        let failed = failed_events().await;
        assert_eq!(failed.len(), 2, "{failed:#?}");
        assert_eq!(failed[0]["details"]["count"], 2, "the first at once, two counted");
        assert_subset(
            failed.last().unwrap(),
            &json!({"outcome": "failure", "target": {"type": "user", "label": "watch@example.com"},
                    "details": {"reason": "wrong_password"}, "client_address": "127.0.2.10"}),
            "failed sign-in",
        );
    })
    .await;
}

/// Every secret, hash, password, token and session id a test hands out, searched for in every
/// stored event, in both export formats and in the server's log.
#[tokio::test]
async fn no_secret_ever_reaches_the_trail_the_export_or_the_log() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("secrets@example.com").await;
        let mut secrets = vec![PASSWORD.to_string()];
        let invite = admin.invite("new@example.com", "read_write").await;
        let token = invite_token(&invite);
        secrets.push(token.clone());
        let member = app.anonymous();
        let joined = member
            .client
            .post(app.url("/api/v1/invites/accept"))
            .json(&json!({"token": token, "password": "the newcomer's password"}))
            .send()
            .await
            .unwrap();
        let cookie = joined.headers()["set-cookie"].to_str().unwrap().to_string();
        let session_id = cookie.split(';').next().unwrap().split('=').nth(1).unwrap().to_string();
        secrets.push(session_id);
        secrets.push("the newcomer's password".to_string());
        let (_, key_secret) = member.create_key(json!({"name": "mine"})).await;
        let (status, _) = admin.call_json("audit/find-key", json!({"secret": key_secret})).await;
        assert_eq!(status, StatusCode::OK);
        secrets.push(key_secret.clone());
        let (revoked, revoked_secret) = admin.create_key(json!({"name": "gone"})).await;
        admin
            .call_ok("keys/revoke", json!({"key_id": revoked["id"]}), StatusCode::OK)
            .await;
        app.with_key(&revoked_secret).call_json("auth/me", json!({})).await;
        secrets.push(revoked_secret);
        app.anonymous()
            .call_json("auth/login", json!({"email": "secrets@example.com", "password": "a wrong guess"}))
            .await;
        secrets.push("a wrong guess".to_string());
        admin
            .call_ok(
                "auth/change-password",
                json!({"current_password": PASSWORD, "new_password": "the next password"}),
                StatusCode::OK,
            )
            .await;
        secrets.push("the next password".to_string());
        let hashes: Vec<(String,)> = sqlx::query_as("SELECT secret_hash FROM api_keys")
            .fetch_all(&app.state.pool)
            .await
            .unwrap();
        let password_hashes: Vec<(String,)> = sqlx::query_as("SELECT password_hash FROM users")
            .fetch_all(&app.state.pool)
            .await
            .unwrap();
        secrets.extend(hashes.into_iter().chain(password_hashes).map(|(hash,)| hash));
        secrets.push(keyward::server::joining::invite_token_hash(&app.state.key_hasher, &token));
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        app.state.audit_repeats.flush(&app.state, true).await;

        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id || account_id || action || COALESCE(actor_email, '') || COALESCE(actor_key_name, '') \
                    || COALESCE(target_label, '') || details || COALESCE(client_address, '') \
                    || COALESCE(user_agent, '') FROM audit_events",
        )
        .fetch_all(&app.state.pool)
        .await
        .unwrap();
        assert!(rows.len() >= 8, "{}", rows.len());
        let stored: String = rows.into_iter().map(|(row,)| row).collect();
        let mut places = vec![("the audit table", stored)];
        for format in ["jsonl", "csv"] {
            let exported = admin
                .client
                .get(app.url(&format!("/api/v1/audit/export?format={format}")))
                .send()
                .await
                .unwrap();
            assert_eq!(exported.status(), StatusCode::OK);
            places.push((format, exported.text().await.unwrap()));
        }
        places.push(("the log", captured_logs()));
        for (place, text) in &places {
            for (number, secret) in secrets.iter().enumerate() {
                assert!(
                    !text.contains(secret.as_str()),
                    "{place} contains secret number {number}"
                );
            }
        }
    })
    .await;
}

/// 10,000 events walked a page at a time: each exactly once, newest first; filters combine.
#[tokio::test]
async fn pages_walk_a_large_trail_once_in_order_and_filters_combine() {
    on_each_engine(|app| async move {
        let (admin, signed_up) = app.signup("pages@example.com").await;
        let account_id = account_of(&signed_up);
        let admin_user = keyward::domain::views::User {
            id: keyward::domain::ids::UserId::parse("id", signed_up["user"]["id"].as_str().unwrap()).unwrap(),
            email: "pages@example.com".into(),
        };
        let mut transaction = app.state.pool.begin().await.unwrap();
        for n in 0..10_000 {
            let (action, actor) = if n % 10 == 0 {
                (AuditAction::CheckDeleted, Actor::person(&admin_user))
            } else if n % 2 == 0 {
                (AuditAction::CheckCreated, Actor::person(&admin_user))
            } else {
                (AuditAction::CheckCreated, Actor::cli())
            };
            let event = Event::new(&app.state.key_hasher, &account_id, action, actor, Origin::default())
                .target(Target::new(keyward::domain::audit::TargetKind::Check, format!("chk_{n}"), "c"));
            stores::audit::append(&mut transaction, &event).await.unwrap();
        }
        transaction.commit().await.unwrap();

        let all = trail(&admin).await;
        assert_eq!(all.len(), 10_001);
        let ids: std::collections::HashSet<&str> =
            all.iter().map(|event| event["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), all.len(), "no event twice");
        let order: Vec<i64> = all
            .iter()
            .filter_map(|event| event["target"]["id"].as_str()?.strip_prefix("chk_")?.parse().ok())
            .collect();
        assert!(order.windows(2).all(|pair| pair[0] > pair[1]), "newest first");
        assert_eq!(all.last().unwrap()["action"], "account.created");

        // action AND person: the checks the Admin (not the CLI) deleted, page by page.
        let mut seen = 0;
        let mut cursor = Value::Null;
        loop {
            let page = admin
                .call_ok(
                    "audit/list",
                    json!({"action": "check.deleted", "actor_user_id": admin_user.id, "limit": 77, "cursor": cursor}),
                    StatusCode::OK,
                )
                .await;
            for event in page["events"].as_array().unwrap() {
                assert_eq!(event["action"], "check.deleted");
                assert_eq!(event["actor"]["user"]["id"], json!(admin_user.id));
                seen += 1;
            }
            cursor = page["next_cursor"].clone();
            if cursor.is_null() {
                break;
            }
        }
        assert_eq!(seen, 1_000);
        let by_cli = admin
            .call_ok("audit/list", json!({"action": "check.created", "limit": 200}), StatusCode::OK)
            .await;
        assert_eq!(by_cli["events"].as_array().unwrap().len(), 200);
        let future = admin
            .call_ok("audit/list", json!({"since": "2999-01-01T00:00:00Z"}), StatusCode::OK)
            .await;
        assert_eq!(future["events"], json!([]));
        assert_eq!(future["next_cursor"], Value::Null);

        for (body, field) in [
            (json!({"limit": 0}), "limit"),
            (json!({"limit": 201}), "limit"),
            (json!({"cursor": "abc"}), "cursor"),
            (json!({"action": "key.exploded"}), "action"),
            (json!({"since": "yesterday"}), "since"),
            (json!({"key_id": "no such id!"}), "key_id"),
        ] {
            let (status, error) = admin.call_json("audit/list", body).await;
            assert_invalid_field(status, &error, field);
        }
    })
    .await;
}

/// The chain holds on an untouched trail; an edited, a deleted or a forged event is named.
#[tokio::test]
async fn verification_names_the_first_tampered_event() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("tamper@example.com").await;
        for n in 0..5 {
            admin
                .call_ok(
                    "checks/create",
                    json!({"name": format!("c{n}"), "kind": "api", "url": "https://c.example", "frequency_minutes": 5, "activated": true}),
                    StatusCode::CREATED,
                )
                .await;
        }
        let nothing_else = audit::verify::VerifyAgainst::default();
        let verify = || audit::verify::verify(&app.state.pool, &app.state.key_hasher, &nothing_else);
        let intact = verify().await.unwrap();
        assert!(intact.broken.is_empty(), "{:?}", intact.broken);
        assert!(intact.events >= 6);

        let (edited,): (String,) = sqlx::query_as(
            "SELECT id FROM audit_events WHERE action = 'check.created' AND target_label = 'c2'",
        )
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
        sqlx::query("UPDATE audit_events SET target_label = 'innocent' WHERE id = $1")
            .bind(&edited)
            .execute(&app.state.pool)
            .await
            .unwrap();
        let tampered = verify().await.unwrap();
        assert_eq!(tampered.broken.len(), 1);
        assert_eq!(tampered.broken[0].event_id.as_deref(), Some(edited.as_str()));
        assert!(tampered.broken[0].problem.contains("changed"), "{:?}", tampered.broken);

        // Deleting it instead is found as a gap, right after it.
        sqlx::query("DELETE FROM audit_events WHERE id = $1")
            .bind(&edited)
            .execute(&app.state.pool)
            .await
            .unwrap();
        let gap = verify().await.unwrap();
        assert_eq!(gap.broken.len(), 1);
        assert!(gap.broken[0].problem.contains("missing"), "{:?}", gap.broken);
    })
    .await;
}

/// Retention deletes old events; what remains still verifies (the chain starts where the
/// kept events start).
#[tokio::test]
async fn retention_prunes_old_events_and_the_rest_still_verifies() {
    on_each_engine(|app| async move {
        let (admin, signed_up) = app.signup("old@example.com").await;
        let account_id = account_of(&signed_up);
        let long_ago = keyward::domain::time::now_millis()
            .before(std::time::Duration::from_secs(400 * 86_400));
        let event = Event::new(
            &app.state.key_hasher,
            &account_id,
            AuditAction::CheckCreated,
            Actor::cli(),
            Origin::default(),
        )
        .at(long_ago);
        stores::audit::append_alone(&app.state.pool, &event)
            .await
            .unwrap();
        admin
            .call_ok(
                "keys/create",
                json!({"name": "recent"}),
                StatusCode::CREATED,
            )
            .await;
        // (The background task prunes at start too, so the old event may already be gone: what
        // is asserted is what is left after pruning, whoever pruned.)
        // Make the account's first event old too, then prune as the hourly task does.
        sqlx::query("UPDATE audit_events SET time = $1 WHERE action = 'account.created'")
            .bind(long_ago)
            .execute(&app.state.pool)
            .await
            .unwrap();
        keyward::host::router::prune_audit_trail(&app.state).await;
        let kept = trail(&admin).await;
        assert_eq!(kept.len(), 1, "{kept:#?}");
        assert_eq!(kept[0]["action"], "key.created");
        // The edited-then-pruned account.created row is gone; the kept chain verifies.
        let verification =
            audit::verify::verify(&app.state.pool, &app.state.key_hasher, &Default::default())
                .await
                .unwrap();
        assert!(verification.broken.is_empty(), "{:?}", verification.broken);
    })
    .await;
}

/// "Whose key is this?": an Admin pastes a secret and gets the key of this account, or
/// nothing — another account's key looks like no key.
#[tokio::test]
async fn an_admin_finds_the_key_of_a_leaked_secret() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("finder@example.com").await;
        let (member, _) = app
            .add_member(&admin, "owner@example.com", "read_write")
            .await;
        let (key, secret) = member.create_key(json!({"name": "laptop"})).await;
        let found = admin
            .call_ok(
                "audit/find-key",
                json!({"secret": format!("  {secret}\n")}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(found["key"]["id"], key["id"]);
        assert_eq!(found["key"]["owner"]["email"], "owner@example.com");

        let (stranger, _) = app.signup("stranger@example.com").await;
        let (_, foreign) = stranger.create_key(json!({"name": "theirs"})).await;
        let none = admin
            .call_ok("audit/find-key", json!({"secret": foreign}), StatusCode::OK)
            .await;
        assert_eq!(none["key"], Value::Null);
        let (status, error) = admin
            .call_json("audit/find-key", json!({"secret": "kw_not-a-key"}))
            .await;
        assert_invalid_field(status, &error, "secret");
        let (status, _) = member
            .call_json("audit/find-key", json!({"secret": secret}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    })
    .await;
}

/// The export streams the same events as the list, to Admins only, in both formats.
/// The export is not a server function, but it resolves its caller the same way: a key's
/// rate-limit headers come with it, and a used-up key is refused with `Retry-After`.
#[tokio::test]
async fn the_export_answers_a_limited_key_as_every_operation_does() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("export-limited@example.com").await;
        let (_, secret) = admin
            .create_key(json!({"name": "exporter", "rate_limit_per_minute": 2}))
            .await;
        let export = || {
            app.with_key(&secret)
                .client
                .get(app.url("/api/v1/audit/export"))
                .bearer_auth(&secret)
                .send()
        };
        let first = export().await.unwrap();
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(first.headers()["ratelimit-limit"], "2");
        assert_eq!(first.headers()["ratelimit-remaining"], "1");
        assert_eq!(export().await.unwrap().status(), StatusCode::OK);
        let refused = export().await.unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.headers().contains_key("retry-after"));
        assert_eq!(refused.headers()["ratelimit-remaining"], "0");
    })
    .await;
}

#[tokio::test]
async fn the_export_streams_the_trail_to_admins_only() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("export@example.com").await;
        let (member, _) = app
            .add_member(&admin, "member@example.com", "read_write")
            .await;
        let (_, admin_secret) = admin
            .create_key(json!({"name": "=HYPERLINK(\"evil\")"}))
            .await;
        let events = trail(&admin).await;
        let get = |caller: &Caller, query: &str| {
            let mut request = caller
                .client
                .get(app.url(&format!("/api/v1/audit/export{query}")));
            if let Some(secret) = &caller.bearer {
                request = request.bearer_auth(secret);
            }
            request.send()
        };
        let lines = get(&admin, "").await.unwrap();
        assert_eq!(lines.status(), StatusCode::OK);
        assert_eq!(lines.headers()["content-type"], "application/x-ndjson");
        let text = lines.text().await.unwrap();
        let exported: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(exported, events);

        let csv = get(
            &app.with_key(&admin_secret),
            "?format=csv&action=key.created",
        )
        .await
        .unwrap();
        assert_eq!(csv.status(), StatusCode::OK);
        let text = csv.text().await.unwrap();
        let rows: Vec<&str> = text.lines().collect();
        assert!(
            rows[0].starts_with("id,time,account_id,action"),
            "{}",
            rows[0]
        );
        assert_eq!(rows.len(), 2, "{text}");
        assert!(
            rows[1].contains("'=HYPERLINK"),
            "a formula becomes text: {}",
            rows[1]
        );

        let (status, refused) = {
            let response = get(&member, "").await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        };
        assert_error(status, &refused, 403, "forbidden");
        let response = get(&app.anonymous(), "").await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let response = get(&admin, "?format=xml").await.unwrap();
        let status = response.status();
        assert_invalid_field(status, &response.json().await.unwrap(), "format");
    })
    .await;
}
