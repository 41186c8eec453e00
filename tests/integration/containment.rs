//! Containment: what a stolen key, a stale session or a spare link can never do. Each test is
//! written as the attack it stops (see issue "Containment" and DESIGN.md).

use crate::support::*;
use keyward::domain::ids::{AccountId, KeyId, UserId};
use keyward::domain::time::now_millis;
use keyward::server::stores;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn in_days(days: u64) -> String {
    now_millis()
        .after(std::time::Duration::from_secs(days * 86_400))
        .rfc3339()
}

#[tokio::test]
async fn a_stolen_key_never_becomes_its_owners_browser_session() {
    on_each_engine(|app| async move {
        let (victim, _) = app.signup("victim@example.com").await;
        let (_, stolen) = victim
            .create_key(json!({"name": "CI", "role_cap": "read_only"}))
            .await;
        // The attacker learns the victim's email from the key, then invites it.
        let me = app
            .with_key(&stolen)
            .call_ok("auth/me", json!({}), StatusCode::OK)
            .await;
        assert_eq!(me["user"]["email"], "victim@example.com");
        let (attacker, _) = app.signup("attacker@example.com").await;
        let invite = attacker.invite("victim@example.com", "admin").await;

        // Accepting with the victim's key and no password: the key proves nothing.
        let thief = app.anonymous().using_key(&stolen);
        let response = thief
            .call("invites/accept", json!({"token": invite_token(&invite)}))
            .await;
        assert!(response.headers().get("set-cookie").is_none());
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_invalid_field(status, &body, "password");

        // The thief's client holds no session afterwards.
        let after = app.anonymous();
        let (status, _) = after.call_json("auth/me", json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let cookie_jar_client = thief.clone();
        let (status, _) = Caller {
            bearer: None,
            ..cookie_jar_client
        }
        .call_json("auth/me", json!({}))
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "no session was planted");

        // Even signing in with a key in the header hands out no cookie.
        let response = app
            .anonymous()
            .using_key(&stolen)
            .call(
                "auth/login",
                json!({"email": "victim@example.com", "password": PASSWORD}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("set-cookie").is_none());
    })
    .await;
}

#[tokio::test]
async fn a_child_key_never_outlives_or_outranks_its_parent() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("parent@example.com").await;
        let (parent, parent_secret) = admin
            .create_key(json!({"name": "deploy", "expires_at": in_days(1)}))
            .await;
        let by_parent = app.with_key(&parent_secret);

        // No expiry asked: the child gets its parent's.
        let (child, child_secret) = by_parent.create_key(json!({"name": "child"})).await;
        assert_eq!(child["created_by_key_id"], parent["id"]);
        assert_eq!(child["expires_at"], parent["expires_at"]);
        // A later expiry is refused, naming the field.
        let (status, error) = by_parent
            .call_json(
                "keys/create",
                json!({"name": "forever", "expires_at": in_days(30)}),
            )
            .await;
        assert_invalid_field(status, &error, "expires_at");

        // Grandchild, then revoke the parent: the whole line stops.
        let (grandchild, grandchild_secret) = app
            .with_key(&child_secret)
            .create_key(json!({"name": "grandchild"}))
            .await;
        assert_eq!(grandchild["created_by_key_id"], child["id"]);
        admin
            .call_ok(
                "keys/revoke",
                json!({"key_id": parent["id"]}),
                StatusCode::OK,
            )
            .await;
        for secret in [&parent_secret, &child_secret, &grandchild_secret] {
            let (status, _) = app.with_key(secret).call_json("auth/me", json!({})).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let listed = admin.call_ok("keys/list", json!({}), StatusCode::OK).await;
        let revoked = listed["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|key| key["status"] == "revoked")
            .count();
        assert_eq!(revoked, 3);
    })
    .await;
}

