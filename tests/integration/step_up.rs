//! Step-up beyond the matrix: the conditional operations of `openapi::NEEDS_RECENT_PROOF` ask
//! for a proof only for the changes that can loosen something, the export asks too, keys never
//! do, and one `auth/step-up` lets each through again. (The matrix's stale-proof test covers
//! every operation with its plain body.)

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

const WINDOW: Duration = Duration::from_millis(1500);

fn assert_step_up_required(what: &str, (status, body): (StatusCode, Value)) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
    assert_eq!(body["error"]["code"], "step_up_required", "{what}: {body}");
}

async fn export_status(caller: &Caller, app: &TestApp) -> (StatusCode, String) {
    let mut request = caller.client.get(app.url("/api/v1/audit/export"));
    if let Some(secret) = &caller.bearer {
        request = request.bearer_auth(secret);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_stale_session_may_rename_but_not_loosen_and_one_step_up_lets_it_through() {
    on_each_engine_with(
        |config| config.step_up = WINDOW,
        |app| async move {
            let (admin, _) = app.signup("admin@step-up.example").await;
            let (member, joined) = app
                .add_member(&admin, "member@step-up.example", "read_only")
                .await;
            let (leaver, _) = app
                .add_member(&admin, "leaver@step-up.example", "read_only")
                .await;
            let member_id = joined["user"]["id"].clone();
            let (key, admin_secret) = admin.create_key(json!({"name": "ci"})).await;
            let service_account = admin
                .call_ok(
                    "service-accounts/create",
                    json!({"name": "deployer", "role": "read_only"}),
                    StatusCode::CREATED,
                )
                .await["service_account"]["id"]
                .clone();
            let webhook = admin
                .call_ok(
                    "webhooks/create",
                    json!({"url": "https://hooks.example.com/a", "events": ["key.*"]}),
                    StatusCode::CREATED,
                )
                .await["webhook"]["id"]
                .clone();
            tokio::time::sleep(WINDOW + Duration::from_millis(200)).await;

            // What changes nothing a credential may do still goes through.
            admin
                .call_ok(
                    "keys/update",
                    json!({"key_id": key["id"], "name": "ci renamed"}),
                    StatusCode::OK,
                )
                .await;
            admin
                .call_ok(
                    "service-accounts/update",
                    json!({"service_account_id": service_account, "description": "ships"}),
                    StatusCode::OK,
                )
                .await;
            admin
                .call_ok(
                    "webhooks/update",
                    json!({"webhook_id": webhook, "description": "audit sink"}),
                    StatusCode::OK,
                )
                .await;
            // Leaving only takes one's own access away.
            let leaver_me = leaver.call_ok("auth/me", json!({}), StatusCode::OK).await;
            leaver
                .call_ok(
                    "members/remove",
                    json!({"user_id": leaver_me["user"]["id"]}),
                    StatusCode::OK,
                )
                .await;

            // What loosens needs a new proof.
            let loosening = [
                (
                    "keys/update",
                    json!({"key_id": key["id"], "rate_limit_per_minute": null}),
                ),
                (
                    "keys/update",
                    json!({"key_id": key["id"], "allowed_cidrs": []}),
                ),
                (
                    "keys/update",
                    json!({"key_id": key["id"], "permissions": null}),
                ),
                (
                    "service-accounts/update",
                    json!({"service_account_id": service_account, "role": "admin"}),
                ),
                (
                    "webhooks/update",
                    json!({"webhook_id": webhook, "url": "https://elsewhere.example.com/b"}),
                ),
                ("members/remove", json!({"user_id": member_id})),
            ];
            for (operation, body) in &loosening {
                assert_step_up_required(operation, admin.call_json(operation, body.clone()).await);
            }
            let (status, body) = export_status(&admin, &app).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
            assert!(body.contains("step_up_required"), "{body}");
            // Nothing of it happened.
            let members = admin
                .call_ok("members/list", json!({}), StatusCode::OK)
                .await;
            assert!(members["members"]
                .as_array()
                .unwrap()
                .iter()
                .any(|listed| listed["user"]["id"] == member_id));
            let listed = admin
                .call_ok("service-accounts/list", json!({}), StatusCode::OK)
                .await;
            assert_eq!(listed["service_accounts"][0]["role"], "read_only");

            // A key never steps up: it is already the narrower credential.
            let by_key = app.with_key(&admin_secret);
            by_key.create_key(json!({"name": "made by a key"})).await;
            let (status, body) = export_status(&by_key, &app).await;
            assert_eq!(status, StatusCode::OK, "{body}");

            // A member's stale session meets the same rule as the Admin's.
            assert_step_up_required(
                "a member's keys/create",
                member.call_json("keys/create", json!({"name": "x"})).await,
            );

            // One proof, and every loosening change goes through.
            admin
                .call_ok(
                    "auth/step-up",
                    json!({"password": PASSWORD}),
                    StatusCode::OK,
                )
                .await;
            for (operation, body) in loosening {
                let (status, answer) = admin.call_json(operation, body).await;
                assert!(status.is_success(), "{operation}: {status} {answer}");
            }
            let (status, body) = export_status(&admin, &app).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        },
    )
    .await;
}
