//! Checks: the resource the roles protect.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn new_check() -> Value {
    json!({"name": "Homepage", "kind": "api", "url": "https://example.com/health", "frequency_minutes": 5, "activated": true})
}

#[tokio::test]
async fn read_write_members_manage_checks_and_read_only_members_only_read() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("owner@example.com").await;
        let (writer, _) = app
            .add_member(&admin, "writer@example.com", "read_write")
            .await;
        let (reader, _) = app
            .add_member(&admin, "reader@example.com", "read_only")
            .await;

        let created = writer
            .call_ok("checks/create", new_check(), StatusCode::CREATED)
            .await;
        let check = &created["check"];
        assert_eq!(check["name"], "Homepage");
        assert_eq!(check["frequency_minutes"], 5);
        assert_eq!(check["activated"], true);
        let id = check["id"].as_str().unwrap();

        let fetched = reader
            .call_ok("checks/get", json!({"check_id": id}), StatusCode::OK)
            .await;
        assert_eq!(&fetched["check"], check);
        let (status, error) = reader.call_json("checks/create", new_check()).await;
        assert_error(status, &error, 403, "forbidden");
        let (status, error) = reader
            .call_json("checks/update", json!({"check_id": id, "name": "Mine now"}))
            .await;
        assert_error(status, &error, 403, "forbidden");
        let (status, error) = reader
            .call_json("checks/delete", json!({"check_id": id}))
            .await;
        assert_error(status, &error, 403, "forbidden");

        let updated = writer
            .call_ok(
                "checks/update",
                json!({"check_id": id, "activated": false, "frequency_minutes": 60}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(updated["check"]["activated"], false);
        assert_eq!(updated["check"]["frequency_minutes"], 60);
        assert_eq!(
            updated["check"]["name"], "Homepage",
            "fields left out keep their value"
        );

        let listed = reader
            .call_ok("checks/list", json!({}), StatusCode::OK)
            .await;
        assert_eq!(listed["checks"].as_array().unwrap().len(), 1);
        admin
            .call_ok("checks/delete", json!({"check_id": id}), StatusCode::OK)
            .await;
        let (status, error) = admin.call_json("checks/get", json!({"check_id": id})).await;
        assert_error(status, &error, 404, "not_found");
    })
    .await;
}

#[tokio::test]
async fn checks_of_another_account_look_like_they_do_not_exist() {
    on_each_engine(|app| async move {
        let (owner, _) = app.signup("victim@example.com").await;
        let (intruder, _) = app.signup("intruder@example.com").await;
        let created = owner
            .call_ok("checks/create", new_check(), StatusCode::CREATED)
            .await;
        let id = created["check"]["id"].as_str().unwrap();
        for (operation, body) in [
            ("checks/get", json!({"check_id": id})),
            ("checks/update", json!({"check_id": id, "name": "pwned"})),
            ("checks/delete", json!({"check_id": id})),
            ("checks/get", json!({"check_id": "chk_doesnotexist"})),
        ] {
            let (status, error) = intruder.call_json(operation, body).await;
            assert_error(status, &error, 404, "not_found");
        }
        let still = owner
            .call_ok("checks/get", json!({"check_id": id}), StatusCode::OK)
            .await;
        assert_eq!(still["check"]["name"], "Homepage");
        let theirs = intruder
            .call_ok("checks/list", json!({}), StatusCode::OK)
            .await;
        assert_eq!(theirs["checks"], json!([]));
    })
    .await;
}

#[tokio::test]
async fn bad_check_input_names_the_field() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("validator@example.com").await;
        let with = |field: &str, value: Value| {
            let mut body = new_check();
            body[field] = value;
            body
        };
        for (body, field) in [
            (with("name", json!("")), "name"),
            (with("name", json!("n".repeat(101))), "name"),
            (with("kind", json!("ping")), "kind"),
            (with("url", json!("ftp://example.com")), "url"),
            (
                with(
                    "url",
                    json!(format!("https://example.com/{}", "a".repeat(2048))),
                ),
                "url",
            ),
            (with("frequency_minutes", json!(0)), "frequency_minutes"),
            (with("frequency_minutes", json!(1441)), "frequency_minutes"),
            (
                with("frequency_minutes", json!("often")),
                "frequency_minutes",
            ),
            (with("activated", json!("yes")), "activated"),
            (with("owner", json!("me")), "owner"),
            (json!({"name": "x"}), "kind"),
        ] {
            let (status, error) = admin.call_json("checks/create", body.clone()).await;
            assert_invalid_field(status, &error, field);
        }
        let (status, error) = admin
            .call_json("checks/get", json!({"check_id": "' OR 1=1 --"}))
            .await;
        assert_error(status, &error, 400, "invalid_input");
    })
    .await;
}
