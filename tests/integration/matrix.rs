//! The authorization matrix: every operation, called by every kind of caller, with the status
//! each must get. Read a row as the access policy of one operation. An operation registered on
//! the server without a row here fails the test. Destructive cells also check their effect (the
//! object is really gone, or really still there), and no answer to a bearer key may set a cookie.

use crate::support::*;
use keyward::domain::ids::AccountId;
use keyward::domain::time::now_millis;
use keyward::host::cli::import_legacy_secrets;
use keyward::server::keys::secret::KeySecret;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The callers, in the order of the columns below.
const CALLERS: [&str; 16] = [
    "anonymous",
    "read_only",
    "read_write",
    "admin",
    "read_only key",
    "read_write key",
    "admin key",
    "admin key capped read_only",
    "admin of another account",
    "key of another account",
    "revoked key",
    "expired key",
    "legacy account key",
    "malformed key",
    "well-formed key the database does not know",
    "service key (Admin role)",
];

/// Expected statuses: one row per operation, one column per caller (see `CALLERS`).
/// Objects named in the bodies belong to the main account.
#[rustfmt::skip]
const MATRIX: [(&str, [u16; 16]); 62] = [
    //                          anon  ro   rw   adm  roK  rwK  admK capK oth  othK rev  exp  leg  mal  unk  svcK
    ("auth/signup",            [201, 201, 201, 201, 201, 201, 201, 201, 201, 201, 201, 201, 201, 201, 201, 201]),
    ("auth/login",             [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("auth/logout",            [401, 200, 200, 200, 403, 403, 403, 403, 200, 403, 401, 401, 403, 401, 401, 403]),
    ("auth/me",                [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401, 200, 401, 401, 200]),
    ("auth/change-password",   [401, 200, 200, 200, 403, 403, 403, 403, 200, 403, 401, 401, 403, 401, 401, 403]),
    // No caller here has a sign-in waiting for its code: a code alone signs no one in.
    ("auth/second-factor",     [401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401]),
    ("auth/factors",           [401, 200, 200, 200, 403, 403, 403, 403, 200, 403, 401, 401, 403, 401, 401, 403]),
    ("auth/totp/enroll",       [401, 200, 200, 200, 403, 403, 403, 403, 200, 403, 401, 401, 403, 401, 401, 403]),
    // Nobody here is setting one up (tests/integration/second_factor.rs confirms for real).
    ("auth/totp/confirm",      [401, 409, 409, 409, 403, 403, 403, 403, 409, 403, 401, 401, 403, 401, 401, 403]),
    ("auth/totp/remove",       [401, 404, 404, 404, 403, 403, 403, 403, 404, 403, 401, 401, 403, 401, 401, 403]),
    ("auth/recovery-codes/renew", [401, 404, 404, 404, 403, 403, 403, 403, 404, 403, 401, 401, 403, 401, 401, 403]),
    ("auth/step-up",           [401, 200, 200, 200, 403, 403, 403, 403, 200, 403, 401, 401, 403, 401, 401, 403]),
    // Nobody here has a passkey, or is adding one (end2end/tests/passkeys.spec.ts has them).
    ("auth/passkeys/register/start",  [401, 200, 200, 200, 403, 403, 403, 403, 200, 403, 401, 401, 403, 401, 401, 403]),
    ("auth/passkeys/register/finish", [401, 409, 409, 409, 403, 403, 403, 403, 409, 403, 401, 401, 403, 401, 401, 403]),
    ("auth/passkeys/remove",          [401, 404, 404, 404, 403, 403, 403, 403, 404, 403, 401, 401, 403, 401, 401, 403]),
    // Anonymous: a challenge for a sign-in with a passkey alone; a person without passkeys
    // has none to step up with; a key never does passkeys.
    ("auth/passkeys/challenge",       [200, 404, 404, 404, 401, 401, 401, 401, 404, 401, 401, 401, 401, 401, 401, 401]),
    ("auth/passkeys/sign-in",         [400, 400, 400, 400, 401, 401, 401, 401, 400, 401, 401, 401, 401, 401, 401, 401]),
    ("auth/switch-account",    [401, 200, 200, 200, 403, 403, 403, 403, 404, 403, 401, 401, 403, 401, 401, 403]),
    ("members/list",           [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401, 200, 401, 401, 200]),
    ("members/invite",         [401, 403, 403, 201, 403, 403, 201, 403, 201, 201, 401, 401, 201, 401, 401, 403]),
    ("invites/list",           [401, 403, 403, 200, 403, 403, 200, 403, 200, 200, 401, 401, 200, 401, 401, 403]),
    ("invites/withdraw",       [401, 403, 403, 200, 403, 403, 200, 403, 404, 404, 401, 401, 200, 401, 401, 403]),
    ("invites/accept",         [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200]),
    ("members/set-role",       [401, 403, 403, 200, 403, 403, 200, 403, 404, 404, 401, 401, 200, 401, 401, 403]),
    ("members/remove",         [401, 403, 403, 200, 403, 403, 200, 403, 404, 404, 401, 401, 200, 401, 401, 403]),
    ("keys/create",            [401, 201, 201, 201, 403, 201, 201, 403, 201, 201, 401, 401, 403, 401, 401, 403]),
    ("keys/list",              [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401, 403, 401, 401, 200]),
    ("keys/get",               [401, 403, 200, 200, 403, 200, 200, 403, 404, 404, 401, 401, 200, 401, 401, 200]),
    ("keys/revoke",            [401, 403, 200, 200, 403, 200, 200, 403, 404, 404, 401, 401, 200, 401, 401, 200]),
    ("keys/update",            [401, 403, 200, 200, 403, 200, 200, 403, 404, 404, 401, 401, 200, 401, 401, 200]),
    ("keys/rotate",            [401, 403, 201, 403, 403, 403, 403, 403, 404, 404, 401, 401, 403, 401, 401, 403]),
    ("keys/report-leak",       [202, 202, 202, 202, 202, 202, 202, 202, 202, 202, 202, 202, 202, 202, 202, 202]),
    ("account-keys/list",      [401, 403, 403, 200, 403, 403, 200, 403, 200, 200, 401, 401, 200, 401, 401, 200]),
    ("checks/list",            [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401, 200, 401, 401, 200]),
    ("checks/get",             [401, 200, 200, 200, 200, 200, 200, 200, 404, 404, 401, 401, 200, 401, 401, 200]),
    ("checks/create",          [401, 403, 201, 201, 403, 201, 201, 403, 201, 201, 401, 401, 201, 401, 401, 201]),
    ("checks/update",          [401, 403, 200, 200, 403, 200, 200, 403, 404, 404, 401, 401, 200, 401, 401, 200]),
    ("checks/delete",          [401, 403, 200, 200, 403, 200, 200, 403, 404, 404, 401, 401, 200, 401, 401, 200]),
    ("account/policy",         [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401, 200, 401, 401, 200]),
    ("account/set-policy",     [401, 403, 403, 200, 403, 403, 200, 403, 200, 200, 401, 401, 200, 401, 401, 200]),
    ("account/sso",            [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401, 200, 401, 401, 200]),
    // The SCIM token adds and removes people for as long as it lives: an Admin in a browser
    // only. The other account has no token to revoke.
    ("account/scim-token",        [401, 403, 403, 201, 403, 403, 403, 403, 201, 403, 401, 401, 403, 401, 401, 403]),
    ("account/revoke-scim-token", [401, 403, 403, 200, 403, 403, 403, 403, 404, 403, 401, 401, 403, 401, 401, 403]),
    ("audit/list",             [401, 403, 403, 200, 403, 403, 200, 403, 200, 200, 401, 401, 200, 401, 401, 200]),
    ("permissions/list",       [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401, 200, 401, 401, 200]),
    ("permissions/define",     [401, 403, 403, 201, 403, 403, 201, 403, 201, 201, 401, 401, 201, 401, 401, 201]),
    ("permissions/undefine",   [401, 403, 403, 200, 403, 403, 200, 403, 404, 404, 401, 401, 200, 401, 401, 200]),
    // Only a key whose grant names keys:verify verifies (tests/integration/verify.rs has them):
    // no session, and no key granted "everything".
    ("keys/verify",            [401, 403, 403, 403, 403, 403, 403, 403, 403, 403, 401, 401, 403, 401, 401, 403]),
    ("service-accounts/create", [401, 403, 403, 201, 403, 403, 403, 403, 201, 403, 401, 401, 403, 401, 401, 403]),
    ("service-accounts/list",   [401, 200, 200, 200, 200, 200, 200, 200, 200, 200, 401, 401, 200, 401, 401, 200]),
    ("service-accounts/update", [401, 403, 403, 200, 403, 403, 403, 403, 404, 403, 401, 401, 403, 401, 401, 403]),
    ("service-accounts/delete", [401, 403, 403, 200, 403, 403, 403, 403, 404, 403, 401, 401, 403, 401, 401, 403]),
    ("account-keys/adopt",      [401, 403, 403, 200, 403, 403, 403, 403, 404, 403, 401, 401, 403, 401, 401, 403]),
    ("audit/find-key",         [401, 403, 403, 200, 403, 403, 200, 403, 200, 200, 401, 401, 200, 401, 401, 200]),
    // Webhooks are changed by an Admin in a browser only, and read like the trail they carry.
    ("webhooks/create",        [401, 403, 403, 201, 403, 403, 403, 403, 201, 403, 401, 401, 403, 401, 401, 403]),
    ("webhooks/list",          [401, 403, 403, 200, 403, 403, 200, 403, 200, 200, 401, 401, 200, 401, 401, 200]),
    ("webhooks/update",        [401, 403, 403, 200, 403, 403, 403, 403, 404, 403, 401, 401, 403, 401, 401, 403]),
    ("webhooks/delete",        [401, 403, 403, 200, 403, 403, 403, 403, 404, 403, 401, 401, 403, 401, 401, 403]),
    ("webhooks/rotate-secret", [401, 403, 403, 200, 403, 403, 403, 403, 404, 403, 401, 401, 403, 401, 401, 403]),
    ("webhooks/deliveries",    [401, 403, 403, 200, 403, 403, 200, 403, 404, 404, 401, 401, 200, 401, 401, 200]),
    ("webhooks/redeliver",     [401, 403, 403, 202, 403, 403, 403, 403, 404, 403, 401, 401, 403, 401, 401, 403]),
    ("webhooks/test",          [401, 403, 403, 202, 403, 403, 403, 403, 404, 403, 401, 401, 403, 401, 401, 403]),
];

/// One account with a member of each role, keys of every kind, a check, and another account.
/// Fixtures are made by callers of their own (a second Admin, a key of the Read & write
/// member), so that a cell which signs a caller in or out cannot break the next cell's set-up.
struct World {
    callers: Vec<Caller>,
    fixture_admin: Caller,
    fixture_read_write: Caller,
    account_id: String,
    read_only_id: String,
    check_id: String,
    service_account_id: String,
    webhook_id: String,
    delivery_id: String,
}

async fn build_world(app: &TestApp, tag: &str) -> World {
    let email = |who: &str| format!("{who}.{tag}@example.com");
    let (admin, signed_up) = app.signup(&email("admin")).await;
    let account_id = signed_up["account"]["id"].as_str().unwrap().to_string();
    let (read_only, ro) = app.add_member(&admin, &email("ro"), "read_only").await;
    let (read_write, _) = app.add_member(&admin, &email("rw"), "read_write").await;
    let (other_admin, _) = app.signup(&email("other")).await;
    let (fixture_admin, _) = app.add_member(&admin, &email("fixtures"), "admin").await;

    let (_, read_only_key) = read_only.create_key(json!({"name": "ro"})).await;
    let (_, read_write_key) = read_write.create_key(json!({"name": "rw"})).await;
    let (_, admin_key) = admin.create_key(json!({"name": "admin"})).await;
    let (_, capped_key) = admin
        .create_key(json!({"name": "capped", "role_cap": "read_only"}))
        .await;
    let (_, other_key) = other_admin.create_key(json!({"name": "other"})).await;
    let (revoked, revoked_key) = admin.create_key(json!({"name": "revoked"})).await;
    admin
        .call_ok(
            "keys/revoke",
            json!({"key_id": revoked["id"]}),
            StatusCode::OK,
        )
        .await;
    let (expired, expired_key) = admin.create_key(json!({"name": "expired"})).await;
    sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE id = $2")
        .bind(now_millis().before(std::time::Duration::from_millis(1)))
        .bind(expired["id"].as_str().unwrap())
        .execute(&app.state.pool)
        .await
        .unwrap();
    let legacy_key = format!("legacy-{tag}-0123456789abcdef");
    import_legacy_secrets(
        &app.state.pool,
        &app.state.key_hasher,
        &AccountId::parse("account_id", &account_id).unwrap(),
        legacy_key.as_bytes(),
    )
    .await
    .unwrap();
    let check = fixture_admin
        .call_ok(
            "checks/create",
            json!({"name": "c", "kind": "api", "url": "https://c.example", "frequency_minutes": 5, "activated": true}),
            StatusCode::CREATED,
        )
        .await;

    // A webhook to a port nothing listens on, and one delivery of it (a test event).
    let webhook = fixture_admin
        .call_ok(
            "webhooks/create",
            json!({"url": "http://127.0.0.1:9/hook", "events": ["member.left"]}),
            StatusCode::CREATED,
        )
        .await;
    let webhook_id = webhook["webhook"]["id"].as_str().unwrap().to_string();
    fixture_admin
        .call_ok(
            "webhooks/test",
            json!({"webhook_id": webhook_id}),
            StatusCode::ACCEPTED,
        )
        .await;
    let deliveries = fixture_admin
        .call_ok(
            "webhooks/deliveries",
            json!({"webhook_id": webhook_id}),
            StatusCode::OK,
        )
        .await;
    let delivery_id = deliveries["deliveries"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let service_account = fixture_admin
        .call_ok(
            "service-accounts/create",
            json!({"name": format!("svc {tag}"), "role": "admin"}),
            StatusCode::CREATED,
        )
        .await;
    let service_account_id = service_account["service_account"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let service_key = fixture_admin
        .call_ok(
            "keys/create",
            json!({"name": "svc", "service_account_id": service_account_id}),
            StatusCode::CREATED,
        )
        .await["secret"]
        .as_str()
        .unwrap()
        .to_string();

    let callers = vec![
        app.anonymous(),
        read_only,
        read_write,
        admin,
        app.with_key(&read_only_key),
        app.with_key(&read_write_key),
        app.with_key(&admin_key),
        app.with_key(&capped_key),
        other_admin,
        app.with_key(&other_key),
        // Refused keys count against their address's failed-bearer budget: each comes from
        // an address of its own, as separate clients would.
        app.anonymous_from("127.0.1.1").using_key(&revoked_key),
        app.anonymous_from("127.0.1.2").using_key(&expired_key),
        app.with_key(&legacy_key),
        app.anonymous_from("127.0.1.3")
            .using_key("kw_thisisnotakeyatall"),
        app.anonymous_from("127.0.1.4")
            .using_key(&well_formed_unknown_key()),
        app.with_key(&service_key),
    ];
    World {
        callers,
        fixture_admin,
        fixture_read_write: app.with_key(&read_write_key),
        account_id,
        read_only_id: ro["user"]["id"].as_str().unwrap().to_string(),
        check_id: check["check"]["id"].as_str().unwrap().to_string(),
        service_account_id,
        webhook_id,
        delivery_id,
    }
}

/// A resource name of the account's own permissions, one per cell (`op30.c3` → `orders-op30-c3`).
fn own_resource(cell: &str) -> String {
    let cell: String = cell
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("orders-{}", cell.to_ascii_lowercase())
}

/// A key with the right shape and checksum that was never issued: it passes the offline check
/// and must be refused by the database lookup.
fn well_formed_unknown_key() -> String {
    let secret = KeySecret::generate().reveal_once();
    assert!(KeySecret::parse_user_key(&secret).is_some());
    secret
}

/// What a destructive cell must have done when it succeeded, and must not have done when it
/// was refused.
enum Effect {
    None,
    KeyRevoked(Value),
    CheckDeleted(Value),
    MemberRemoved(Value),
    InviteWithdrawn(Value),
    ServiceAccountDeleted(Value),
    KeyAdopted(Value),
    WebhookDeleted(Value),
}

impl Effect {
    /// Whether the effect is there, as the account's Admin sees it.
    async fn happened(&self, world: &World) -> bool {
        let admin = &world.fixture_admin;
        match self {
            Effect::None => false,
            Effect::WebhookDeleted(webhook_id) => {
                let list = admin
                    .call_ok("webhooks/list", json!({}), StatusCode::OK)
                    .await;
                !list["webhooks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|webhook| &webhook["id"] == webhook_id)
            }
            Effect::KeyRevoked(key_id) => {
                let keys = admin
                    .call_ok("account-keys/list", json!({}), StatusCode::OK)
                    .await;
                let key = keys["keys"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|key| &key["id"] == key_id)
                    .cloned()
                    .expect("the key is still listed");
                key["status"] == "revoked"
            }
            Effect::CheckDeleted(check_id) => {
                let (status, _) = admin
                    .call_json("checks/get", json!({"check_id": check_id}))
                    .await;
                status == StatusCode::NOT_FOUND
            }
            Effect::MemberRemoved(user_id) => {
                let members = admin
                    .call_ok("members/list", json!({}), StatusCode::OK)
                    .await;
                !members["members"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|member| &member["user"]["id"] == user_id)
            }
            Effect::ServiceAccountDeleted(service_account_id) => {
                let listed = admin
                    .call_ok("service-accounts/list", json!({}), StatusCode::OK)
                    .await;
                !listed["service_accounts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|service_account| &service_account["id"] == service_account_id)
            }
            Effect::KeyAdopted(key_id) => {
                let key = admin
                    .call_ok("keys/get", json!({"key_id": key_id}), StatusCode::OK)
                    .await;
                key["key"]["kind"] == "service"
            }
            Effect::InviteWithdrawn(invite_id) => {
                let invites = admin
                    .call_ok("invites/list", json!({}), StatusCode::OK)
                    .await;
                !invites["invites"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|invite| &invite["id"] == invite_id)
            }
        }
    }
}

/// The body for one cell, and the effect a success must have; objects that a successful call
/// would consume are made fresh per cell.
async fn body_for(app: &TestApp, world: &World, operation: &str, cell: &str) -> (Value, Effect) {
    let fresh_email = format!("{cell}@example.com");
    let body = match operation {
        "auth/signup" => json!({"email": fresh_email, "password": PASSWORD, "account_name": "A"}),
        // A fresh person per cell: sign-in attempts are throttled per email address.
        "auth/login" => {
            app.add_member(&world.fixture_admin, &fresh_email, "read_only")
                .await;
            json!({"email": fresh_email, "password": PASSWORD})
        }
        "auth/switch-account" => json!({"account_id": world.account_id}),
        "auth/second-factor" => json!({"code": "123456"}),
        "auth/totp/confirm" => json!({"code": "123456"}),
        "auth/step-up" => json!({"password": PASSWORD}),
        "auth/passkeys/register/finish" => json!({"name": "laptop", "credential": {}}),
        "auth/passkeys/remove" => json!({"passkey_id": "psk_nothing"}),
        "auth/passkeys/sign-in" => json!({"credential": {}}),
        "members/invite" => json!({"email": fresh_email, "role": "read_only"}),
        "invites/accept" => {
            let invite = world.fixture_admin.invite(&fresh_email, "read_only").await;
            json!({"token": invite_token(&invite), "password": PASSWORD})
        }
        "members/set-role" => json!({"user_id": world.read_only_id, "role": "read_only"}),
        "members/remove" => {
            let (_, accepted) = app
                .add_member(&world.fixture_admin, &fresh_email, "read_only")
                .await;
            let user_id = accepted["user"]["id"].clone();
            return (json!({"user_id": user_id}), Effect::MemberRemoved(user_id));
        }
        "auth/change-password" => {
            json!({"current_password": PASSWORD, "new_password": "a brand new password"})
        }
        "invites/withdraw" => {
            world.fixture_admin.invite(&fresh_email, "read_only").await;
            let invites = world
                .fixture_admin
                .call_ok("invites/list", json!({}), StatusCode::OK)
                .await;
            let invite_id = invites["invites"]
                .as_array()
                .unwrap()
                .iter()
                .find(|invite| invite["email"] == fresh_email.to_lowercase())
                .expect("the new invite is pending")["id"]
                .clone();
            return (
                json!({"invite_id": invite_id}),
                Effect::InviteWithdrawn(invite_id),
            );
        }
        "keys/create" => json!({"name": "cell"}),
        "service-accounts/create" => json!({"name": cell, "role": "read_only"}),
        "webhooks/create" => {
            json!({"url": format!("https://hooks.example.com/{cell}"), "events": ["key.*"]})
        }
        "webhooks/update" => json!({"webhook_id": world.webhook_id, "description": cell}),
        "webhooks/rotate-secret" | "webhooks/deliveries" | "webhooks/test" => {
            json!({"webhook_id": world.webhook_id})
        }
        "webhooks/redeliver" => json!({"delivery_id": world.delivery_id}),
        "webhooks/delete" => {
            let created = world
                .fixture_admin
                .call_ok(
                    "webhooks/create",
                    json!({"url": format!("https://hooks.example.com/delete/{cell}"), "events": ["key.*"]}),
                    StatusCode::CREATED,
                )
                .await;
            let webhook_id = created["webhook"]["id"].clone();
            return (
                json!({"webhook_id": webhook_id}),
                Effect::WebhookDeleted(webhook_id),
            );
        }
        "service-accounts/update" => {
            json!({"service_account_id": world.service_account_id, "description": cell})
        }
        "service-accounts/delete" => {
            let created = world
                .fixture_admin
                .call_ok(
                    "service-accounts/create",
                    json!({"name": format!("to delete {cell}"), "role": "read_only"}),
                    StatusCode::CREATED,
                )
                .await;
            let service_account_id = created["service_account"]["id"].clone();
            return (
                json!({"service_account_id": service_account_id}),
                Effect::ServiceAccountDeleted(service_account_id),
            );
        }
        "account-keys/adopt" => {
            let secret = format!("legacy-{cell}-0123456789abcdef");
            import_legacy_secrets(
                &app.state.pool,
                &app.state.key_hasher,
                &AccountId::parse("account_id", &world.account_id).unwrap(),
                secret.as_bytes(),
            )
            .await
            .unwrap();
            let (key_id,): (String,) =
                sqlx::query_as("SELECT id FROM api_keys WHERE secret_hash = $1")
                    .bind(app.state.key_hasher.hash_text(&secret))
                    .fetch_one(&app.state.pool)
                    .await
                    .unwrap();
            let key_id = Value::String(key_id);
            return (
                json!({"key_id": key_id, "service_account_id": world.service_account_id}),
                Effect::KeyAdopted(key_id),
            );
        }
        "keys/revoke" => {
            let (key, _) = world
                .fixture_read_write
                .create_key(json!({"name": "to revoke"}))
                .await;
            return (
                json!({"key_id": key["id"]}),
                Effect::KeyRevoked(key["id"].clone()),
            );
        }
        "checks/get" => json!({"check_id": world.check_id}),
        "audit/find-key" => json!({"secret": well_formed_unknown_key()}),
        "keys/verify" => json!({"secret": well_formed_unknown_key(), "permission": "checks:read"}),
        "permissions/define" => json!({
            "name": format!("{}:read", own_resource(cell)),
            "least_role": "read_only",
            "description": "Read orders"
        }),
        "permissions/undefine" => {
            let name = format!("{}:write", own_resource(cell));
            world
                .fixture_admin
                .call_ok(
                    "permissions/define",
                    json!({"name": name, "least_role": "read_write"}),
                    StatusCode::CREATED,
                )
                .await;
            json!({"name": name})
        }
        "account/set-policy" => json!({"require_expiry": false, "max_key_lifetime_days": null}),
        "account/scim-token" => json!({"default_role": "read_only"}),
        "account/revoke-scim-token" => {
            world
                .fixture_admin
                .call_ok("account/scim-token", json!({}), StatusCode::CREATED)
                .await;
            json!({})
        }
        "keys/get" => {
            let (key, _) = world
                .fixture_read_write
                .create_key(json!({"name": "to read"}))
                .await;
            json!({"key_id": key["id"]})
        }
        "keys/update" => {
            let (key, _) = world
                .fixture_read_write
                .create_key(json!({"name": "to rename"}))
                .await;
            json!({"key_id": key["id"], "name": "renamed"})
        }
        "keys/rotate" => {
            let (key, _) = world
                .fixture_read_write
                .create_key(json!({"name": "to rotate"}))
                .await;
            json!({"key_id": key["id"], "grace_seconds": 0})
        }
        "keys/report-leak" => json!({"secrets": [well_formed_unknown_key(), "not a key"]}),
        "checks/create" => {
            json!({"name": "n", "kind": "browser", "url": "https://n.example", "frequency_minutes": 10, "activated": false})
        }
        "checks/update" => json!({"check_id": world.check_id, "name": "renamed"}),
        "checks/delete" => {
            let check = world
                .fixture_admin
                .call_ok(
                    "checks/create",
                    json!({"name": "d", "kind": "api", "url": "https://d.example", "frequency_minutes": 5, "activated": true}),
                    StatusCode::CREATED,
                )
                .await;
            let check_id = check["check"]["id"].clone();
            return (
                json!({"check_id": check_id}),
                Effect::CheckDeleted(check_id),
            );
        }
        _ => json!({}),
    };
    (body, Effect::None)
}

#[tokio::test]
async fn every_operation_for_every_caller() {
    on_each_engine(|app| async move {
        let registered: BTreeSet<String> = server_fn::axum::server_fn_paths()
            .map(|(path, _)| path.trim_start_matches("/api/v1/").to_string())
            .collect();
        let covered: BTreeSet<String> = MATRIX
            .iter()
            .map(|(operation, _)| operation.to_string())
            .collect();
        assert_eq!(
            registered, covered,
            "every server function needs a row in MATRIX"
        );
        let documented: BTreeSet<String> = keyward::host::openapi::OPERATIONS
            .iter()
            .map(|operation| operation.path.trim_start_matches("/api/v1/").to_string())
            .collect();
        assert_eq!(
            registered, documented,
            "every server function needs a row in openapi::OPERATIONS"
        );

        let mut mismatches = Vec::new();
        let mut cells = 0;
        for (row, (operation, expected)) in MATRIX.iter().enumerate() {
            // A world per operation, so that one row's calls (sign-out, removal) cannot leak
            // into another's.
            let world = build_world(&app, &format!("op{row}")).await;
            for (column, caller) in world.callers.iter().enumerate() {
                let (body, effect) =
                    body_for(&app, &world, operation, &format!("op{row}.c{column}")).await;
                let raw = caller.call(operation, body).await;
                let status = raw.status();
                if caller.bearer.is_some() {
                    assert!(
                        raw.headers().get("set-cookie").is_none(),
                        "{operation} as {}: a key was answered with a cookie",
                        CALLERS[column]
                    );
                }
                let response: Value = raw.json().await.unwrap();
                cells += 1;
                if !matches!(effect, Effect::None) {
                    let happened = effect.happened(&world).await;
                    assert_eq!(
                        happened,
                        status.is_success(),
                        "{operation} as {}: answered {status} but the effect {} there",
                        CALLERS[column],
                        if happened { "is" } else { "is not" }
                    );
                }
                if status.as_u16() != expected[column] {
                    mismatches.push(format!(
                        "{operation} as {}: expected {}, got {status} {response}",
                        CALLERS[column], expected[column]
                    ));
                } else if status.as_u16() >= 400 {
                    assert!(
                        response["error"]["code"].is_string(),
                        "{operation}: {response}"
                    );
                }
            }
        }
        assert_no_mismatches(&mismatches, cells);
        eprintln!(
            "authorization matrix on {:?}: {} operations × {} callers = {cells} cells",
            app.engine,
            MATRIX.len(),
            CALLERS.len()
        );
    })
    .await;
}

/// The matrix's Admin column again, for a browser session whose proof of its person is older
/// than `KEYWARD_STEP_UP_SECONDS`: an operation in `openapi::NEEDS_RECENT_PROOF` answers 403
/// `step_up_required` and has no effect; every other operation answers as in `MATRIX`. So a
/// sensitive operation that forgets its check, or one that asks without being in the table,
/// fails here.
#[tokio::test]
async fn every_operation_for_a_session_whose_proof_is_stale() {
    // Long enough for one world to be built with fresh proofs, on a loaded CI machine too.
    const WINDOW: std::time::Duration = std::time::Duration::from_secs(8);
    // Conditional rows whose matrix bodies change nothing sensitive (a new name or
    // description); tests/integration/step_up.rs sends the changes that do need a proof.
    const BODIES_WITHOUT_SENSITIVE_CHANGES: [&str; 3] =
        ["keys/update", "service-accounts/update", "webhooks/update"];
    const ADMIN: usize = 3;
    assert_eq!(CALLERS[ADMIN], "admin");
    on_each_engine_with(
        |config| config.step_up = WINDOW,
        |app| async move {
            let mut cells = Vec::new();
            for (row, (operation, expected)) in MATRIX.iter().enumerate() {
                let world = build_world(&app, &format!("stale{row}")).await;
                let (body, effect) =
                    body_for(&app, &world, operation, &format!("stale{row}.admin")).await;
                cells.push((operation, expected[ADMIN], world, body, effect));
            }
            tokio::time::sleep(WINDOW).await;

            let mut mismatches = Vec::new();
            for (operation, matrix_status, world, body, effect) in &cells {
                let path = format!("/api/v1/{operation}");
                let needs_proof = keyward::host::openapi::recent_proof_needed(&path).is_some()
                    && !BODIES_WITHOUT_SENSITIVE_CHANGES.contains(operation);
                let (status, response) = world.callers[ADMIN]
                    .call_json(operation, body.clone())
                    .await;
                let code = response["error"]["code"].as_str().unwrap_or("");
                let answered = format!("{status} {response}");
                if needs_proof {
                    if status != StatusCode::FORBIDDEN || code != "step_up_required" {
                        mismatches.push(format!(
                            "{operation}: expected 403 step_up_required, got {answered}"
                        ));
                    }
                    if !matches!(effect, Effect::None) && effect.happened(world).await {
                        mismatches.push(format!("{operation}: refused, yet it happened"));
                    }
                } else if status.as_u16() != *matrix_status || code == "step_up_required" {
                    mismatches.push(format!(
                        "{operation}: expected {matrix_status} as in MATRIX, got {answered}"
                    ));
                }
            }
            assert_no_mismatches(&mismatches, cells.len());
        },
    )
    .await;
}

/// Fails with every cell that differs from what was expected, not only the first.
fn assert_no_mismatches(mismatches: &[String], cells: usize) {
    assert!(
        mismatches.is_empty(),
        "{} of {cells} cells differ:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// The body of one cell of the permission matrix, made for a key of `world.fixture_admin`
/// holding one permission: key operations work on that person's own keys (another person's
/// need `account-keys:*`, which the main matrix covers), a rotation rotates the calling key
/// itself (the only one a key may rotate) with an hour's grace.
async fn permission_body(
    app: &TestApp,
    world: &World,
    operation: &str,
    cell: &str,
    calling_key: &Value,
) -> (Value, Effect) {
    let admin = &world.fixture_admin;
    match operation {
        "keys/get" => (json!({"key_id": calling_key["id"]}), Effect::None),
        "keys/rotate" => (
            json!({"key_id": calling_key["id"], "grace_seconds": 3600}),
            Effect::None,
        ),
        "keys/update" => {
            let (key, _) = admin.create_key(json!({"name": "to rename"})).await;
            (
                json!({"key_id": key["id"], "name": "renamed"}),
                Effect::None,
            )
        }
        "keys/revoke" => {
            let (key, _) = admin.create_key(json!({"name": "to revoke"})).await;
            (
                json!({"key_id": key["id"]}),
                Effect::KeyRevoked(key["id"].clone()),
            )
        }
        _ => body_for(app, world, operation, cell).await,
    }
}

/// The matrix again, with a caller per permission: an Admin's key granted only that one. Each
/// operation succeeds (with its effect) for the key holding its permission — for
/// `account:read`, which every key holds, for all of them — and answers 403 naming that
/// permission to every other; the browser's `login:write` is refused to every key. The
/// permission of each operation is read from `openapi::OPERATIONS`, so an operation without one
/// cannot be left out.
#[tokio::test]
async fn every_operation_for_a_key_per_permission() {
    use keyward::domain::Permission;
    use keyward::host::openapi::{Callers, OPERATIONS};
    on_each_engine(|app| async move {
        let holders: Vec<Permission> = Permission::ALL
            .into_iter()
            .filter(|permission| !permission.browser_only())
            .collect();
        let mut mismatches = Vec::new();
        let mut cells = 0;
        for (row, operation) in OPERATIONS.iter().enumerate() {
            let Callers::Holding(needed) = operation.callers else {
                continue;
            };
            let name = operation.path.trim_start_matches("/api/v1/");
            let world = build_world(&app, &format!("perm{row}")).await;
            for holder in &holders {
                let (calling_key, secret) = world
                    .fixture_admin
                    .create_key(json!({"name": holder.name(), "permissions": [holder.name()]}))
                    .await;
                assert_eq!(calling_key["permissions"], json!([holder.name()]));
                let caller = app.with_key(&secret);
                let (body, effect) = permission_body(
                    &app,
                    &world,
                    name,
                    &format!("perm{row}.{}", holder.name().replace(':', "_")),
                    &calling_key,
                )
                .await;
                let (status, response) = caller.call_json(name, body).await;
                cells += 1;
                let allowed = !needed.browser_only()
                    && (needed == *holder || needed.always_granted());
                if !matches!(effect, Effect::None) {
                    assert_eq!(
                        effect.happened(&world).await,
                        status.is_success(),
                        "{name} with {holder}: answered {status} {response}"
                    );
                }
                let as_expected = if allowed {
                    status.as_u16() == operation.success
                } else {
                    status == StatusCode::FORBIDDEN
                        && response["error"]["missing_permission"] == needed.name()
                };
                if !as_expected {
                    mismatches.push(format!(
                        "{name} (needs {needed}) with a key holding {holder}: got {status} {response}"
                    ));
                }
            }
        }
        assert_no_mismatches(&mismatches, cells);
        eprintln!(
            "permission matrix on {:?}: {cells} cells, {} permissions",
            app.engine,
            holders.len()
        );
    })
    .await;
}
