//! Lists at scale: keyset pages, searches and filters on the key, check and member lists.

use crate::support::*;
use keyward::domain::time::now_millis;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashSet;

/// Stores `count` keys for the caller straight in the table (creating them one by one through
/// the API would take minutes), three to a millisecond so pages must break ties by id.
/// Returns their ids.
async fn store_many_keys(app: &TestApp, me: &Value, count: usize) -> HashSet<String> {
    let account_id = me["account"]["id"].as_str().unwrap();
    let user_id = me["user"]["id"].as_str().unwrap();
    let membership_id: String =
        sqlx::query_scalar("SELECT id FROM memberships WHERE account_id = $1 AND user_id = $2")
            .bind(account_id)
            .bind(user_id)
            .fetch_one(&app.state.pool)
            .await
            .unwrap();
    let start = now_millis().as_i64() - 86_400_000;
    let mut ids = HashSet::new();
    let mut transaction = app.state.pool.begin().await.unwrap();
    for chunk in (0..count).collect::<Vec<_>>().chunks(500) {
        let rows: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(position, n)| {
                let p = position * 6;
                let created_at = start + (*n as i64) / 3;
                format!(
                    "(${}, ${}, ${}, ${}, 'user', ${}, ${}, 'kw_bulk…0000', {created_at})",
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5,
                    p + 6
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO api_keys (id, account_id, user_id, membership_id, kind, name, secret_hash, hint, created_at) VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for n in chunk {
            let id = format!("key_bulk{n:06}");
            ids.insert(id.clone());
            query = query
                .bind(id)
                .bind(account_id)
                .bind(user_id)
                .bind(membership_id.clone())
                .bind(format!("bulk key {n}"))
                .bind(format!("bulk-hash-{n}"));
        }
        query.execute(&mut *transaction).await.unwrap();
    }
    transaction.commit().await.unwrap();
    ids
}

/// Walks a list to its end from `body` (and its cursor, if it has one), checking the order; returns every
/// id seen, in order.
async fn walk(caller: &Caller, operation: &str, body: Value, items: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor = body.get("cursor").cloned().unwrap_or(Value::Null);
    loop {
        let mut page_body = body.clone();
        page_body["cursor"] = cursor;
        let page = caller.call_ok(operation, page_body, StatusCode::OK).await;
        let rows = page[items].as_array().unwrap();
        for row in rows {
            let id = row["id"]
                .as_str()
                .or_else(|| row["user"]["id"].as_str())
                .unwrap();
            seen.push(id.to_string());
        }
        cursor = page["next_cursor"].clone();
        if cursor.is_null() {
            return seen;
        }
        assert!(!rows.is_empty(), "{operation}: an empty page with a cursor");
    }
}

#[tokio::test]
async fn ten_thousand_keys_are_walked_page_by_page_each_once() {
    // Past the default ceiling of 10,000 active keys an account may hold.
    on_each_engine_with(
        |config| config.ceilings.keys_per_account = 20_000,
        |app| async move {
            let (admin, _) = app.signup("many@example.com").await;
            let me = admin.call_ok("auth/me", json!({}), StatusCode::OK).await;
            let stored = store_many_keys(&app, &me, 10_000).await;

            let first = admin.call_ok("keys/list", json!({}), StatusCode::OK).await;
            assert_eq!(
                first["keys"].as_array().unwrap().len(),
                50,
                "the default page"
            );
            assert!(first["next_cursor"].is_string());

            for (operation, limit) in [("keys/list", 200), ("account-keys/list", 137)] {
                let seen = walk(&admin, operation, json!({"limit": limit}), "keys").await;
                assert_eq!(seen.len(), 10_000, "{operation}: every key once");
                let unique: HashSet<String> = seen.iter().cloned().collect();
                assert_eq!(unique, stored, "{operation}: no key twice, none missed");
                // Newest first; within a millisecond, by id downwards.
                let mut expected = seen.clone();
                expected.sort_by_key(|id| {
                    let n: usize = id["key_bulk".len()..].parse().unwrap();
                    std::cmp::Reverse((n / 3, n))
                });
                assert_eq!(seen, expected, "{operation}: newest first");
            }

            // A key created while someone pages appears on the first page, and the walk already
            // under way neither repeats nor misses a key.
            let page = admin
                .call_ok("keys/list", json!({"limit": 100}), StatusCode::OK)
                .await;
            admin.create_key(json!({"name": "made meanwhile"})).await;
            let rest = walk(
                &admin,
                "keys/list",
                json!({"limit": 200, "cursor": page["next_cursor"]}),
                "keys",
            )
            .await;
            assert_eq!(rest.len(), 9_900);
        },
    )
    .await;
}

#[tokio::test]
async fn key_lists_are_searched_and_filtered() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("filters@example.com").await;
        let (deploy, _) = admin.create_key(json!({"name": "CI deploy"})).await;
        let (backup, backup_secret) = admin.create_key(json!({"name": "Nightly backup"})).await;
        let (revoked, _) = admin.create_key(json!({"name": "old deploy"})).await;
        let (_, _) = admin.create_key(json!({"name": "100% coverage"})).await;
        admin
            .call_ok("keys/revoke", json!({"key_id": revoked["id"]}), StatusCode::OK)
            .await;
        let in_three_days = keyward::domain::time::rfc3339(
            now_millis().after(std::time::Duration::from_secs(3 * 86_400)),
        );
        let (expiring, _) = admin
            .create_key(json!({"name": "expiring", "expires_at": in_three_days}))
            .await;
        let (expired, _) = admin.create_key(json!({"name": "expired"})).await;
        sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE id = $2")
            .bind(now_millis().as_i64() - 1_000)
            .bind(expired["id"].as_str().unwrap())
            .execute(&app.state.pool)
            .await
            .unwrap();
        let (member, member_body) = app.add_member(&admin, "other@example.com", "read_write").await;
        let (theirs, _) = member.create_key(json!({"name": "their deploy"})).await;

        let names = |list: &Value| -> Vec<String> {
            list["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|key| key["name"].as_str().unwrap().to_string())
                .collect()
        };
        let list = |caller: &Caller, operation: &'static str, body: Value| {
            let caller = caller.clone();
            async move { caller.call_ok(operation, body, StatusCode::OK).await }
        };
        // Search: name in any case, or the hint; `%` is a character, not a wildcard.
        let found = list(&admin, "keys/list", json!({"search": "DEPLOY"})).await;
        assert_eq!(names(&found), ["old deploy", "CI deploy"]);
        let hint_tail = &backup_secret[backup_secret.len() - 4..];
        let found = list(&admin, "keys/list", json!({"search": hint_tail})).await;
        assert!(
            found["keys"].as_array().unwrap().iter().any(|key| key["id"] == backup["id"]),
            "{found}"
        );
        let found = list(&admin, "keys/list", json!({"search": "%"})).await;
        assert_eq!(names(&found), ["100% coverage"]);
        // Status.
        for (status, expected) in [
            ("revoked", vec!["old deploy"]),
            ("expired", vec!["expired"]),
            ("expiring", vec!["expiring"]),
        ] {
            let found = list(&admin, "keys/list", json!({"status": status})).await;
            assert_eq!(names(&found), expected, "{status}");
        }
        let active = list(&admin, "keys/list", json!({"status": "active"})).await;
        assert_eq!(
            names(&active),
            ["expiring", "100% coverage", "Nightly backup", "CI deploy"]
        );
        assert_eq!(active["keys"][3]["id"], deploy["id"]);
        assert_eq!(active["keys"][0]["id"], expiring["id"]);
        // keys/list is one's own; account-keys/list filters by owner.
        let all = list(&admin, "account-keys/list", json!({"search": "deploy"})).await;
        assert_eq!(names(&all), ["their deploy", "old deploy", "CI deploy"]);
        let member_id = member_body["user"]["id"].clone();
        let theirs_only = list(
            &admin,
            "account-keys/list",
            json!({"owner_user_id": member_id, "status": "active"}),
        )
        .await;
        assert_eq!(names(&theirs_only), ["their deploy"]);
        assert_eq!(theirs_only["keys"][0]["id"], theirs["id"]);
        let mine = list(&member, "keys/list", json!({})).await;
        assert_eq!(names(&mine), ["their deploy"]);

        // Bad input names its field.
        for (body, field) in [
            (json!({"status": "gone"}), "status"),
            (json!({"cursor": "not-a-cursor"}), "cursor"),
            (json!({"limit": 0}), "limit"),
            (json!({"limit": 201}), "limit"),
            (json!({"search": "x".repeat(101)}), "search"),
        ] {
            let (status, error) = admin.call_json("keys/list", body.clone()).await;
            assert_invalid_field(status, &error, field);
        }
        let (status, error) = admin
            .call_json("account-keys/list", json!({"owner_user_id": "no such id!"}))
            .await;
        assert_invalid_field(status, &error, "owner_user_id");
        // A cursor of one list is not one of another.
        let checks_cursor = {
            for n in 0..3 {
                admin
                    .call_ok(
                        "checks/create",
                        json!({"name": format!("c{n}"), "kind": "api", "url": "https://example.com", "frequency_minutes": 5, "activated": true}),
                        StatusCode::CREATED,
                    )
                    .await;
            }
            list(&admin, "checks/list", json!({"limit": 1})).await["next_cursor"].clone()
        };
        let (status, error) = admin
            .call_json("keys/list", json!({"cursor": checks_cursor}))
            .await;
        assert_invalid_field(status, &error, "cursor");
    })
    .await;
}

