//! Service accounts: keys that outlive the people who made them, follow their service
//! account's role, and keep the trail accountable — and the ways in and out (custodians,
//! hand-over on off-boarding, adopting legacy keys).

use crate::support::*;
use keyward::domain::ids::AccountId;
use keyward::host::cli::import_legacy_secrets;
use keyward::server::audit;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn create_service_account(admin: &Caller, name: &str, role: &str) -> Value {
    admin
        .call_ok(
            "service-accounts/create",
            json!({"name": name, "role": role, "description": "Deploys from CI"}),
            StatusCode::CREATED,
        )
        .await["service_account"]
        .clone()
}

async fn service_key(by: &Caller, service_account: &Value, body: Value) -> (Value, String) {
    let mut body = body;
    body["service_account_id"] = service_account["id"].clone();
    let created = by.call_ok("keys/create", body, StatusCode::CREATED).await;
    (
        created["key"].clone(),
        created["secret"].as_str().unwrap().to_string(),
    )
}

async fn trail(admin: &Caller) -> Vec<Value> {
    admin
        .call_ok("audit/list", json!({"limit": 200}), StatusCode::OK)
        .await["events"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn service_keys_keep_working_when_every_person_who_made_them_has_left() {
    on_each_engine(|app| async move {
        let (founder, _) = app.signup("founder@sa.example").await;
        let (custodian, accepted) = app
            .add_member(&founder, "custodian@sa.example", "read_write")
            .await;
        let custodian_id = accepted["user"]["id"].clone();
        let (successor_admin, _) = app.add_member(&founder, "next@sa.example", "admin").await;
        let ci = create_service_account(&founder, "CI", "read_write").await;
        assert_eq!(ci["role"], "read_write");
        assert_eq!(ci["created_by"]["email"], "founder@sa.example");
        let updated = founder
            .call_ok(
                "service-accounts/update",
                json!({"service_account_id": ci["id"], "custodian_user_ids": [custodian_id]}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(
            updated["service_account"]["custodians"][0]["email"],
            "custodian@sa.example"
        );

        let (key, secret) = service_key(&custodian, &ci, json!({"name": "deploy"})).await;
        assert_eq!(key["kind"], "service");
        assert_eq!(key["service_account"]["name"], "CI");
        assert_eq!(key["owner"], Value::Null);
        assert_eq!(key["created_by"]["email"], "custodian@sa.example");
        let machine = app.with_key(&secret);
        let me = machine.call_ok("auth/me", json!({}), StatusCode::OK).await;
        assert_eq!(me["via"], "service_key");
        assert_eq!(me["service_account"]["name"], "CI");
        assert_eq!(me["user"], Value::Null);
        assert_eq!(me["role"], "read_write");

        // Everyone who had to do with it leaves: the custodian, then the Admin who made it.
        successor_admin
            .call_ok(
                "members/remove",
                json!({"user_id": custodian_id}),
                StatusCode::OK,
            )
            .await;
        let founder_id = founder.call_ok("auth/me", json!({}), StatusCode::OK).await["user"]["id"]
            .clone();
        successor_admin
            .call_ok(
                "members/remove",
                json!({"user_id": founder_id}),
                StatusCode::OK,
            )
            .await;
        machine
            .call_ok(
                "checks/create",
                json!({"name": "still deploying", "kind": "api", "url": "https://ci.example", "frequency_minutes": 5, "activated": true}),
                StatusCode::CREATED,
            )
            .await;
        let listed = successor_admin
            .call_ok("service-accounts/list", json!({}), StatusCode::OK)
            .await;
        let listed = &listed["service_accounts"][0];
        assert_eq!(listed["custodians"], json!([]), "a removed member is no custodian");
        assert_eq!(listed["active_keys"], 1);
    })
    .await;
}

#[tokio::test]
async fn a_service_key_manages_no_members_no_service_accounts_and_makes_keys_only_when_granted() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("limits@sa.example").await;
        let ops = create_service_account(&admin, "Ops", "admin").await;
        let (_, secret) = service_key(&admin, &ops, json!({"name": "everything"})).await;
        let machine = app.with_key(&secret);
        // An Admin-role service key still manages no members.
        let (status, body) = machine
            .call_json(
                "members/invite",
                json!({"email": "x@sa.example", "role": "admin"}),
            )
            .await;
        assert_error(status, &body, 403, "forbidden");
        assert_eq!(body["error"]["missing_permission"], "members:write");
        let (status, body) = machine
            .call_json(
                "service-accounts/create",
                json!({"name": "Shadow", "role": "admin"}),
            )
            .await;
        assert_error(status, &body, 403, "forbidden");
        // Its grant is "everything its role allows", which does not name keys:write.
        let (status, body) = machine
            .call_json("keys/create", json!({"name": "more"}))
            .await;
        assert_error(status, &body, 403, "forbidden");
        assert_eq!(body["error"]["missing_permission"], "keys:write");
        // Reading is fine, and its own keys are its service account's.
        let own = machine
            .call_ok("keys/list", json!({}), StatusCode::OK)
            .await;
        assert_eq!(own["keys"].as_array().unwrap().len(), 1);

        // A key whose grant names keys:write makes keys — for its own service account only.
        let (_, minting) = service_key(
            &admin,
            &ops,
            json!({"name": "minting", "permissions": ["keys:write", "keys:read", "checks:read"]}),
        )
        .await;
        let minting = app.with_key(&minting);
        let child = minting
            .call_ok("keys/create", json!({"name": "child"}), StatusCode::CREATED)
            .await;
        assert_eq!(child["key"]["kind"], "service");
        assert_eq!(child["key"]["service_account"]["id"], ops["id"]);
        assert_eq!(child["key"]["created_by"], Value::Null, "a key made it");
        let other = create_service_account(&admin, "Other", "admin").await;
        let (status, body) = minting
            .call_json(
                "keys/create",
                json!({"name": "elsewhere", "service_account_id": other["id"]}),
            )
            .await;
        assert_error(status, &body, 403, "forbidden");
    })
    .await;
}

#[tokio::test]
async fn custodians_and_admins_manage_a_service_accounts_keys_in_a_browser_and_nobody_else_does() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("custody@sa.example").await;
        let (custodian, accepted) = app
            .add_member(&admin, "keeper@sa.example", "read_only")
            .await;
        let custodian_id = accepted["user"]["id"].clone();
        let (outsider, _) = app
            .add_member(&admin, "outsider@sa.example", "read_write")
            .await;
        let deploy = create_service_account(&admin, "Deploy", "admin").await;
        admin
            .call_ok(
                "service-accounts/update",
                json!({"service_account_id": deploy["id"], "custodian_user_ids": [custodian_id]}),
                StatusCode::OK,
            )
            .await;

        // Not a custodian: no key for the service account.
        let (status, body) = outsider
            .call_json(
                "keys/create",
                json!({"name": "mine now", "service_account_id": deploy["id"]}),
            )
            .await;
        assert_error(status, &body, 403, "forbidden");
        assert_eq!(
            body["error"]["missing_permission"],
            "service-accounts:write"
        );
        // A custodian below the service account's role makes keys no stronger than themselves.
        let (key, secret) = service_key(&custodian, &deploy, json!({"name": "ro deploy"})).await;
        assert_eq!(key["role_cap"], "read_only");
        assert_eq!(key["effective_role"], "read_only");
        let me = app
            .with_key(&secret)
            .call_ok("auth/me", json!({}), StatusCode::OK)
            .await;
        assert_eq!(me["role"], "read_only");
        let (status, body) = custodian
            .call_json(
                "keys/create",
                json!({"name": "too strong", "service_account_id": deploy["id"], "role_cap": "admin"}),
            )
            .await;
        assert_error(status, &body, 403, "forbidden");
        // Not through a key, even the custodian's own (a leaked personal key must not give
        // itself a machine identity that outlives its owner).
        let (_, admin_key) = admin.create_key(json!({"name": "admin own"})).await;
        let (status, body) = app
            .with_key(&admin_key)
            .call_json(
                "keys/create",
                json!({"name": "via key", "service_account_id": deploy["id"]}),
            )
            .await;
        assert_error(status, &body, 403, "forbidden");

        // The custodian sees, rotates and revokes its keys; the outsider cannot touch them.
        let listed = custodian
            .call_ok(
                "keys/list",
                json!({"service_account_id": deploy["id"]}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(listed["keys"][0]["id"], key["id"]);
        let (status, body) = outsider
            .call_json("keys/list", json!({"service_account_id": deploy["id"]}))
            .await;
        assert_error(status, &body, 403, "forbidden");
        let (status, body) = outsider
            .call_json("keys/revoke", json!({"key_id": key["id"]}))
            .await;
        assert_error(status, &body, 403, "forbidden");
        let rotated = custodian
            .call_ok(
                "keys/rotate",
                json!({"key_id": key["id"], "grace_seconds": 0}),
                StatusCode::CREATED,
            )
            .await;
        assert_eq!(rotated["key"]["kind"], "service");
        assert_eq!(rotated["key"]["created_by"]["email"], "keeper@sa.example");
        assert_eq!(rotated["previous"]["rotated_by"]["email"], "keeper@sa.example");
        assert!(rotated["previous"]["rotated_at"].is_string());
        custodian
            .call_ok(
                "keys/revoke",
                json!({"key_id": rotated["key"]["id"]}),
                StatusCode::OK,
            )
            .await;
        // An Admin's key for it acts as Admin: its custodian below that may revoke it, but not
        // rotate it (the new secret would act above them).
        let (strong, _) = service_key(&admin, &deploy, json!({"name": "admin deploy"})).await;
        assert_eq!(strong["effective_role"], "admin");
        let (status, body) = custodian
            .call_json(
                "keys/rotate",
                json!({"key_id": strong["id"], "grace_seconds": 0}),
            )
            .await;
        assert_error(status, &body, 403, "forbidden");
        custodian
            .call_ok("keys/revoke", json!({"key_id": strong["id"]}), StatusCode::OK)
            .await;

        // Custodians must be members; bad input names its field.
        let (status, body) = admin
            .call_json(
                "service-accounts/update",
                json!({"service_account_id": deploy["id"], "custodian_user_ids": ["usr_nobodyatall"]}),
            )
            .await;
        assert_invalid_field(status, &body, "custodian_user_ids");
        let (status, body) = admin
            .call_json("service-accounts/create", json!({"name": "Deploy", "role": "read_only"}))
            .await;
        assert_error(status, &body, 409, "conflict");
        let (status, body) = admin
            .call_json("service-accounts/create", json!({"name": "  ", "role": "read_only"}))
            .await;
        assert_invalid_field(status, &body, "name");
        let (status, body) = admin
            .call_json(
                "service-accounts/update",
                json!({"service_account_id": "sa_doesnotexist", "name": "x"}),
            )
            .await;
        assert_error(status, &body, 404, "not_found");
    })
    .await;
}