#[tokio::test]
async fn a_read_only_key_cannot_touch_its_siblings_but_can_revoke_itself() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("siblings@example.com").await;
        let (sibling, sibling_secret) = admin.create_key(json!({"name": "prod deploy"})).await;
        let (capped, capped_secret) = admin
            .create_key(json!({"name": "dashboard", "role_cap": "read_only"}))
            .await;
        let leaked = app.with_key(&capped_secret);

        let (status, error) = leaked
            .call_json("keys/revoke", json!({"key_id": sibling["id"]}))
            .await;
        assert_error(status, &error, 403, "forbidden");
        let (status, _) = app
            .with_key(&sibling_secret)
            .call_json("auth/me", json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "the sibling still works");
        let (status, error) = leaked
            .call_json("keys/create", json!({"name": "persistence"}))
            .await;
        assert_error(status, &error, 403, "forbidden");

        leaked
            .call_ok(
                "keys/revoke",
                json!({"key_id": capped["id"]}),
                StatusCode::OK,
            )
            .await;
        let (status, _) = leaked.call_json("auth/me", json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn keys_die_with_the_membership_they_were_made_in() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("owner@example.com").await;
        let (_, joined) = app
            .add_member(&admin, "leaver@example.com", "read_write")
            .await;
        let user_id = UserId::parse("user_id", joined["user"]["id"].as_str().unwrap()).unwrap();
        let account_id =
            AccountId::parse("account_id", joined["account"]["id"].as_str().unwrap()).unwrap();
        let old_membership = stores::accounts::membership(&app.state.pool, &account_id, &user_id)
            .await
            .unwrap()
            .unwrap();

        admin
            .call_ok(
                "members/remove",
                json!({"user_id": user_id}),
                StatusCode::OK,
            )
            .await;
        // A key-creating request that resolved the person just before the removal commits
        // its key just after it (the race the removal's revocation cannot see).
        let secret = keyward::server::keys::secret::KeySecret::generate();
        let inserted = stores::keys::insert(
            &app.state.pool,
            &stores::keys::NewKey {
                id: &KeyId::generate(),
                account_id: &account_id,
                owner: stores::keys::Owner::Person {
                    user_id: &user_id,
                    membership_id: Some(&old_membership.id),
                },
                created_by_key_id: None,
                created_by_user: None,
                name: "late",
                secret_hash: &app.state.key_hasher.hash(&secret),
                hint: &secret.hint(),
                role_cap: None,
                now: now_millis(),
                expires_at: None,
                allowed_cidrs: &[],
                rate_limit_per_minute: None,
                grant: &keyward::domain::Grant::default(),
            },
            keyward::server::audit::Event::new(
                &app.state.key_hasher,
                &account_id,
                keyward::domain::audit::AuditAction::KeyCreated,
                keyward::server::audit::Actor::cli(),
                Default::default(),
            ),
        )
        .await
        .unwrap();
        assert_eq!(inserted, stores::keys::Inserted::Yes);
        let late_key = app.with_key(&secret.reveal_once());
        let (status, _) = late_key.call_json("auth/me", json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // Invited back, the person has a new membership; the late key stays dead.
        app.add_member(&admin, "leaver@example.com", "read_write")
            .await;
        let (status, _) = late_key.call_json("auth/me", json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn every_response_carries_security_headers_and_api_answers_are_not_stored() {
    on_each_engine(|app| async move {
        let page = reqwest::get(app.url("/")).await.unwrap();
        let headers = page.headers().clone();
        let html = page.text().await.unwrap();
        let policy = headers["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        let nonce = policy
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .expect("the page policy names a nonce");
        assert!(
            html.contains(&format!("nonce=\"{nonce}\"")),
            "the page's scripts carry the policy's nonce"
        );
        let second = reqwest::get(app.url("/")).await.unwrap();
        assert!(
            !second.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains(nonce),
            "a nonce is used once"
        );

        let (admin, _) = app.signup("headers@example.com").await;
        let created = admin.call("keys/create", json!({"name": "h"})).await;
        let asset = reqwest::get(app.url("/favicon.svg")).await.unwrap();
        for (what, headers) in [
            ("page", &headers),
            ("keys/create", created.headers()),
            ("asset", asset.headers()),
        ] {
            assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
            assert_eq!(headers["referrer-policy"], "no-referrer", "{what}");
            assert!(
                headers["content-security-policy"]
                    .to_str()
                    .unwrap()
                    .contains("frame-ancestors 'none'"),
                "{what}"
            );
        }
        assert_eq!(created.headers()["cache-control"], "no-store");
    })
    .await;
}

#[tokio::test]
async fn sign_up_is_throttled_per_address_and_can_be_closed() {
    on_each_engine_with(
        |config| config.signups_per_hour = 3,
        |app| async move {
            let mut statuses = Vec::new();
            for n in 0..5 {
                let response = app
                    .anonymous()
                    .call(
                        "auth/signup",
                        json!({"email": format!("flood{n}@example.com"), "password": PASSWORD, "account_name": "F"}),
                    )
                    .await;
                if response.status() == StatusCode::TOO_MANY_REQUESTS {
                    let wait: u64 = response.headers()["retry-after"]
                        .to_str()
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert!((1..=3600).contains(&wait), "Retry-After {wait}");
                }
                statuses.push(response.status().as_u16());
            }
            assert_eq!(statuses, [201, 201, 201, 429, 429]);
            // Another client address is not affected.
            app.anonymous_from("127.0.0.2")
                .call_ok(
                    "auth/signup",
                    json!({"email": "elsewhere@example.com", "password": PASSWORD, "account_name": "E"}),
                    StatusCode::CREATED,
                )
                .await;
        },
    )
    .await;
    on_each_engine_with(
        |config| config.signup_open = false,
        |app| async move {
            let (status, error) = app
                .anonymous()
                .call_json(
                    "auth/signup",
                    json!({"email": "closed@example.com", "password": PASSWORD, "account_name": "C"}),
                )
                .await;
            assert_error(status, &error, 403, "forbidden");
        },
    )
    .await;
}

#[tokio::test]
async fn a_guesser_cannot_lock_a_person_out_from_their_own_address() {
    on_each_engine(|app| async move {
        app.signup("alice@example.com").await;
        let attacker = app.anonymous_from("127.0.0.3");
        let mut statuses = Vec::new();
        for attempt in 0..8 {
            let (status, _) = attacker
                .call_json(
                    "auth/login",
                    json!({"email": "alice@example.com", "password": format!("guess {attempt}")}),
                )
                .await;
            statuses.push(status.as_u16());
        }
        assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
        app.anonymous_from("127.0.0.4")
            .call_ok(
                "auth/login",
                json!({"email": "alice@example.com", "password": PASSWORD}),
                StatusCode::OK,
            )
            .await;
    })
    .await;
}

#[tokio::test]
async fn failed_bearer_attempts_are_throttled_per_address() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("bearer@example.com").await;
        let (_, good) = admin.create_key(json!({"name": "good"})).await;
        let guesser = app.anonymous_from("127.0.0.5");
        let mut limited = None;
        for attempt in 0..100 {
            let response = guesser
                .using_key(&format!("legacy-guess-{attempt:06}-0000"))
                .call("auth/me", json!({}))
                .await;
            if response.status() == StatusCode::TOO_MANY_REQUESTS {
                assert!(response.headers().contains_key("retry-after"));
                limited = Some(attempt);
                break;
            }
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        let limited = limited.expect("guessing was throttled");
        assert!((60..=70).contains(&limited), "throttled after {limited}");
        // A valid key from another address is not affected.
        let client = app.anonymous_from("127.0.0.6").using_key(&good);
        client.call_ok("auth/me", json!({}), StatusCode::OK).await;
    })
    .await;
}

#[tokio::test]
async fn logout_always_works_for_a_session() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("remover@example.com").await;
        let (member, joined) = app
            .add_member(&admin, "removed@example.com", "read_only")
            .await;
        admin
            .call_ok(
                "members/remove",
                json!({"user_id": joined["user"]["id"]}),
                StatusCode::OK,
            )
            .await;
        let (status, _) = member.call_json("auth/me", json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "a member of no account");
        member
            .call_ok("auth/logout", json!({}), StatusCode::OK)
            .await;
        let (status, _) = member.call_json("auth/me", json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "signed out");
    })
    .await;
}

