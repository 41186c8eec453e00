//! Permissions narrower than a role: a key's grant of permissions and checks, held on every
//! request together with its owner's current role and every key above it in its line.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn check_named(name: &str) -> Value {
    json!({"name": name, "kind": "api", "url": "https://example.com/health", "frequency_minutes": 5, "activated": true})
}

async fn create_check(caller: &Caller, name: &str) -> String {
    let created = caller
        .call_ok("checks/create", check_named(name), StatusCode::CREATED)
        .await;
    created["check"]["id"].as_str().unwrap().to_string()
}

/// A 403 that names the permission the operation needs.
fn assert_missing(status: StatusCode, body: &Value, permission: &str) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    assert_eq!(body["error"]["missing_permission"], permission, "{body}");
}

#[tokio::test]
async fn a_key_restricted_to_one_check_cannot_see_change_or_delete_another() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("scoped@example.com").await;
        let mine = create_check(&admin, "mine").await;
        let other = create_check(&admin, "other").await;
        let (key, secret) = admin
            .create_key(json!({"name": "one check", "permissions": ["checks:read", "checks:write"], "check_ids": [mine]}))
            .await;
        assert_eq!(key["check_ids"], json!([mine]));
        let scoped = app.with_key(&secret);

        let listed = scoped
            .call_ok("checks/list", json!({}), StatusCode::OK)
            .await;
        let ids: Vec<&str> = listed["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|check| check["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![mine.as_str()]);
        scoped
            .call_ok("checks/get", json!({"check_id": mine}), StatusCode::OK)
            .await;
        scoped
            .call_ok(
                "checks/update",
                json!({"check_id": mine, "name": "still mine"}),
                StatusCode::OK,
            )
            .await;
        // The other check answers as another account's would: there is no such check.
        for (operation, body) in [
            ("checks/get", json!({"check_id": other})),
            ("checks/update", json!({"check_id": other, "name": "taken"})),
            ("checks/delete", json!({"check_id": other})),
        ] {
            let (status, error) = scoped.call_json(operation, body).await;
            assert_error(status, &error, 404, "not_found");
        }
        let (status, error) = scoped.call_json("checks/create", check_named("new")).await;
        assert_error(status, &error, 403, "forbidden");
        // Nothing happened to the other check.
        let still = admin
            .call_ok("checks/get", json!({"check_id": other}), StatusCode::OK)
            .await;
        assert_eq!(still["check"]["name"], "other");
        // And the key may delete its own.
        scoped
            .call_ok("checks/delete", json!({"check_id": mine}), StatusCode::OK)
            .await;
    })
    .await;
}

#[tokio::test]
async fn a_grant_is_checked_as_asked_and_names_the_field() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("grants@example.com").await;
        let (other_admin, _) = app.signup("elsewhere@example.com").await;
        let foreign = create_check(&other_admin, "theirs").await;
        for (body, field) in [
            (
                json!({"name": "k", "permissions": ["checks:admin"]}),
                "permissions",
            ),
            (
                json!({"name": "k", "permissions": ["login:write"]}),
                "permissions",
            ),
            (json!({"name": "k", "check_ids": [foreign]}), "check_ids"),
            (
                json!({"name": "k", "check_ids": ["not an id"]}),
                "check_ids",
            ),
        ] {
            let (status, error) = admin.call_json("keys/create", body.clone()).await;
            assert_error(status, &error, 400, "invalid_input");
            assert!(
                error["error"]["message"]
                    .as_str()
                    .unwrap()
                    .starts_with(field),
                "{body}: {error}"
            );
        }
        let (key, _) = admin
            .create_key(json!({"name": "null is everything", "permissions": null}))
            .await;
        assert_eq!(key["permissions"], Value::Null);
        assert_eq!(key["check_ids"], Value::Null);
    })
    .await;
}