#[tokio::test]
async fn a_role_change_or_deletion_of_the_service_account_applies_on_the_next_request() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("roles@sa.example").await;
        let ci = create_service_account(&admin, "CI", "read_write").await;
        let (_, secret) = service_key(&admin, &ci, json!({"name": "ci"})).await;
        let machine = app.with_key(&secret);
        kept_on(&app, &secret).await;
        let check = json!({"name": "c", "kind": "api", "url": "https://c.example", "frequency_minutes": 5, "activated": true});
        machine
            .call_ok("checks/create", check.clone(), StatusCode::CREATED)
            .await;
        admin
            .call_ok(
                "service-accounts/update",
                json!({"service_account_id": ci["id"], "role": "read_only"}),
                StatusCode::OK,
            )
            .await;
        let (status, body) = machine.call_json("checks/create", check.clone()).await;
        assert_error(status, &body, 403, "forbidden");
        admin
            .call_ok(
                "service-accounts/delete",
                json!({"service_account_id": ci["id"]}),
                StatusCode::OK,
            )
            .await;
        let (status, body) = machine.call_json("auth/me", json!({})).await;
        assert_error(status, &body, 401, "unauthenticated");
        let listed = admin
            .call_ok("service-accounts/list", json!({}), StatusCode::OK)
            .await;
        assert_eq!(listed["service_accounts"], json!([]));
        // Its name is free again, and the trail still names the deleted one.
        create_service_account(&admin, "CI", "read_only").await;
        assert!(trail(&admin).await.iter().any(|event| {
            event["action"] == "service_account.deleted" && event["target"]["label"] == "CI"
        }));
    })
    .await;
}