#[tokio::test]
async fn changing_a_password_ends_every_other_session() {
    on_each_engine(|app| async move {
        let (here, _) = app.signup("changer@example.com").await;
        let elsewhere = app.anonymous();
        elsewhere
            .call_ok(
                "auth/login",
                json!({"email": "changer@example.com", "password": PASSWORD}),
                StatusCode::OK,
            )
            .await;
        let (status, error) = here
            .call_json(
                "auth/change-password",
                json!({"current_password": "not it at all", "new_password": "a new long password"}),
            )
            .await;
        assert_invalid_field(status, &error, "current_password");
        let (status, error) = here
            .call_json(
                "auth/change-password",
                json!({"current_password": PASSWORD, "new_password": "short"}),
            )
            .await;
        assert_invalid_field(status, &error, "new_password");

        here.call_ok(
            "auth/change-password",
            json!({"current_password": PASSWORD, "new_password": "a new long password"}),
            StatusCode::OK,
        )
        .await;
        here.call_ok("auth/me", json!({}), StatusCode::OK).await;
        // The ended session's browser loads a page first: its server rendering resolves the
        // caller from several resources at once, which must sign it out cleanly, not fail.
        for _ in 0..3 {
            let page = elsewhere
                .client
                .get(app.url("/checks"))
                .send()
                .await
                .unwrap();
            assert_eq!(page.status(), StatusCode::OK);
            assert!(page.text().await.unwrap().contains("Please sign in"));
        }
        let (status, _) = elsewhere.call_json("auth/me", json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "the other session ended");
        let (status, _) = app
            .anonymous()
            .call_json(
                "auth/login",
                json!({"email": "changer@example.com", "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password is gone");
        app.anonymous()
            .call_ok(
                "auth/login",
                json!({"email": "changer@example.com", "password": "a new long password"}),
                StatusCode::OK,
            )
            .await;
    })
    .await;
}

#[tokio::test]
async fn sessions_are_stored_only_under_a_keyed_hash_of_their_id() {
    on_each_engine(|app| async move {
        app.signup("cookie@example.com").await;
        let response = reqwest::Client::new()
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": "cookie@example.com", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_string();
        let session_id = cookie
            .strip_prefix("keyward_session=")
            .and_then(|rest| rest.split(';').next())
            .expect("the session cookie")
            .to_string();
        assert!(session_id.len() >= 16, "{cookie}");
        // The session store crate's own table: one per engine.
        let table = match app.engine {
            Engine::Sqlite => "tower_sessions",
            Engine::Postgres => "tower_sessions.session",
        };
        let stored: Vec<(String,)> = sqlx::query_as(&format!("SELECT id FROM {table}"))
            .fetch_all(&app.state.pool)
            .await
            .unwrap();
        assert!(!stored.is_empty(), "sessions are stored");
        assert!(
            stored.iter().all(|(id,)| !id.contains(&session_id)),
            "a stored id equals the cookie"
        );
        // And the cookie still works.
        let client = reqwest::Client::new();
        let me = client
            .post(app.url("/api/v1/auth/me"))
            .header("cookie", format!("keyward_session={session_id}"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn invites_can_be_listed_withdrawn_and_never_linger() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("inviter@example.com").await;
        let first = admin.invite("bob@example.com", "read_write").await;
        let second = admin.invite("bob@example.com", "read_only").await;
        let listed = admin
            .call_ok("invites/list", json!({}), StatusCode::OK)
            .await;
        let invites = listed["invites"].as_array().unwrap();
        assert_eq!(
            invites.len(),
            1,
            "a new invite replaces the pending one: {listed}"
        );
        assert_eq!(invites[0]["role"], "read_only");
        assert_eq!(invites[0]["invited_by"]["email"], "inviter@example.com");
        assert!(!listed.to_string().contains(&invite_token(&second)));
        let (status, _) = app
            .anonymous()
            .call_json(
                "invites/accept",
                json!({"token": invite_token(&first), "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "the replaced link is dead");

        admin
            .call_ok(
                "invites/withdraw",
                json!({"invite_id": invites[0]["id"]}),
                StatusCode::OK,
            )
            .await;
        let (status, error) = app
            .anonymous()
            .call_json(
                "invites/accept",
                json!({"token": invite_token(&second), "password": PASSWORD}),
            )
            .await;
        assert_error(status, &error, 404, "not_found");
        let (status, _) = admin
            .call_json("invites/withdraw", json!({"invite_id": invites[0]["id"]}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "only pending invites");
        let listed = admin
            .call_ok("invites/list", json!({}), StatusCode::OK)
            .await;
        assert_eq!(listed["invites"], json!([]));
    })
    .await;
}

#[tokio::test]
async fn an_invite_dies_when_its_inviter_may_no_longer_invite() {
    on_each_engine(|app| async move {
        let (owner, _) = app.signup("owner2@example.com").await;
        let (deputy, joined) = app.add_member(&owner, "deputy@example.com", "admin").await;
        let invite = deputy.invite("friend@example.com", "admin").await;
        owner
            .call_ok(
                "members/set-role",
                json!({"user_id": joined["user"]["id"], "role": "read_only"}),
                StatusCode::OK,
            )
            .await;
        let (status, error) = app
            .anonymous()
            .call_json(
                "invites/accept",
                json!({"token": invite_token(&invite), "password": PASSWORD}),
            )
            .await;
        assert_error(status, &error, 409, "conflict");

        // An invite made with a key dies with the key.
        let (key, secret) = owner.create_key(json!({"name": "provisioning"})).await;
        let by_key = app
            .with_key(&secret)
            .invite("robot@example.com", "read_only")
            .await;
        owner
            .call_ok("keys/revoke", json!({"key_id": key["id"]}), StatusCode::OK)
            .await;
        let (status, _) = app
            .anonymous()
            .call_json(
                "invites/accept",
                json!({"token": invite_token(&by_key), "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
    })
    .await;
}

#[tokio::test]
async fn leaving_an_account_takes_a_session_not_a_key() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("stay@example.com").await;
        let (member, joined) = app
            .add_member(&admin, "member@example.com", "read_write")
            .await;
        let (_, secret) = member.create_key(json!({"name": "script"})).await;
        let (status, error) = app
            .with_key(&secret)
            .call_json("members/remove", json!({"user_id": joined["user"]["id"]}))
            .await;
        assert_error(status, &error, 403, "forbidden");
        let members = admin
            .call_ok("members/list", json!({}), StatusCode::OK)
            .await;
        assert_eq!(members["members"].as_array().unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn concurrent_demotions_never_leave_an_account_without_an_admin() {
    on_each_engine(|app| async move {
        // Two Admins demote each other at the same moment, a few times over: exactly one wins.
        // The loser is refused either inside the locked transaction (409, last Admin) or, when
        // the winner committed before it was authorized, as no longer an Admin (403).
        for round in 0..5 {
            let (first, signed_up) = app.signup(&format!("first{round}@example.com")).await;
            let (second, joined) = app
                .add_member(&first, &format!("second{round}@example.com"), "admin")
                .await;
            let first_id = signed_up["user"]["id"].clone();
            let second_id = joined["user"]["id"].clone();
            let (a, b) = tokio::join!(
                first.call_json(
                    "members/set-role",
                    json!({"user_id": second_id, "role": "read_only"})
                ),
                second.call_json(
                    "members/set-role",
                    json!({"user_id": first_id, "role": "read_only"})
                ),
            );
            let (winner, loser) = match (a.0.as_u16(), b.0.as_u16()) {
                (200, _) => (&first, b.0.as_u16()),
                (_, 200) => (&second, a.0.as_u16()),
                _ => panic!("neither demotion succeeded: {a:?} {b:?}"),
            };
            assert!(matches!(loser, 403 | 409), "{a:?} {b:?}");
            let members = winner
                .call_ok("members/list", json!({}), StatusCode::OK)
                .await;
            let admins = members["members"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|member| member["role"] == "admin")
                .count();
            assert_eq!(admins, 1, "round {round}");
        }
    })
    .await;
}

#[tokio::test]
async fn the_same_invite_accepted_twice_at_once_joins_once() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("race@example.com").await;
        let invite = admin.invite("twice@example.com", "read_only").await;
        let token = invite_token(&invite);
        let (one, two) = (app.anonymous(), app.anonymous());
        let (a, b) = tokio::join!(
            one.call_json(
                "invites/accept",
                json!({"token": token, "password": PASSWORD})
            ),
            two.call_json(
                "invites/accept",
                json!({"token": token, "password": PASSWORD})
            ),
        );
        let mut statuses = [a.0.as_u16(), b.0.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
        let members = admin
            .call_ok("members/list", json!({}), StatusCode::OK)
            .await;
        assert_eq!(members["members"].as_array().unwrap().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn client_addresses_come_from_trusted_proxies_only() {
    let trusted = |config: &mut keyward::server::config::Config| {
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    };
    on_each_engine_with(trusted, |app| async move {
        let (admin, _) = app.signup("proxied@example.com").await;
        let (key, secret) = admin.create_key(json!({"name": "behind a proxy"})).await;
        for (source, claimed, seen) in [
            // From the proxy: its record of the client counts.
            ("127.0.0.1", "203.0.113.7", "203.0.113.7"),
            // From anyone else: the header is the caller's own claim, ignored.
            ("127.0.0.9", "198.51.100.1", "127.0.0.9"),
        ] {
            reqwest::Client::builder()
                .local_address(Some(source.parse().unwrap()))
                .build()
                .unwrap()
                .post(app.url("/api/v1/auth/me"))
                .bearer_auth(&secret)
                .header("x-forwarded-for", claimed)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            app.state.key_usage.flush(&app.state.pool).await.unwrap();
            let (ip,): (Option<String>,) =
                sqlx::query_as("SELECT last_used_ip FROM api_keys WHERE id = $1")
                    .bind(key["id"].as_str().unwrap())
                    .fetch_one(&app.state.pool)
                    .await
                    .unwrap();
            assert_eq!(ip.as_deref(), Some(seen));
        }
    })
    .await;
}

#[tokio::test]
async fn a_failed_usage_flush_keeps_the_batch_for_the_next_one() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("flush@example.com").await;
        let (key, secret) = admin.create_key(json!({"name": "used"})).await;
        // Collect the use without letting the server's own 10 s flush run first.
        let usage = keyward::server::keys::usage::KeyUsage::default();
        let key_id = KeyId::parse("key_id", key["id"].as_str().unwrap()).unwrap();
        usage.record(&key_id, now_millis(), Some("192.0.2.1".into()));
        let broken = sqlx::any::AnyPoolOptions::new()
            .acquire_timeout(std::time::Duration::from_secs(2))
            .connect_lazy(&match app.engine {
                Engine::Sqlite => "sqlite:///nonexistent/dir/keyward.db".to_string(),
                Engine::Postgres => "postgres://nobody@127.0.0.1:1/nothing".to_string(),
            })
            .unwrap();
        assert!(usage.flush(&broken).await.is_err());
        assert_eq!(usage.pending_count(), 1, "the batch was kept");
        assert_eq!(usage.flush(&app.state.pool).await.unwrap(), 1);
        let (ip,): (Option<String>,) =
            sqlx::query_as("SELECT last_used_ip FROM api_keys WHERE id = $1")
                .bind(key["id"].as_str().unwrap())
                .fetch_one(&app.state.pool)
                .await
                .unwrap();
        assert_eq!(ip.as_deref(), Some("192.0.2.1"));
        drop(secret);
    })
    .await;
}