#[tokio::test]
async fn a_child_never_exceeds_its_parent_even_when_the_parent_narrows_later() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("lines@example.com").await;
        let check = create_check(&admin, "c").await;
        let (_, parent_secret) = admin
            .create_key(json!({"name": "parent", "permissions": ["checks:read", "checks:write", "keys:write"]}))
            .await;
        let parent = app.with_key(&parent_secret);

        // Asking for more than the parent holds is refused, naming the permission.
        let (status, error) = parent
            .call_json(
                "keys/create",
                json!({"name": "greedy", "permissions": ["members:read"]}),
            )
            .await;
        assert_missing(status, &error, "members:read");
        // Without a grant of its own, a child takes its parent's.
        let created = parent
            .call_ok("keys/create", json!({"name": "child"}), StatusCode::CREATED)
            .await;
        assert_eq!(
            created["key"]["permissions"],
            json!(["checks:read", "checks:write", "keys:write"])
        );
        let child = app.with_key(created["secret"].as_str().unwrap());
        let (status, error) = child.call_json("members/list", json!({})).await;
        assert_missing(status, &error, "members:read");
        child
            .call_ok("checks/get", json!({"check_id": check}), StatusCode::OK)
            .await;

        // The parent gives up checks:write and checks:read (narrowing through itself is
        // allowed); its child, made before, loses them on its next request.
        let parent_id = parent
            .call_ok("auth/me", json!({}), StatusCode::OK)
            .await["key_id"]
            .clone();
        parent
            .call_ok(
                "keys/update",
                json!({"key_id": parent_id, "permissions": ["keys:write"]}),
                StatusCode::OK,
            )
            .await;
        let (status, error) = child
            .call_json("checks/get", json!({"check_id": check}))
            .await;
        assert_missing(status, &error, "checks:read");
        let me = child.call_ok("auth/me", json!({}), StatusCode::OK).await;
        assert_eq!(me["permissions"], json!(["keys:write"]));

        // A child limited to checks its parent does not have is refused.
        let (_, scoped_secret) = admin
            .create_key(json!({"name": "scoped parent", "check_ids": [check]}))
            .await;
        let other = create_check(&admin, "d").await;
        let (status, error) = app
            .with_key(&scoped_secret)
            .call_json("keys/create", json!({"name": "wider", "check_ids": [other]}))
            .await;
        assert_error(status, &error, 403, "forbidden");
        let (status, error) = app
            .with_key(&scoped_secret)
            .call_json("keys/create", json!({"name": "all checks", "check_ids": null}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "null inherits the parent's checks: {error}");
        assert_eq!(error["key"]["check_ids"], json!([check]));
    })
    .await;
}

#[tokio::test]
async fn a_downgrade_narrows_a_scoped_key_at_once() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("downgrade@example.com").await;
        let (writer, joined) = app
            .add_member(&admin, "writer.perm@example.com", "read_write")
            .await;
        let (_, secret) = writer
            .create_key(json!({"name": "ci", "permissions": ["checks:read", "checks:write"]}))
            .await;
        let key = app.with_key(&secret);
        create_check(&key, "made by the key").await;
        admin
            .call_ok(
                "members/set-role",
                json!({"user_id": joined["user"]["id"], "role": "read_only"}),
                StatusCode::OK,
            )
            .await;
        let (status, error) = key.call_json("checks/create", check_named("again")).await;
        assert_missing(status, &error, "checks:write");
        assert!(
            error["error"]["message"].as_str().unwrap().contains("role"),
            "the role, not the grant, refused it: {error}"
        );
        key.call_ok("checks/list", json!({}), StatusCode::OK).await;
    })
    .await;
}

#[tokio::test]
async fn rotation_keeps_the_grant() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("rotate.grant@example.com").await;
        let check = create_check(&admin, "c").await;
        let (key, _) = admin
            .create_key(json!({"name": "ci", "permissions": ["checks:read"], "check_ids": [check]}))
            .await;
        let rotated = admin
            .call_ok(
                "keys/rotate",
                json!({"key_id": key["id"], "grace_seconds": 0}),
                StatusCode::CREATED,
            )
            .await;
        assert_eq!(rotated["key"]["permissions"], json!(["checks:read"]));
        assert_eq!(rotated["key"]["check_ids"], json!([check]));
        let successor = app.with_key(rotated["secret"].as_str().unwrap());
        let (status, error) = successor
            .call_json("checks/delete", json!({"check_id": check}))
            .await;
        assert_missing(status, &error, "checks:write");
        successor
            .call_ok("checks/get", json!({"check_id": check}), StatusCode::OK)
            .await;
    })
    .await;
}