#[tokio::test]
async fn handing_over_a_leavers_key_keeps_ci_working_through_the_grace_then_only_the_successor() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("offboard@sa.example").await;
        let (leaver, accepted) = app
            .add_member(&admin, "leaver@sa.example", "read_write")
            .await;
        let leaver_id = accepted["user"]["id"].clone();
        let ci = create_service_account(&admin, "CI", "read_write").await;
        let (key, old_secret) = leaver.create_key(json!({"name": "CI deploy"})).await;
        let (_, kept_secret) = leaver.create_key(json!({"name": "not handed over"})).await;

        // Rotating another person's key still gives an Admin no secret; a hand-over does.
        let (status, body) = admin
            .call_json(
                "keys/rotate",
                json!({"key_id": key["id"], "grace_seconds": 2}),
            )
            .await;
        assert_error(status, &body, 403, "forbidden");
        let handed = admin
            .call_ok(
                "keys/rotate",
                json!({"key_id": key["id"], "grace_seconds": 2, "to_service_account_id": ci["id"]}),
                StatusCode::CREATED,
            )
            .await;
        assert_eq!(handed["key"]["kind"], "service");
        assert_eq!(handed["key"]["service_account"]["name"], "CI");
        assert_eq!(handed["key"]["owner"], Value::Null);
        assert_eq!(handed["previous"]["rotated_by"]["email"], "offboard@sa.example");
        let new_secret = handed["secret"].as_str().unwrap().to_string();

        admin
            .call_ok("members/remove", json!({"user_id": leaver_id}), StatusCode::OK)
            .await;
        // Through the grace both secrets work, and both speak for the service account only.
        for secret in [&old_secret, &new_secret] {
            let me = app
                .with_key(secret)
                .call_ok("auth/me", json!({}), StatusCode::OK)
                .await;
            assert_eq!(me["via"], "service_key");
            assert_eq!(me["user"], Value::Null);
        }
        // The keys not handed over stopped with the removal.
        let (status, body) = app
            .with_key(&kept_secret)
            .call_json("auth/me", json!({}))
            .await;
        assert_error(status, &body, 401, "unauthenticated");
        tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
        let (status, body) = app
            .with_key(&old_secret)
            .call_json("auth/me", json!({}))
            .await;
        assert_error(status, &body, 401, "unauthenticated");
        app.with_key(&new_secret)
            .call_ok("checks/list", json!({}), StatusCode::OK)
            .await;

        // A key cannot hand anything over, not even an Admin's.
        let (_, admin_key) = admin.create_key(json!({"name": "admin own"})).await;
        let (other, _) = admin.create_key(json!({"name": "another"})).await;
        let (status, body) = app
            .with_key(&admin_key)
            .call_json(
                "keys/rotate",
                json!({"key_id": other["id"], "grace_seconds": 0, "to_service_account_id": ci["id"]}),
            )
            .await;
        assert_error(status, &body, 403, "forbidden");
    })
    .await;
}

