//! Your own API behind keyward: the account's own permissions, `keys/verify` for every kind of
//! key and every refusal, and forward auth as a reverse proxy calls it.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// An account with its own permissions, a Read & write member, and a verifier: a service
/// account's key granted `keys:verify` and nothing else.
struct Shop {
    admin: Caller,
    member: Caller,
    member_id: String,
    verifier: Caller,
}

async fn shop(app: &TestApp, tag: &str) -> Shop {
    let (admin, _) = app.signup(&format!("admin-{tag}@shop.example")).await;
    for (name, least_role) in [("orders:read", "read_only"), ("orders:write", "read_write")] {
        admin
            .call_ok(
                "permissions/define",
                json!({"name": name, "least_role": least_role, "description": "The orders API"}),
                StatusCode::CREATED,
            )
            .await;
    }
    let (member, joined) = app
        .add_member(&admin, &format!("member-{tag}@shop.example"), "read_write")
        .await;
    let service_account = admin
        .call_ok(
            "service-accounts/create",
            json!({"name": "orders-api", "role": "read_only"}),
            StatusCode::CREATED,
        )
        .await;
    let (_, verifier_secret) = admin
        .create_key(json!({
            "name": "orders-api verifier",
            "service_account_id": service_account["service_account"]["id"],
            "permissions": ["keys:verify"],
        }))
        .await;
    Shop {
        admin,
        member,
        member_id: joined["user"]["id"].as_str().unwrap().to_string(),
        verifier: app.with_key(&verifier_secret),
    }
}

async fn verify(verifier: &Caller, body: Value) -> Value {
    verifier.call_ok("keys/verify", body, StatusCode::OK).await
}