#[tokio::test]
async fn a_key_is_narrowed_to_what_it_used_and_cannot_widen_itself() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("narrow@example.com").await;
        let (key, secret) = admin.create_key(json!({"name": "everything"})).await;
        let caller = app.with_key(&secret);
        caller
            .call_ok("checks/list", json!({}), StatusCode::OK)
            .await;
        caller
            .call_ok("members/list", json!({}), StatusCode::OK)
            .await;
        app.state.key_usage.flush(&app.state.pool).await.unwrap();

        let got = admin
            .call_ok("keys/get", json!({"key_id": key["id"]}), StatusCode::OK)
            .await;
        let used: Vec<&str> = got["key"]["permissions_used"]
            .as_array()
            .unwrap()
            .iter()
            .map(|used| used["permission"].as_str().unwrap())
            .collect();
        assert_eq!(used, vec!["checks:read", "members:read"]);
        assert!(got["key"]["permissions_used"][0]["last_used_at"].is_string());

        // Narrowing through the key itself is allowed: a key may give up what it holds.
        let narrowed = caller
            .call_ok(
                "keys/update",
                json!({"key_id": key["id"], "permissions": used}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(
            narrowed["key"]["permissions"],
            json!(["checks:read", "members:read"])
        );
        let (status, error) = caller.call_json("audit/list", json!({})).await;
        assert_missing(status, &error, "audit:read");
        // Widening through a key is not, even with keys:write: a stolen key must not re-arm
        // itself or its siblings.
        let (_, sibling_secret) = admin
            .create_key(json!({"name": "sibling", "permissions": ["keys:write"]}))
            .await;
        let (status, error) = app
            .with_key(&sibling_secret)
            .call_json(
                "keys/update",
                json!({"key_id": key["id"], "permissions": null}),
            )
            .await;
        assert_error(status, &error, 403, "forbidden");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("only narrows"),
            "{error}"
        );
        // In the app, the owner may widen it again.
        let widened = admin
            .call_ok(
                "keys/update",
                json!({"key_id": key["id"], "permissions": null}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(widened["key"]["permissions"], Value::Null);
        caller
            .call_ok("audit/list", json!({}), StatusCode::OK)
            .await;

        // The trail records the grant at creation and each change, before and after.
        let events = admin
            .call_ok("audit/list", json!({"key_id": key["id"]}), StatusCode::OK)
            .await;
        let events = events["events"].as_array().unwrap();
        let updates: Vec<&Value> = events
            .iter()
            .filter(|event| event["action"] == "key.updated")
            .collect();
        assert_eq!(updates.len(), 2);
        assert_eq!(
            updates[1]["details"]["to"]["permissions"],
            json!(["checks:read", "members:read"])
        );
        assert_eq!(updates[1]["details"]["from"]["permissions"], Value::Null);
        let created = events
            .iter()
            .find(|event| event["action"] == "key.created")
            .unwrap();
        assert!(created["details"].get("permissions").is_some(), "{created}");
    })
    .await;
}

/// A grant is written only over the grant the request read: a narrowing checked against an
/// older, wider grant (a stolen key racing its owner) cannot put back what was taken since.
#[tokio::test]
async fn a_new_grant_is_written_only_over_the_grant_it_was_checked_against() {
    use keyward::domain::{ids::AccountId, ids::KeyId, time::now_millis, Grant, Permission};
    use keyward::server::stores::keys::{self as key_store, read, KeyChanges, Updated};
    on_each_engine(|app| async move {
        let (admin, signed_up) = app.signup("race@example.com").await;
        let account_id =
            AccountId::parse("account_id", signed_up["account"]["id"].as_str().unwrap()).unwrap();
        let (key, _) = admin
            .create_key(json!({"name": "k", "permissions": ["checks:read", "checks:write", "members:read"]}))
            .await;
        let key_id = KeyId::parse("key_id", key["id"].as_str().unwrap()).unwrap();
        let before = read::get(&app.state.pool, &account_id, &key_id, now_millis())
            .await
            .unwrap()
            .unwrap();
        // The owner narrows the key to checks:read ...
        admin
            .call_ok(
                "keys/update",
                json!({"key_id": key["id"], "permissions": ["checks:read"]}),
                StatusCode::OK,
            )
            .await;
        // ... while a request that read the key before narrows it to two of its old three.
        let stale = Grant {
            permissions: Some(
                [Permission::ChecksRead, Permission::ChecksWrite]
                    .into_iter()
                    .collect(),
            ),
            check_ids: None,
        };
        let event = keyward::server::audit::Event::new(
            &app.state.key_hasher,
            &account_id,
            keyward::domain::audit::AuditAction::KeyUpdated,
            keyward::server::audit::Actor::cli(),
            Default::default(),
        );
        let changes = KeyChanges {
            name: None,
            allowed_cidrs: None,
            rate_limit_per_minute: None,
            grant: Some(&stale),
        };
        let outcome = key_store::update(&app.state.pool, &before, &account_id, &changes, event)
            .await
            .unwrap();
        assert_eq!(outcome, Updated::GrantChanged);
        let now = admin
            .call_ok("keys/get", json!({"key_id": key["id"]}), StatusCode::OK)
            .await;
        assert_eq!(now["key"]["permissions"], json!(["checks:read"]));
    })
    .await;
}

#[tokio::test]
async fn the_catalogue_lists_every_permission_for_any_key() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("catalogue@example.com").await;
        let (_, secret) = admin
            .create_key(json!({"name": "narrowest", "permissions": []}))
            .await;
        let listed = app
            .with_key(&secret)
            .call_ok("permissions/list", json!({}), StatusCode::OK)
            .await;
        let names: Vec<&str> = listed["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|permission| permission["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"checks:write") && names.contains(&"audit:read"),
            "{names:?}"
        );
        let write = listed["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|permission| permission["name"] == "checks:write")
            .unwrap();
        assert_eq!(write["least_role"], "read_write");
        assert_eq!(write["custom"], false);
        assert!(write["description"].as_str().unwrap().len() > 10);
        // The narrowest key can still say who it is, and nothing more.
        app.with_key(&secret)
            .call_ok("auth/me", json!({}), StatusCode::OK)
            .await;
        let (status, error) = app
            .with_key(&secret)
            .call_json("checks/list", json!({}))
            .await;
        assert_missing(status, &error, "checks:read");
    })
    .await;
}