#[tokio::test]
async fn checks_and_members_are_paged_and_checks_searched() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("paged@example.com").await;
        for n in 0..120 {
            let url = if n % 10 == 0 {
                "https://status.example.org/health".to_string()
            } else {
                format!("https://api{n}.example.com")
            };
            admin
                .call_ok(
                    "checks/create",
                    json!({"name": format!("Check {n:03}"), "kind": "api", "url": url, "frequency_minutes": 5, "activated": true}),
                    StatusCode::CREATED,
                )
                .await;
        }
        let first = admin.call_ok("checks/list", json!({}), StatusCode::OK).await;
        assert_eq!(first["checks"].as_array().unwrap().len(), 50);
        assert_eq!(first["checks"][0]["name"], "Check 000");
        let seen = walk(&admin, "checks/list", json!({"limit": 7}), "checks").await;
        assert_eq!(seen.len(), 120);
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 120);
        // Deleting the check a cursor points at does not end the walk.
        let page = admin
            .call_ok("checks/list", json!({"limit": 10}), StatusCode::OK)
            .await;
        admin
            .call_ok("checks/delete", json!({"check_id": page["checks"][9]["id"]}), StatusCode::OK)
            .await;
        let rest = walk(
            &admin,
            "checks/list",
            json!({"limit": 50, "cursor": page["next_cursor"]}),
            "checks",
        )
        .await;
        assert_eq!(rest.len(), 110);
        // Search: name or URL, any case.
        let by_url = admin
            .call_ok("checks/list", json!({"search": "STATUS.example"}), StatusCode::OK)
            .await;
        assert_eq!(by_url["checks"].as_array().unwrap().len(), 12);
        let by_name = admin
            .call_ok("checks/list", json!({"search": "check 11"}), StatusCode::OK)
            .await;
        assert_eq!(by_name["checks"].as_array().unwrap().len(), 10);
        let (status, error) = admin
            .call_json("checks/list", json!({"cursor": "e30"}))
            .await;
        assert_invalid_field(status, &error, "cursor");

        for n in 0..4 {
            app.add_member(&admin, &format!("m{n}@example.com"), "read_only")
                .await;
        }
        let members = walk(&admin, "members/list", json!({"limit": 2}), "members").await;
        assert_eq!(members.len(), 5);
        assert_eq!(members.iter().collect::<HashSet<_>>().len(), 5);
        let first = admin
            .call_ok("members/list", json!({"limit": 1}), StatusCode::OK)
            .await;
        assert_eq!(first["members"][0]["user"]["email"], "paged@example.com");
    })
    .await;
}