#[tokio::test]
async fn an_adopted_legacy_key_keeps_its_secret_with_the_service_accounts_role_and_a_name_in_the_trail(
) {
    on_each_engine(|app| async move {
        let (admin, signed_up) = app.signup("adopt@sa.example").await;
        let account_id =
            AccountId::parse("account_id", signed_up["account"]["id"].as_str().unwrap()).unwrap();
        let legacy_secret = "legacy-adoption-0123456789abcdef";
        import_legacy_secrets(
            &app.state.pool,
            &app.state.key_hasher,
            &account_id,
            legacy_secret.as_bytes(),
        )
        .await
        .unwrap();
        let legacy = app.with_key(legacy_secret);
        assert_eq!(
            legacy.call_ok("auth/me", json!({}), StatusCode::OK).await["role"],
            "admin"
        );
        kept_on(&app, legacy_secret).await;
        let keys = admin
            .call_ok("account-keys/list", json!({}), StatusCode::OK)
            .await;
        let legacy_key = keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|key| key["kind"] == "legacy_account")
            .unwrap()
            .clone();
        let terraform = create_service_account(&admin, "Terraform", "read_write").await;
        // Only in a browser: the legacy key cannot adopt itself.
        let (status, body) = legacy
            .call_json(
                "account-keys/adopt",
                json!({"key_id": legacy_key["id"], "service_account_id": terraform["id"]}),
            )
            .await;
        assert_error(status, &body, 403, "forbidden");
        let adopted = admin
            .call_ok(
                "account-keys/adopt",
                json!({"key_id": legacy_key["id"], "service_account_id": terraform["id"]}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(adopted["key"]["kind"], "service");
        assert_eq!(adopted["key"]["effective_role"], "read_write");

        // The same secret, on the very next request, with the service account's role.
        let me = legacy.call_ok("auth/me", json!({}), StatusCode::OK).await;
        assert_eq!(me["via"], "service_key");
        assert_eq!(me["role"], "read_write");
        let (status, body) = legacy
            .call_json("account/set-policy", json!({"require_expiry": false}))
            .await;
        assert_error(status, &body, 403, "forbidden");
        legacy
            .call_ok(
                "checks/create",
                json!({"name": "tf", "kind": "api", "url": "https://tf.example", "frequency_minutes": 5, "activated": true}),
                StatusCode::CREATED,
            )
            .await;
        let events = trail(&admin).await;
        let made = events
            .iter()
            .find(|event| event["action"] == "check.created")
            .unwrap();
        assert_eq!(made["actor"]["type"], "service_key");
        assert_eq!(made["actor"]["service_account"]["name"], "Terraform");
        assert_eq!(made["actor"]["key_id"], legacy_key["id"]);
        assert!(events.iter().any(|event| event["action"] == "key.adopted"
            && event["actor"]["user"]["email"] == "adopt@sa.example"));
        // Adopted once: it is no longer a legacy key.
        let (status, body) = admin
            .call_json(
                "account-keys/adopt",
                json!({"key_id": legacy_key["id"], "service_account_id": terraform["id"]}),
            )
            .await;
        assert_error(status, &body, 409, "conflict");
        // The chain, with the service account's fields in it, still verifies.
        let verification =
            audit::verify::verify(&app.state.pool, &app.state.key_hasher, &Default::default())
                .await
                .unwrap();
        assert!(verification.broken.is_empty(), "{:?}", verification.broken);
        // Editing the service account's name in a stored event breaks the chain there.
        sqlx::query(
            "UPDATE audit_events SET actor_service_account_name = 'Someone else' \
             WHERE actor_service_account_id IS NOT NULL",
        )
        .execute(&app.state.pool)
        .await
        .unwrap();
        let verification =
            audit::verify::verify(&app.state.pool, &app.state.key_hasher, &Default::default())
                .await
                .unwrap();
        assert!(!verification.broken.is_empty(), "a forged name went unseen");
    })
    .await;
}

#[tokio::test]
async fn the_policy_can_require_every_service_key_to_expire_or_be_limited_to_networks() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("guarded@sa.example").await;
        let ci = create_service_account(&admin, "CI", "read_only").await;
        let policy = admin
            .call_ok(
                "account/set-policy",
                json!({"require_service_key_guard": true}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(policy["policy"]["require_service_key_guard"], true);
        let (status, body) = admin
            .call_json(
                "keys/create",
                json!({"name": "forever", "service_account_id": ci["id"]}),
            )
            .await;
        assert_invalid_field(status, &body, "expires_at");
        service_key(
            &admin,
            &ci,
            json!({"name": "from the runners", "allowed_cidrs": ["127.0.0.0/8"]}),
        )
        .await;
        service_key(
            &admin,
            &ci,
            json!({"name": "for a month", "expires_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
        // People's own keys are not concerned.
        admin.create_key(json!({"name": "mine"})).await;
    })
    .await;
}
