//! Containment, second round: each test is one attack that used to get further than it should
//! (a stolen key, a guesser, a flooder, someone with write access to the database), written as
//! the attack, and the answer it now gets.

use crate::support::*;
use keyward::domain::time::now_millis;
use keyward::server::audit;
use keyward::server::audit::checkpoints;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn in_days(days: u64) -> String {
    now_millis()
        .after(Duration::from_secs(days * 86_400))
        .rfc3339()
}

async fn status_of(caller: &Caller) -> u16 {
    caller.call("auth/me", json!({})).await.status().as_u16()
}

/// A stolen Read & write key rotates itself with the longest grace, hoping the successor
/// survives when the owner revokes the key they know about. The successor is bound to it.
#[tokio::test]
async fn a_key_that_rotates_itself_is_revoked_with_its_successor() {
    on_each_engine(|app| async move {
        let (owner, _) = app.signup("rotated-owner@example.com").await;
        let expiry = in_days(30);
        let (stolen, stolen_secret) = owner
            .create_key(json!({"name": "CI", "expires_at": expiry}))
            .await;
        let thief = app.with_key(&stolen_secret);
        let rotated = thief
            .call_ok(
                "keys/rotate",
                json!({"key_id": stolen["id"], "grace_seconds": 604_800}),
                StatusCode::CREATED,
            )
            .await;
        let successor_secret = rotated["secret"].as_str().unwrap().to_string();
        // No renewal through self-rotation: never later than the old key's expiry.
        assert_eq!(rotated["key"]["expires_at"], stolen["expires_at"]);
        assert_eq!(status_of(&app.with_key(&successor_secret)).await, 200);

        owner
            .call_ok(
                "keys/revoke",
                json!({"key_id": stolen["id"]}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(status_of(&app.with_key(&stolen_secret)).await, 401);
        assert_eq!(
            status_of(&app.with_key(&successor_secret)).await,
            401,
            "the successor is revoked with the key that rotated itself"
        );
        let successor = owner
            .call_ok(
                "keys/get",
                json!({"key_id": rotated["key"]["id"]}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(successor["key"]["status"], "revoked");

        // Rotated by its owner in the app, a key's successor is a replacement, not bound.
        let (kept, _) = owner.create_key(json!({"name": "deploy"})).await;
        let replaced = owner
            .call_ok(
                "keys/rotate",
                json!({"key_id": kept["id"], "grace_seconds": 60}),
                StatusCode::CREATED,
            )
            .await;
        owner
            .call_ok("keys/revoke", json!({"key_id": kept["id"]}), StatusCode::OK)
            .await;
        let replacement = replaced["secret"].as_str().unwrap();
        assert_eq!(status_of(&app.with_key(replacement)).await, 200);
    })
    .await;
}

/// The thief holds both secrets of a rotation through itself during its grace: they share the
/// old key's budget, and narrowing the old key narrows the successor.
#[tokio::test]
async fn a_self_rotated_successor_shares_the_old_keys_budget_and_networks() {
    on_each_engine(|app| async move {
        let (owner, _) = app.signup("rotated-budget@example.com").await;
        let (key, secret) = owner
            .create_key(json!({"name": "limited", "rate_limit_per_minute": 10}))
            .await;
        let rotated = app
            .with_key(&secret)
            .call_ok(
                "keys/rotate",
                json!({"key_id": key["id"], "grace_seconds": 3600}),
                StatusCode::CREATED,
            )
            .await;
        let successor = rotated["secret"].as_str().unwrap().to_string();
        // The rotation took one of the 10; the two secrets share the other 9.
        let mut answered = 0;
        for _ in 0..10 {
            for either in [&secret, &successor] {
                if status_of(&app.with_key(either)).await == 200 {
                    answered += 1;
                }
            }
        }
        assert!(answered <= 9, "the pair answered {answered} requests");

        let (other, other_secret) = owner.create_key(json!({"name": "narrowed"})).await;
        let rotated = app
            .with_key(&other_secret)
            .call_ok(
                "keys/rotate",
                json!({"key_id": other["id"], "grace_seconds": 3600}),
                StatusCode::CREATED,
            )
            .await;
        let successor = rotated["secret"].as_str().unwrap().to_string();
        assert_eq!(status_of(&app.with_key(&successor)).await, 200);
        owner
            .call_ok(
                "keys/update",
                json!({"key_id": other["id"], "allowed_cidrs": ["10.0.0.0/8"]}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(status_of(&app.with_key(&successor)).await, 403);
    })
    .await;
}

/// Whichever of the two secrets a scanner finds, the pair stops.
#[tokio::test]
async fn a_leak_report_of_either_secret_stops_a_self_rotated_pair() {
    on_each_engine(|app| async move {
        let (owner, _) = app.signup("pair-owner@example.com").await;
        for report_the_successor in [false, true] {
            let (key, secret) = owner.create_key(json!({"name": "pair"})).await;
            let rotated = app
                .with_key(&secret)
                .call_ok(
                    "keys/rotate",
                    json!({"key_id": key["id"], "grace_seconds": 3600}),
                    StatusCode::CREATED,
                )
                .await;
            let successor = rotated["secret"].as_str().unwrap().to_string();
            let reported = if report_the_successor {
                &successor
            } else {
                &secret
            };
            app.anonymous()
                .call_ok(
                    "keys/report-leak",
                    json!({"secrets": [reported]}),
                    StatusCode::ACCEPTED,
                )
                .await;
            for either in [&secret, &successor] {
                assert_eq!(
                    status_of(&app.with_key(either)).await,
                    401,
                    "reported the successor: {report_the_successor}"
                );
            }
        }
    })
    .await;
}

/// Forty wrong passwords at once for one email from one address: no more get a verdict than
/// five sent one after another would, and the rest wait.
#[tokio::test]
async fn parallel_password_guesses_get_no_more_tries_than_sequential_ones() {
    on_each_engine(|app| async move {
        let (person, _) = app.signup("guessed-at-once@example.com").await;
        let guesser = app.anonymous_from("127.0.0.21");
        let guesses = (0..40).map(|n| {
            let guesser = guesser.clone();
            async move {
                guesser
                    .call(
                        "auth/login",
                        json!({"email": "guessed-at-once@example.com", "password": format!("guess number {n}")}),
                    )
                    .await
                    .status()
                    .as_u16()
            }
        });
        let statuses = futures_util::future::join_all(guesses).await;
        let tried = statuses.iter().filter(|status| **status == 401).count();
        let refused = statuses.iter().filter(|status| **status == 429).count();
        assert_eq!(tried + refused, 40, "{statuses:?}");
        assert!(tried <= 5, "{tried} guesses were tried: {statuses:?}");

        // The same at auth/change-password, which proves the current password too.
        let changes = (0..40).map(|n| {
            let person = person.clone();
            async move {
                person
                    .call(
                        "auth/change-password",
                        json!({"current_password": format!("guess number {n}"), "new_password": "a brand new password"}),
                    )
                    .await
                    .status()
                    .as_u16()
            }
        });
        let statuses = futures_util::future::join_all(changes).await;
        // A wrong current password is a 400 naming `current_password`.
        let tried = statuses.iter().filter(|status| **status == 400).count();
        assert!(tried <= 5, "{tried} guesses were tried: {statuses:?}");
        assert!(statuses.iter().all(|status| [400, 429].contains(status)), "{statuses:?}");
    })
    .await;
}

/// The same forty, spread over three instances that share their budgets through Redis.
#[tokio::test]
async fn parallel_guesses_over_three_instances_meet_one_budget() {
    let Some((redis_url, prefix)) = test_redis().await else {
        return;
    };
    for engine in [Engine::Sqlite, Engine::Postgres] {
        let configure = |config: &mut keyward::server::config::Config| {
            config.redis_url = Some(redis_url.clone());
            config.redis_prefix = prefix.clone();
        };
        let Some(instances) = spawn_instances(engine, 3, configure).await else {
            postgres_did_not_answer();
            continue;
        };
        let email = format!("spread-{engine:?}@example.com");
        instances[0].signup(&email).await;
        let guesser = instances[0].anonymous_from("127.0.0.22");
        let guesses = (0..40).map(|n| {
            let caller = guesser.at(&instances[n % 3]);
            let email = email.clone();
            async move {
                caller
                    .call(
                        "auth/login",
                        json!({"email": email, "password": format!("spread guess {n}")}),
                    )
                    .await
                    .status()
                    .as_u16()
            }
        });
        let statuses = futures_util::future::join_all(guesses).await;
        let tried = statuses.iter().filter(|status| **status == 401).count();
        assert!(tried <= 5, "{engine:?}: {tried} tried: {statuses:?}");
        assert!(
            statuses.iter().all(|status| [401, 429].contains(status)),
            "{statuses:?}"
        );
    }
}

/// A key limited to 10 requests a minute makes children to multiply its budget: the line
/// shares one.
#[tokio::test]
async fn children_share_their_parents_rate_limit() {
    on_each_engine(|app| async move {
        let (owner, _) = app.signup("limited-parent@example.com").await;
        let (_, parent_secret) = owner
            .create_key(json!({"name": "limited", "rate_limit_per_minute": 10}))
            .await;
        let parent = app.with_key(&parent_secret);
        let mut children = Vec::new();
        for n in 0..3 {
            let (_, child) = parent
                .create_key(json!({"name": format!("child {n}")}))
                .await;
            children.push(child);
        }
        let (_, grandchild) = app
            .with_key(&children[0])
            .create_key(json!({"name": "grandchild"}))
            .await;
        children.push(grandchild);
        // Four requests of the parent's budget are spent on making the line.
        let mut answered = 0;
        for round in 0..10 {
            for child in &children {
                let response = app.with_key(child).call("auth/me", json!({})).await;
                match response.status().as_u16() {
                    200 => answered += 1,
                    429 => assert!(response.headers().contains_key("retry-after")),
                    other => panic!("round {round}: {other}"),
                }
            }
        }
        assert!(answered <= 6, "the line answered {answered} more requests");
        assert!(answered >= 1);
    })
    .await;
}

/// A parent narrowed after it made a child: the child is held to the new networks too.
#[tokio::test]
async fn a_child_is_held_to_networks_its_parent_was_narrowed_to_later() {
    on_each_engine(|app| async move {
        let (owner, _) = app.signup("narrowed-parent@example.com").await;
        let (parent, parent_secret) = owner.create_key(json!({"name": "parent"})).await;
        let (_, child_secret) = app
            .with_key(&parent_secret)
            .create_key(json!({"name": "child"}))
            .await;
        let (_, grandchild_secret) = app
            .with_key(&child_secret)
            .create_key(json!({"name": "grandchild"}))
            .await;
        assert_eq!(status_of(&app.with_key(&grandchild_secret)).await, 200);
        owner
            .call_ok(
                "keys/update",
                json!({"key_id": parent["id"], "allowed_cidrs": ["10.0.0.0/8"]}),
                StatusCode::OK,
            )
            .await;
        for secret in [&child_secret, &grandchild_secret] {
            let (status, body) = app.with_key(secret).call_json("auth/me", json!({})).await;
            assert_error(status, &body, 403, "forbidden");
        }
        // Widened again, the line works again.
        owner
            .call_ok(
                "keys/update",
                json!({"key_id": parent["id"], "allowed_cidrs": []}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(status_of(&app.with_key(&grandchild_secret)).await, 200);
    })
    .await;
}

/// An Admin may revoke, narrow or rename a member's key — but never receive a secret that
/// acts as the member.
#[tokio::test]
async fn an_admin_cannot_rotate_another_persons_key_into_a_secret_for_themself() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("rotating-admin@example.com").await;
        let (member, _) = app
            .add_member(&admin, "rotated-member@example.com", "read_write")
            .await;
        let (key, secret) = member.create_key(json!({"name": "theirs"})).await;
        let response = admin
            .call(
                "keys/rotate",
                json!({"key_id": key["id"], "grace_seconds": 0}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body: Value = response.json().await.unwrap();
        assert!(body.get("secret").is_none());
        assert!(body["error"]["message"].as_str().unwrap().contains("owner"));
        // Nothing changed: the key still works and was not rotated.
        assert_eq!(status_of(&app.with_key(&secret)).await, 200);
        let listed = member.call_ok("keys/list", json!({}), StatusCode::OK).await;
        assert_eq!(listed["keys"].as_array().unwrap().len(), 1);
        // What an Admin may do to it still works.
        admin
            .call_ok(
                "keys/update",
                json!({"key_id": key["id"], "name": "renamed", "allowed_cidrs": ["127.0.0.1/32"]}),
                StatusCode::OK,
            )
            .await;
        admin
            .call_ok("keys/revoke", json!({"key_id": key["id"]}), StatusCode::OK)
            .await;
    })
    .await;
}

/// On SQLite one process serves the database: a revocation answers without waiting for
/// other instances, and the very next request is refused.
#[tokio::test]
async fn a_revocation_on_sqlite_answers_at_once_and_holds_on_the_next_request() {
    let app = spawn_app_with(Engine::Sqlite, |config| {
        config.key_cache_window = Some(Duration::from_millis(500));
    })
    .await
    .unwrap();
    let (owner, _) = app.signup("instant@example.com").await;
    let (key, secret) = owner.create_key(json!({"name": "kept"})).await;
    kept_on(&app, &secret).await;
    let started = Instant::now();
    owner
        .call_ok("keys/revoke", json!({"key_id": key["id"]}), StatusCode::OK)
        .await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(300),
        "revoking took {took:?} (a wait for other instances is 550 ms)"
    );
    assert_eq!(status_of(&app.with_key(&secret)).await, 401);
}

/// Off-boarding many keys is one call and one transaction: all of them, or none when one may
/// not be revoked by the caller.
#[tokio::test]
async fn up_to_a_hundred_keys_are_revoked_in_one_call_or_none_is() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("bulk-admin@example.com").await;
        let (member, _) = app
            .add_member(&admin, "bulk-member@example.com", "read_write")
            .await;
        let mut ids = Vec::new();
        let mut secrets = Vec::new();
        for n in 0..5 {
            let (key, secret) = member
                .create_key(json!({"name": format!("bulk {n}")}))
                .await;
            ids.push(key["id"].clone());
            secrets.push(secret);
        }
        let (admins_key, admins_secret) = admin.create_key(json!({"name": "the admin's"})).await;

        // The member may not revoke the Admin's key: nothing is revoked.
        let mut with_foreign = ids.clone();
        with_foreign.push(admins_key["id"].clone());
        let (status, body) = member
            .call_json("keys/revoke", json!({"key_ids": with_foreign}))
            .await;
        assert_error(status, &body, 403, "forbidden");
        for secret in secrets.iter().chain([&admins_secret]) {
            assert_eq!(status_of(&app.with_key(secret)).await, 200);
        }

        let revoked = member
            .call_ok("keys/revoke", json!({"key_ids": ids}), StatusCode::OK)
            .await;
        let keys = revoked["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 5);
        assert!(keys.iter().all(|key| key["status"] == "revoked"));
        assert_eq!(revoked["key"]["id"], ids[0]);
        for secret in &secrets {
            assert_eq!(status_of(&app.with_key(secret)).await, 401);
        }
        let events = admin
            .call_ok(
                "audit/list",
                json!({"action": "key.revoked"}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(events["events"].as_array().unwrap().len(), 5);

        // The list's bounds, named.
        let too_many: Vec<String> = (0..101).map(|n| format!("key_{n}")).collect();
        for body in [
            json!({"key_ids": too_many}),
            json!({"key_ids": []}),
            json!({"key_id": ids[0], "key_ids": [ids[1]]}),
        ] {
            let (status, error) = member.call_json("keys/revoke", body).await;
            assert_invalid_field(status, &error, "key_ids");
        }
        let (status, error) = member.call_json("keys/revoke", json!({})).await;
        assert_invalid_field(status, &error, "key_id");
    })
    .await;
}

/// Several PostgreSQL instances: a rename moves no counter (it answers without the wait, and
/// the other instance keeps serving the key from memory), and a revocation in one account
/// leaves other accounts' keys in memory.
#[tokio::test]
async fn only_changes_that_can_fail_a_key_empty_caches_and_only_their_accounts() {
    let Some(instances) = spawn_instances(Engine::Postgres, 2, |config| {
        config.key_cache_window = Some(Duration::from_millis(500));
    })
    .await
    else {
        postgres_did_not_answer();
        return;
    };
    let (first, second) = (&instances[0], &instances[1]);
    let (one, _) = first.signup("cache-one@example.com").await;
    let (other, _) = first.signup("cache-other@example.com").await;
    let (renamed, renamed_secret) = one.create_key(json!({"name": "renamed"})).await;
    let (revoked, revoked_secret) = one.create_key(json!({"name": "revoked"})).await;
    let (_, bystander_secret) = other.create_key(json!({"name": "bystander"})).await;
    for secret in [&renamed_secret, &revoked_secret, &bystander_secret] {
        kept_on(first, secret).await;
    }
    let renamed_hash = first.state.key_hasher.hash_text(&renamed_secret);
    let bystander_hash = first.state.key_hasher.hash_text(&bystander_secret);

    let started = Instant::now();
    one.at(second)
        .call_ok(
            "keys/update",
            json!({"key_id": renamed["id"], "name": "a new name"}),
            StatusCode::OK,
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "a rename waited {:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        first.state.key_cache.keeps(&renamed_hash),
        "a rename emptied the other instance's cache"
    );

    one.at(second)
        .call_ok(
            "keys/revoke",
            json!({"key_id": revoked["id"]}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(status_of(&first.with_key(&revoked_secret)).await, 401);
    assert!(
        first.state.key_cache.keeps(&bystander_hash),
        "a change in one account emptied another account's keys"
    );
    assert!(!first.state.key_cache.keeps(&renamed_hash));
}

/// One host owns a whole IPv6 /64: 25 sign-ups from 25 addresses of one /64 meet the
/// per-address budget as 25 from one address would; another /64 is another client.
#[tokio::test]
async fn ipv6_clients_of_one_64_share_their_budgets() {
    on_each_engine_with(
        |config| {
            config.signups_per_hour = 10;
            config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        },
        |app| async move {
            let mut statuses = Vec::new();
            for n in 0..25 {
                let client = app.anonymous_forwarded_for(&format!("2001:db8:7:1::{:x}", n + 1));
                let (status, _) = client
                    .call_json(
                        "auth/signup",
                        json!({"email": format!("v6-{n}@example.com"), "password": PASSWORD, "account_name": "v6"}),
                    )
                    .await;
                statuses.push(status.as_u16());
            }
            assert_eq!(statuses.iter().filter(|status| **status == 201).count(), 10, "{statuses:?}");
            assert!(statuses[10..].iter().all(|status| *status == 429), "{statuses:?}");
            let elsewhere = app.anonymous_forwarded_for("2001:db8:7:2::1");
            let (status, _) = elsewhere
                .call_json(
                    "auth/signup",
                    json!({"email": "v6-elsewhere@example.com", "password": PASSWORD, "account_name": "v6"}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED);
        },
    )
    .await;
}

/// Someone behind the same NAT sends junk tokens as fast as they can: valid `kw_` keys from
/// that address keep working (junk that is not a `kw_` key is still throttled).
#[tokio::test]
async fn junk_tokens_from_a_shared_address_do_not_lock_out_valid_keys() {
    on_each_engine(|app| async move {
        let (owner, _) = app.signup("behind-nat@example.com").await;
        let (_, good) = owner.create_key(json!({"name": "good"})).await;
        let nat = "127.0.0.23";
        let junk = app.anonymous_from(nat);
        let mut throttled = false;
        for n in 0..80 {
            let status = junk
                .using_key(&format!("junk-token-{n:08}"))
                .call("auth/me", json!({}))
                .await
                .status();
            throttled |= status == StatusCode::TOO_MANY_REQUESTS;
        }
        assert!(throttled, "junk was throttled");
        let unknown_well_formed =
            keyward::server::keys::secret::KeySecret::generate().reveal_once();
        assert_eq!(
            status_of(&app.anonymous_from(nat).using_key(&unknown_well_formed)).await,
            401
        );
        assert_eq!(
            status_of(&app.anonymous_from(nat).using_key(&good)).await,
            200
        );
    })
    .await;
}

/// Someone who can write the database cuts the newest events off an account's trail and
/// sets its head back, deletes a recent stretch at the start as if retention had, or deletes
/// a whole trail with its head. The chain alone cannot tell; the checkpoints can.
#[tokio::test]
async fn cutting_a_trail_at_either_end_or_whole_is_found_against_the_checkpoints() {
    on_each_engine(|app| async move {
        let state = &app.state;
        let mut writer = checkpoints::Writer::new(&state.config.data_dir);
        let mut admins = Vec::new();
        let mut accounts = Vec::new();
        for name in ["cut-newest", "cut-prefix", "cut-whole"] {
            let (admin, signed_up) = app.signup(&format!("{name}@example.com")).await;
            admins.push(admin);
            accounts.push(signed_up["account"]["id"].as_str().unwrap().to_string());
        }
        // Two rounds of changes, a checkpoint after each (the server writes one a minute).
        for round in 0..2 {
            for admin in &admins {
                for n in 0..2 {
                    admin
                        .call_ok(
                            "checks/create",
                            json!({"name": format!("c{round}{n}"), "kind": "api", "url": "https://c.example", "frequency_minutes": 5, "activated": true}),
                            StatusCode::CREATED,
                        )
                        .await;
                }
            }
            assert!(writer.write(&state.pool, &state.key_hasher).await.unwrap() >= 3);
        }
        let against = || {
            let anchor = checkpoints::load(
                &checkpoints::path_in(&state.config.data_dir),
                &state.key_hasher,
            )
            .unwrap();
            audit::verify::VerifyAgainst {
                anchor,
                retention_cutoff: Some(now_millis().before(Duration::from_secs(365 * 86_400))),
            }
        };
        let intact = audit::verify::verify(&state.pool, &state.key_hasher, &against())
            .await
            .unwrap();
        assert!(intact.broken.is_empty(), "{:?}", intact.broken);

        let pool = state.pool.clone();
        let run = |sql: String| {
            let pool = pool.clone();
            async move {
                sqlx::query(&sql).execute(&pool).await.unwrap();
            }
        };
        // 1. The newest two events gone, the head set back to the last one kept.
        let newest = &accounts[0];
        run(format!("DELETE FROM audit_events WHERE account_id = '{newest}' AND seq > 3")).await;
        run(format!(
            "UPDATE audit_heads SET seq = 3, hash = (SELECT hash FROM audit_events \
             WHERE account_id = '{newest}' AND seq = 3) WHERE account_id = '{newest}'"
        ))
        .await;
        // 2. A recent prefix gone (all but the newest event), as if retention had taken it.
        let prefix = &accounts[1];
        run(format!(
            "DELETE FROM audit_events WHERE account_id = '{prefix}' AND seq < \
             (SELECT seq FROM audit_heads WHERE account_id = '{prefix}')"
        ))
        .await;
        // 3. A whole trail with its head.
        let whole = &accounts[2];
        run(format!("DELETE FROM audit_events WHERE account_id = '{whole}'")).await;
        run(format!("DELETE FROM audit_heads WHERE account_id = '{whole}'")).await;

        // Without the checkpoints only the missing head is noticed.
        let alone = audit::verify::verify(&state.pool, &state.key_hasher, &Default::default())
            .await
            .unwrap();
        let named = |verification: &audit::verify::Verification, account: &str| {
            verification
                .broken
                .iter()
                .find(|broken| broken.account_id.as_str() == account)
                .map(|broken| broken.problem.clone())
        };
        assert!(named(&alone, newest).is_none());
        assert!(named(&alone, prefix).is_none());
        assert!(named(&alone, whole).is_some());

        let checked = audit::verify::verify(&state.pool, &state.key_hasher, &against())
            .await
            .unwrap();
        let problem = named(&checked, newest).expect("the cut newest end is found");
        assert!(problem.contains("newest events"), "{problem}");
        let problem = named(&checked, prefix).expect("the deleted prefix is found");
        assert!(problem.contains("retention"), "{problem}");
        let problem = named(&checked, whole).expect("the deleted trail is found");
        assert!(problem.contains("head"), "{problem}");
    })
    .await;
}

/// With mail on, invite links must not come from the request's `Host`: the app refuses to
/// start without a public URL. And one account sends a bounded number of invites an hour.
#[tokio::test]
async fn invites_need_a_public_url_with_mail_and_are_bounded_per_hour() {
    let mut config =
        keyward::server::config::Config::for_tests(&std::env::temp_dir().join("unused"), None);
    config.smtp_url = Some(keyward::server::config::SmtpUrl(
        "smtp://127.0.0.1:2525".to_string(),
    ));
    let error = config.check().unwrap_err().to_string();
    assert!(error.contains("KEYWARD_PUBLIC_URL"), "{error}");
    config.public_url = Some("https://keys.example.com".to_string());
    config.check().unwrap();

    on_each_engine_with(
        |config| config.ceilings.invites_per_account_per_hour = 3,
        |app| async move {
            let (admin, _) = app.signup("inviter@example.com").await;
            let mut statuses = Vec::new();
            for n in 0..5 {
                let (status, _) = admin
                    .call_json(
                        "members/invite",
                        json!({"email": format!("invited{n}@example.com"), "role": "read_only"}),
                    )
                    .await;
                statuses.push(status.as_u16());
            }
            assert_eq!(statuses, [201, 201, 201, 429, 429]);
            // Another account has its own budget.
            let (other, _) = app.signup("other-inviter@example.com").await;
            other.invite("someone@example.com", "read_only").await;
        },
    )
    .await;
}

/// One account cannot fill the database: keys, children of one key, checks and pending
/// invites have ceilings (409, saying which and how to make room).
#[tokio::test]
async fn an_account_cannot_hold_more_than_its_ceilings() {
    on_each_engine_with(
        |config| {
            config.ceilings.keys_per_account = 4;
            config.ceilings.children_per_key = 2;
            config.ceilings.checks_per_account = 2;
            config.ceilings.pending_invites_per_account = 2;
        },
        |app| async move {
            let (admin, _) = app.signup("ceiling@example.com").await;
            let (_, parent) = admin.create_key(json!({"name": "parent"})).await;
            let by_parent = app.with_key(&parent);
            by_parent.create_key(json!({"name": "child 1"})).await;
            by_parent.create_key(json!({"name": "child 2"})).await;
            let (status, body) = by_parent
                .call_json("keys/create", json!({"name": "child 3"}))
                .await;
            assert_error(status, &body, 409, "conflict");
            assert!(body["error"]["message"].as_str().unwrap().contains("KEYWARD_MAX_CHILDREN_PER_KEY"));
            let (first, _) = admin.create_key(json!({"name": "fourth"})).await;
            let (status, body) = admin.call_json("keys/create", json!({"name": "fifth"})).await;
            assert_error(status, &body, 409, "conflict");
            assert!(body["error"]["message"].as_str().unwrap().contains("KEYWARD_MAX_KEYS_PER_ACCOUNT"));
            // Revoking makes room.
            admin
                .call_ok("keys/revoke", json!({"key_id": first["id"]}), StatusCode::OK)
                .await;
            admin.create_key(json!({"name": "fifth"})).await;

            let check = json!({"name": "c", "kind": "api", "url": "https://c.example", "frequency_minutes": 5, "activated": true});
            for _ in 0..2 {
                admin.call_ok("checks/create", check.clone(), StatusCode::CREATED).await;
            }
            let (status, body) = admin.call_json("checks/create", check).await;
            assert_error(status, &body, 409, "conflict");

            admin.invite("p1@example.com", "read_only").await;
            admin.invite("p2@example.com", "read_only").await;
            let (status, body) = admin
                .call_json("members/invite", json!({"email": "p3@example.com", "role": "read_only"}))
                .await;
            assert_error(status, &body, 409, "conflict");
        },
    )
    .await;
}

/// Served over https: browsers are told to keep to https, and the session cookie carries the
/// `__Host-` prefix (no other site under the same domain can plant or overwrite it).
#[tokio::test]
async fn https_deployments_send_hsts_and_a_host_prefixed_session_cookie() {
    on_each_engine_with(
        |config| {
            config.public_url = Some("https://keys.example.com".to_string());
            config.secure_cookies = true;
        },
        |app| async move {
            let response = app
                .anonymous()
                .call(
                    "auth/signup",
                    json!({"email": "https@example.com", "password": PASSWORD, "account_name": "S"}),
                )
                .await;
            assert_eq!(response.status(), StatusCode::CREATED);
            let hsts = response.headers()["strict-transport-security"].to_str().unwrap();
            assert!(hsts.starts_with("max-age=31536000"), "{hsts}");
            let cookie = response.headers()["set-cookie"].to_str().unwrap();
            assert!(cookie.starts_with("__Host-keyward_session="), "{cookie}");
            assert!(cookie.contains("Secure") && cookie.contains("Path=/"), "{cookie}");
            assert!(!cookie.contains("Domain"), "{cookie}");
        },
    )
    .await;
    // Plain http (development): no HSTS, the plain name.
    on_each_engine(|app| async move {
        let response = app
            .anonymous()
            .call(
                "auth/signup",
                json!({"email": "plain@example.com", "password": PASSWORD, "account_name": "P"}),
            )
            .await;
        assert!(response
            .headers()
            .get("strict-transport-security")
            .is_none());
        let cookie = response.headers()["set-cookie"].to_str().unwrap();
        assert!(cookie.starts_with("keyward_session="), "{cookie}");
    })
    .await;
}