#[tokio::test]
async fn one_key_is_read_by_its_owner_or_an_admin() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("getkey@example.com").await;
        let (member, _) = app
            .add_member(&admin, "getkey2@example.com", "read_write")
            .await;
        let (theirs, secret) = member.create_key(json!({"name": "theirs"})).await;
        let (mine, _) = admin.create_key(json!({"name": "mine"})).await;
        // The key itself, its owner's session and an Admin see it; the same fields as a list.
        for caller in [&member, &app.with_key(&secret), &admin] {
            let found = caller
                .call_ok("keys/get", json!({"key_id": theirs["id"]}), StatusCode::OK)
                .await;
            assert_eq!(found["key"]["id"], theirs["id"]);
            assert_eq!(found["key"]["usage_7d"].as_array().unwrap().len(), 7);
        }
        let (status, body) = member
            .call_json("keys/get", json!({"key_id": mine["id"]}))
            .await;
        assert_error(status, &body, 403, "forbidden");
        let (status, body) = admin
            .call_json("keys/get", json!({"key_id": "key_nosuchkey"}))
            .await;
        assert_error(status, &body, 404, "not_found");
        let (status, body) = admin.call_json("keys/get", json!({"key_id": "x y"})).await;
        assert_invalid_field(status, &body, "key_id");
    })
    .await;
}