#[tokio::test]
async fn an_account_defines_its_own_permissions_and_grants_them_like_keywards() {
    on_each_engine(|app| async move {
        let shop = shop(&app, "define").await;
        let listed = shop
            .member
            .call_ok("permissions/list", json!({}), StatusCode::OK)
            .await;
        let own: Vec<&Value> = listed["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|permission| permission["custom"] == true)
            .collect();
        assert_eq!(own.len(), 2, "{listed}");
        assert_eq!(own[0]["name"], "orders:read");
        assert_eq!(own[1]["least_role"], "read_write");

        // Names are checked, and keyward's own cannot be taken.
        for (name, field) in [
            ("Orders:Read", "name"),
            ("orders", "name"),
            ("checks:read", "name"),
            ("checks:admin", "name"),
            ("keys:anything", "name"),
        ] {
            let (status, body) = shop
                .admin
                .call_json(
                    "permissions/define",
                    json!({"name": name, "least_role": "read_only"}),
                )
                .await;
            assert_invalid_field(status, &body, field);
        }
        let (status, body) = shop
            .admin
            .call_json(
                "permissions/define",
                json!({"name": "orders:read", "least_role": "admin"}),
            )
            .await;
        assert_error(status, &body, 409, "conflict");
        let (status, body) = shop
            .member
            .call_json(
                "permissions/define",
                json!({"name": "refunds:write", "least_role": "admin"}),
            )
            .await;
        assert_error(status, &body, 403, "forbidden");

        // A key is granted them by name; a name the account does not define is refused.
        let (key, _) = shop
            .member
            .create_key(
                json!({"name": "orders reader", "permissions": ["checks:read", "orders:read"]}),
            )
            .await;
        assert_eq!(key["permissions"], json!(["checks:read", "orders:read"]));
        let (status, body) = shop
            .member
            .call_json(
                "keys/create",
                json!({"name": "typo", "permissions": ["orders:raed"]}),
            )
            .await;
        assert_invalid_field(status, &body, "permissions");

        // Removed, it leaves the grants that named it: defining it again gives it back to no
        // key that was narrowed to it.
        shop.admin
            .call_ok(
                "permissions/undefine",
                json!({"name": "orders:read"}),
                StatusCode::OK,
            )
            .await;
        let got = shop
            .member
            .call_ok("keys/get", json!({"key_id": key["id"]}), StatusCode::OK)
            .await;
        assert_eq!(got["key"]["permissions"], json!(["checks:read"]));
        let (status, body) = shop
            .admin
            .call_json("permissions/undefine", json!({"name": "orders:read"}))
            .await;
        assert_error(status, &body, 404, "not_found");
        let trail = shop
            .admin
            .call_ok(
                "audit/list",
                json!({"action": "permission.undefined"}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(trail["events"][0]["target"]["id"], "orders:read", "{trail}");
    })
    .await;
}

#[tokio::test]
async fn keys_verify_answers_for_every_kind_of_key_and_every_refusal() {
    on_each_engine(|app| async move {
        let shop = shop(&app, "verify").await;
        let (member_key, member_secret) =
            shop.member.create_key(json!({"name": "shop client"})).await;

        // Good, with the owner's role and everything it may do, the account's own included.
        let verdict = verify(
            &shop.verifier,
            json!({"secret": member_secret, "permission": "orders:write"}),
        )
        .await;
        assert_eq!(verdict["valid"], true, "{verdict}");
        assert_eq!(verdict["code"], "valid");
        assert_eq!(verdict["key"]["id"], member_key["id"]);
        assert_eq!(verdict["owner"]["type"], "user");
        assert_eq!(verdict["owner"]["id"], shop.member_id.as_str());
        assert_eq!(verdict["role"], "read_write");
        let permissions = verdict["permissions"].as_array().unwrap();
        assert!(permissions.contains(&json!("orders:read")));
        assert!(permissions.contains(&json!("orders:write")));
        assert!(permissions.contains(&json!("checks:write")));
        assert!(!permissions.contains(&json!("keys:verify")), "{verdict}");
        assert_eq!(verdict["ratelimit"], Value::Null);
        // The key's page lists the account's own permission among those it used.
        app.state.key_usage.flush(&app.state.pool).await.unwrap();
        let got = shop
            .member
            .call_ok(
                "keys/get",
                json!({"key_id": member_key["id"]}),
                StatusCode::OK,
            )
            .await;
        let used: Vec<&Value> = got["key"]["permissions_used"]
            .as_array()
            .unwrap()
            .iter()
            .map(|used| &used["permission"])
            .collect();
        assert!(used.contains(&&json!("orders:write")), "{got}");
        // Without a permission: only whether the key is good.
        let verdict = verify(&shop.verifier, json!({"secret": member_secret})).await;
        assert_eq!(verdict["code"], "valid");

        // Malformed: not a keyward key, a broken checksum, or a legacy-shaped secret (legacy
        // account keys never open a service: they may be short enough to guess).
        for secret in ["kw_nope", "a-legacy-shaped-secret-0123456789"] {
            let verdict = verify(&shop.verifier, json!({"secret": secret})).await;
            assert_eq!(verdict["code"], "malformed", "{secret}");
            assert_eq!(verdict["valid"], false);
            assert_eq!(verdict["key"], Value::Null);
        }

        // A real legacy account key of the account is refused the same way.
        let me = shop
            .admin
            .call_ok("auth/me", json!({}), StatusCode::OK)
            .await;
        let account_id = keyward::domain::ids::AccountId::parse(
            "account_id",
            me["account"]["id"].as_str().unwrap(),
        )
        .unwrap();
        let legacy = "legacy-account-key-0123456789abcdef";
        keyward::host::cli::import_legacy_secrets(
            &app.state.pool,
            &app.state.key_hasher,
            &account_id,
            legacy.as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(
            app.with_key(legacy)
                .call_ok("auth/me", json!({}), StatusCode::OK)
                .await["via"],
            "account_key"
        );
        let verdict = verify(&shop.verifier, json!({"secret": legacy})).await;
        assert_eq!(verdict["code"], "malformed", "{verdict}");

        // Forbidden: the role does not reach the permission, or the grant does not hold it.
        let (_, narrow_secret) = shop
            .member
            .create_key(json!({"name": "narrow", "permissions": ["orders:read"]}))
            .await;
        let verdict = verify(
            &shop.verifier,
            json!({"secret": narrow_secret, "permission": "orders:write"}),
        )
        .await;
        assert_eq!(verdict["code"], "forbidden", "{verdict}");
        assert_eq!(verdict["reason"], "missing_permission");
        assert_eq!(
            verdict["permissions"],
            json!(["account:read", "orders:read"])
        );
        let verdict = verify(
            &shop.verifier,
            json!({"secret": narrow_secret, "permission": "checks:read"}),
        )
        .await;
        assert_eq!(verdict["code"], "forbidden", "{verdict}");
        // A downgrade takes orders:write away on the very next verification.
        let verdict = verify(
            &shop.verifier,
            json!({"secret": member_secret, "permission": "orders:write"}),
        )
        .await;
        assert_eq!(verdict["code"], "valid");
        shop.admin
            .call_ok(
                "members/set-role",
                json!({"user_id": shop.member_id, "role": "read_only"}),
                StatusCode::OK,
            )
            .await;
        let verdict = verify(
            &shop.verifier,
            json!({"secret": member_secret, "permission": "orders:write"}),
        )
        .await;
        assert_eq!(verdict["code"], "forbidden", "{verdict}");
        assert_eq!(verdict["role"], "read_only");
        let verdict = verify(
            &shop.verifier,
            json!({"secret": member_secret, "permission": "orders:read"}),
        )
        .await;
        assert_eq!(verdict["code"], "valid", "{verdict}");

        // Network: the client's address (given by the verifier) against the key's networks.
        let (_, office_secret) = shop
            .admin
            .create_key(json!({"name": "office", "allowed_cidrs": ["10.0.0.0/8"]}))
            .await;
        let verdict = verify(
            &shop.verifier,
            json!({"secret": office_secret, "client_address": "192.0.2.7"}),
        )
        .await;
        assert_eq!(verdict["code"], "network", "{verdict}");
        let verdict = verify(
            &shop.verifier,
            json!({"secret": office_secret, "client_address": "10.1.2.3"}),
        )
        .await;
        assert_eq!(verdict["code"], "valid", "{verdict}");
        // Without an address, a key limited to networks is not believed to be inside them.
        let verdict = verify(&shop.verifier, json!({"secret": office_secret})).await;
        assert_eq!(verdict["code"], "network", "{verdict}");
        let (status, body) = shop
            .verifier
            .call_json(
                "keys/verify",
                json!({"secret": office_secret, "client_address": "not an address"}),
            )
            .await;
        assert_invalid_field(status, &body, "client_address");

        // A key made by a key is held to the networks of the key above it.
        let (_, parent_secret) = shop
            .admin
            .create_key(json!({"name": "parent", "allowed_cidrs": ["127.0.0.0/8", "10.0.0.0/8"]}))
            .await;
        let (child, child_secret) = app
            .with_key(&parent_secret)
            .create_key(json!({"name": "child"}))
            .await;
        let verdict = verify(
            &shop.verifier,
            json!({"secret": child_secret, "client_address": "192.0.2.7"}),
        )
        .await;
        assert_eq!(verdict["code"], "network", "{verdict}");
        assert_eq!(verdict["key"]["id"], child["id"]);
        let verdict = verify(
            &shop.verifier,
            json!({"secret": child_secret, "client_address": "10.9.9.9"}),
        )
        .await;
        assert_eq!(verdict["code"], "valid", "{verdict}");

        // Rate limited: the shown key's own budget, with its standing in the body.
        let (_, limited_secret) = shop
            .admin
            .create_key(json!({"name": "limited", "rate_limit_per_minute": 2}))
            .await;
        let mut codes = Vec::new();
        for _ in 0..3 {
            let verdict = verify(&shop.verifier, json!({"secret": limited_secret})).await;
            codes.push(verdict["code"].as_str().unwrap().to_string());
            if verdict["code"] == "rate_limited" {
                assert_eq!(verdict["ratelimit"]["remaining"], 0, "{verdict}");
                assert!(
                    verdict["ratelimit"]["retry_after_seconds"]
                        .as_u64()
                        .unwrap()
                        >= 1
                );
            }
        }
        assert_eq!(codes, ["valid", "valid", "rate_limited"]);

        // Revoked (on the very next verification), and expired.
        shop.member
            .call_ok(
                "keys/revoke",
                json!({"key_id": member_key["id"]}),
                StatusCode::OK,
            )
            .await;
        let verdict = verify(&shop.verifier, json!({"secret": member_secret})).await;
        assert_eq!(verdict["code"], "revoked", "{verdict}");
        assert_eq!(verdict["key"]["id"], member_key["id"]);
        let (expiring, expiring_secret) = shop
            .admin
            .create_key(json!({"name": "expiring", "expires_at": "2099-01-01T00:00:00Z"}))
            .await;
        // Behind keyward's back, before any check has kept the key.
        sqlx::query("UPDATE api_keys SET expires_at = 1 WHERE id = $1")
            .bind(expiring["id"].as_str().unwrap())
            .execute(&app.state.pool)
            .await
            .unwrap();
        let verdict = verify(&shop.verifier, json!({"secret": expiring_secret})).await;
        assert_eq!(verdict["code"], "expired", "{verdict}");

        // A service account's key says so.
        let verdict = verify(
            &shop.verifier,
            json!({"secret": shop.verifier.bearer.clone().unwrap()}),
        )
        .await;
        assert_eq!(verdict["owner"]["type"], "service_account", "{verdict}");
        assert_eq!(verdict["owner"]["name"], "orders-api");

        // Each refusal is in the trail, with who was shown the key.
        let trail = shop
            .admin
            .call_ok(
                "audit/list",
                json!({"action": "key.rejected"}),
                StatusCode::OK,
            )
            .await;
        let reasons: Vec<&str> = trail["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|event| event["details"]["reason"].as_str().unwrap_or_default())
            .collect();
        for reason in [
            "missing_permission",
            "outside_networks",
            "revoked",
            "expired",
        ] {
            assert!(reasons.contains(&reason), "{reason}: {trail}");
        }
        let refusal = trail["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|event| event["details"]["reason"] == "missing_permission")
            .unwrap();
        assert_eq!(
            refusal["details"]["shown_to"]["verifier_key_name"], "orders-api verifier",
            "{refusal}"
        );

        // Asking about a permission the account does not define is the service's mistake.
        let (status, body) = shop
            .verifier
            .call_json(
                "keys/verify",
                json!({"secret": office_secret, "permission": "orders:raed"}),
            )
            .await;
        assert_invalid_field(status, &body, "permission");
    })
    .await;
}

#[tokio::test]
async fn a_verifier_sees_only_its_own_accounts_keys_and_only_a_named_grant_verifies() {
    on_each_engine(|app| async move {
        let ours = shop(&app, "ours").await;
        let theirs = shop(&app, "theirs").await;
        let (their_key, their_secret) = theirs.member.create_key(json!({"name": "theirs"})).await;
        theirs
            .member
            .call_ok(
                "keys/revoke",
                json!({"key_id": their_key["id"]}),
                StatusCode::OK,
            )
            .await;
        let verdict = verify(&ours.verifier, json!({"secret": their_secret})).await;
        assert_eq!(verdict["code"], "unknown", "{verdict}");
        assert_eq!(verdict["key"], Value::Null);
        assert_eq!(verdict["account_id"], Value::Null);
        // Nothing of it reached the other account's trail.
        let trail = theirs
            .admin
            .call_ok(
                "audit/list",
                json!({"action": "key.rejected"}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(trail["events"], json!([]), "{trail}");

        // A key granted everything its role allows is no verifier, nor is a session.
        let (_, everything) = ours.admin.create_key(json!({"name": "everything"})).await;
        let (status, body) = app
            .with_key(&everything)
            .call_json("keys/verify", json!({"secret": everything}))
            .await;
        assert_error(status, &body, 403, "forbidden");
        assert_eq!(body["error"]["missing_permission"], "keys:verify");
        let (status, body) = ours
            .admin
            .call_json("keys/verify", json!({"secret": everything}))
            .await;
        assert_error(status, &body, 403, "forbidden");
        // A person's key named for it verifies too.
        let (_, personal_verifier) = ours
            .member
            .create_key(json!({"name": "my verifier", "permissions": ["keys:verify"]}))
            .await;
        let verdict = verify(
            &app.with_key(&personal_verifier),
            json!({"secret": everything, "permission": "orders:write"}),
        )
        .await;
        assert_eq!(verdict["code"], "valid", "{verdict}");
    })
    .await;
}

/// Calls forward auth the way nginx's `auth_request` does: the original headers, the
/// permission the location asks for, and the original method and URI.
async fn forward(
    app: &TestApp,
    secret: Option<&str>,
    permission: Option<&str>,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(app.url("/api/v1/forward-auth"))
        .header("x-original-method", "POST")
        .header("x-original-uri", "/orders?id=7");
    if let Some(secret) = secret {
        request = request.bearer_auth(secret);
    }
    if let Some(permission) = permission {
        request = request.header("x-keyward-permission", permission);
    }
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn forward_auth_passes_good_keys_with_who_they_are_and_refuses_the_rest() {
    on_each_engine_with(
        |config| config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()],
        |app| async move {
            let shop = shop(&app, "forward").await;
            let (key, secret) = shop
                .member
                .create_key(json!({"name": "shop client", "allowed_cidrs": ["198.51.100.0/24"], "rate_limit_per_minute": 3}))
                .await;

            let passed = forward(&app, Some(&secret), Some("orders:write"), Some("198.51.100.9")).await;
            assert_eq!(passed.status(), StatusCode::OK);
            let header = |name: &str| {
                passed
                    .headers()
                    .get(name)
                    .map(|value| value.to_str().unwrap().to_string())
            };
            assert_eq!(header("x-keyward-key-id").as_deref(), key["id"].as_str());
            assert_eq!(header("x-keyward-user-id").as_deref(), Some(shop.member_id.as_str()));
            assert_eq!(header("x-keyward-role").as_deref(), Some("read_write"));
            assert!(header("x-keyward-account-id").unwrap().starts_with("acc_"));
            assert_eq!(header("ratelimit-remaining").as_deref(), Some("2"));

            // No key, another network, a permission the key lacks.
            let missing = forward(&app, None, Some("orders:read"), Some("198.51.100.9")).await;
            assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
            assert!(missing.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
            let elsewhere = forward(&app, Some(&secret), Some("orders:read"), Some("203.0.113.5")).await;
            assert_eq!(elsewhere.status(), StatusCode::FORBIDDEN);
            let (_, reader) = shop
                .member
                .create_key(json!({"name": "reader", "permissions": ["orders:read"]}))
                .await;
            let lacking = forward(&app, Some(&reader), Some("orders:write"), None).await;
            assert_eq!(lacking.status(), StatusCode::FORBIDDEN);
            assert!(lacking.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("insufficient_scope"));
            let body: Value = lacking.json().await.unwrap();
            assert_eq!(body["error"]["missing_permission"], "orders:write");
            let nonsense = forward(&app, Some(&reader), Some("not a permission"), None).await;
            assert_eq!(nonsense.status(), StatusCode::FORBIDDEN);

            // Over the limit: 429 with Retry-After (two uses are left; the third is refused).
            for _ in 0..2 {
                let passed = forward(&app, Some(&secret), None, Some("198.51.100.9")).await;
                assert_eq!(passed.status(), StatusCode::OK);
            }
            let limited = forward(&app, Some(&secret), None, Some("198.51.100.9")).await;
            assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
            assert!(limited.headers().contains_key("retry-after"));

            // Revoked: refused on the very next request.
            shop.member
                .call_ok("keys/revoke", json!({"key_id": key["id"]}), StatusCode::OK)
                .await;
            let revoked = forward(&app, Some(&secret), None, Some("198.51.100.9")).await;
            assert_eq!(revoked.status(), StatusCode::UNAUTHORIZED);

            // A service account's key names it for the upstream; the trail has the proxied URI.
            let verifier = shop.verifier.bearer.clone().unwrap();
            let passed = forward(&app, Some(&verifier), None, None).await;
            assert_eq!(passed.status(), StatusCode::OK);
            assert!(passed.headers().contains_key("x-keyward-service-account-id"));
            assert!(!passed.headers().contains_key("x-keyward-user-id"));
            let trail = shop
                .admin
                .call_ok("audit/list", json!({"action": "key.rejected"}), StatusCode::OK)
                .await;
            let refusal = trail["events"]
                .as_array()
                .unwrap()
                .iter()
                .find(|event| event["details"]["reason"] == "missing_permission")
                .expect("the refusal is in the trail");
            assert_eq!(refusal["details"]["shown_to"]["uri"], "/orders?id=7");
            assert_eq!(refusal["details"]["shown_to"]["method"], "POST");
        },
    )
    .await;
}

#[tokio::test]
async fn parallel_defines_cannot_pass_the_accounts_ceiling_of_permissions() {
    use keyward::server::stores::own_permissions::MAX_PER_ACCOUNT;
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("ceiling@shop.example").await;
        for n in 0..MAX_PER_ACCOUNT - 5 {
            admin
                .call_ok(
                    "permissions/define",
                    json!({"name": format!("orders{n}:read"), "least_role": "read_only"}),
                    StatusCode::CREATED,
                )
                .await;
        }
        // Ten at once for the last five places.
        let defines = (0..10).map(|n| {
            let admin = admin.clone();
            async move {
                admin
                    .call_json(
                        "permissions/define",
                        json!({"name": format!("refunds{n}:write"), "least_role": "admin"}),
                    )
                    .await
                    .0
            }
        });
        let statuses = futures_util::future::join_all(defines).await;
        let created = statuses
            .iter()
            .filter(|status| **status == StatusCode::CREATED)
            .count();
        assert_eq!(created, 5, "{statuses:?}");
        assert!(
            statuses
                .iter()
                .all(|status| *status == StatusCode::CREATED || *status == StatusCode::CONFLICT),
            "{statuses:?}"
        );
        let listed = admin
            .call_ok("permissions/list", json!({}), StatusCode::OK)
            .await;
        let own = listed["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|permission| permission["custom"] == true)
            .count();
        assert_eq!(own as i64, MAX_PER_ACCOUNT);
    })
    .await;
}
