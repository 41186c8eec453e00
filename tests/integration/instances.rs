//! Several instances on one database, sharing their limits through Redis: what one instance
//! counts, every other one sees. And what one instance changes about a key, every other one
//! applies on the very next request, though it kept the key in memory. (`make test-cluster`
//! checks the same behind haproxy, with separate processes.)

use crate::support::*;
use keyward::server::config::Config;
use reqwest::StatusCode;
use serde_json::json;
use std::sync::{Arc, Mutex};
use tokio::{net::TcpListener, task::JoinHandle};

/// Runs `test` with two instances sharing one Redis, on each engine.
async fn with_two_instances<F, Fut>(test: F)
where
    F: Fn(Vec<TestApp>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some((url, prefix)) = test_redis().await else {
        return;
    };
    let configure = |config: &mut Config| {
        config.redis_url = Some(url.clone());
        config.redis_prefix = prefix.clone();
    };
    for engine in [Engine::Sqlite, Engine::Postgres] {
        match spawn_instances(engine, 2, configure).await {
            Some(instances) => test(instances).await,
            None => postgres_did_not_answer(),
        }
    }
}

#[tokio::test]
async fn a_keys_limit_counts_its_requests_on_every_instance() {
    with_two_instances(|instances| async move {
        let (first, second) = (&instances[0], &instances[1]);
        let (owner, _) = first
            .signup(&format!("limits-{:?}@example.com", first.engine))
            .await;
        let (_, secret) = owner
            .create_key(json!({"name": "metered", "rate_limit_per_minute": 6}))
            .await;
        let metered = first.with_key(&secret);
        // Alternating instances: six answers in all, counting down across both.
        for (n, remaining) in ["5", "4", "3", "2", "1", "0"].into_iter().enumerate() {
            let instance = if n % 2 == 0 { first } else { second };
            let response = metered.at(instance).call("auth/me", json!({})).await;
            assert_eq!(response.status(), StatusCode::OK, "request {n}");
            assert_eq!(response.headers()["ratelimit-remaining"], remaining);
        }
        for instance in [first, second] {
            let refused = metered.at(instance).call("auth/me", json!({})).await;
            assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
            let wait: u64 = refused.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=10).contains(&wait), "one request back in 10 s: {wait}");
        }
    })
    .await;
}

#[tokio::test]
async fn wrong_passwords_spread_over_instances_are_throttled_as_one() {
    with_two_instances(|instances| async move {
        let (first, second) = (&instances[0], &instances[1]);
        let email = format!("guessed-{:?}@example.com", first.engine);
        first.signup(&email).await;
        let guesser = first.anonymous();
        let guess = json!({"email": email, "password": "not the password"});
        // The budget is 4 failures, and the 5th blocks: with each instance counting alone, the
        // 6th attempt would be only the 3rd on either.
        for n in 0..5 {
            let instance = if n % 2 == 0 { first } else { second };
            let (status, body) = guesser
                .at(instance)
                .call_json("auth/login", guess.clone())
                .await;
            assert_error(status, &body, 401, "unauthenticated");
        }
        for instance in [second, first] {
            let (status, body) = guesser
                .at(instance)
                .call_json("auth/login", guess.clone())
                .await;
            assert_error(status, &body, 429, "rate_limited");
        }
        // The person, from another address, still gets in on either instance.
        let person = first.anonymous_from("127.0.0.9");
        person
            .at(second)
            .call_ok(
                "auth/login",
                json!({"email": email, "password": PASSWORD}),
                StatusCode::OK,
            )
            .await;
    })
    .await;
}

#[tokio::test]
async fn a_session_made_on_one_instance_works_on_the_other() {
    with_two_instances(|instances| async move {
        let (first, second) = (&instances[0], &instances[1]);
        let email = format!("roaming-{:?}@example.com", first.engine);
        let (person, _) = first.signup(&email).await;
        let me = person
            .at(second)
            .call_ok("auth/me", json!({}), StatusCode::OK)
            .await;
        assert_eq!(me["user"]["email"], email.to_lowercase());
        // Signing out on the second ends the session on the first too.
        person
            .at(second)
            .call_ok("auth/logout", json!({}), StatusCode::OK)
            .await;
        let (status, _) = person.at(first).call_json("auth/me", json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    })
    .await;
}

/// A TCP relay to Redis that the test can cut, as a network failure or a Redis restart would.
struct CuttableRelay {
    address: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl CuttableRelay {
    async fn to(redis: &str) -> CuttableRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let (target, accepted) = (redis.to_string(), tasks.clone());
        let accepting = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                accepted.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        tasks.lock().unwrap().push(accepting);
        CuttableRelay { address, tasks }
    }

    /// Closes every connection and stops listening.
    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

#[tokio::test]
async fn when_redis_stops_answering_each_instance_still_limits_and_nothing_fails() {
    let Some((url, prefix)) = test_redis().await else {
        return;
    };
    let relay = CuttableRelay::to(url.0.trim_start_matches("redis://")).await;
    let relayed = keyward::server::config::RedisUrl(format!("redis://{}", relay.address));
    let app = spawn_app_with(Engine::Sqlite, |config| {
        config.redis_url = Some(relayed.clone());
        config.redis_prefix = prefix.clone();
    })
    .await
    .unwrap();
    let (owner, _) = app.signup("outage@example.com").await;
    let (_, secret) = owner
        .create_key(json!({"name": "metered", "rate_limit_per_minute": 3}))
        .await;
    let metered = app.with_key(&secret);
    metered.call_ok("auth/me", json!({}), StatusCode::OK).await;

    relay.cut();
    // The instance counts on its own from here: a whole allowance of 3, then 429; never a 500.
    let mut statuses = Vec::new();
    let started = std::time::Instant::now();
    for _ in 0..5 {
        statuses.push(metered.call("auth/me", json!({})).await.status().as_u16());
    }
    // One call waits for Redis (at most 250 ms); the next ones do not ask it for a while.
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    let logs = captured_logs();
    for line in logs
        .lines()
        .filter(|line| line.to_lowercase().contains("redis"))
    {
        eprintln!("LOG {line}");
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let guesser = app.anonymous();
    for _ in 0..5 {
        let (status, _) = guesser
            .call_json(
                "auth/login",
                json!({"email": "outage@example.com", "password": "wrong"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = guesser
        .call_json(
            "auth/login",
            json!({"email": "outage@example.com", "password": "wrong"}),
        )
        .await;
    assert_error(status, &body, 429, "rate_limited");
    assert!(captured_logs().contains("Redis did not answer"));
}

/// Each change that alters how a key checks out, made through one instance, applies to the very
/// next request on another instance that had verified the key and kept it in memory. Nothing
/// is shared but the database (no Redis). PostgreSQL only: several instances share a
/// PostgreSQL database, while a SQLite file is served by one process (which forgets at once
/// and does not wait, see `keys::a_revocation_on_sqlite_answers_at_once`).
#[tokio::test]
async fn a_change_made_on_one_instance_applies_at_once_on_another_that_kept_the_key() {
    for engine in [Engine::Postgres] {
        let Some(instances) = spawn_instances(engine, 2, |_| {}).await else {
            postgres_did_not_answer();
            continue;
        };
        let (first, second) = (&instances[0], &instances[1]);
        let (admin, _) = first.signup(&format!("kept-{engine:?}@example.com")).await;
        let (member, accepted) = first
            .add_member(
                &admin,
                &format!("kept-member-{engine:?}@example.com"),
                "read_write",
            )
            .await;
        let member_id = accepted["user"]["id"].clone();
        let (to_revoke, to_revoke_secret) = member.create_key(json!({"name": "revoke"})).await;
        let (to_guard, to_guard_secret) = member.create_key(json!({"name": "guard"})).await;
        let (to_rotate, to_rotate_secret) = member.create_key(json!({"name": "rotate"})).await;
        let (_, leaked_secret) = member.create_key(json!({"name": "leak"})).await;
        let (_, member_secret) = member.create_key(json!({"name": "role"})).await;
        let (to_narrow, to_narrow_secret) = member.create_key(json!({"name": "narrow"})).await;
        for secret in [
            &to_revoke_secret,
            &to_narrow_secret,
            &to_guard_secret,
            &to_rotate_secret,
            &leaked_secret,
        ] {
            kept_on(first, secret).await;
        }
        let refused = |secret: &str| {
            let caller = first.with_key(secret);
            async move { caller.call_json("auth/me", json!({})).await }
        };

        admin
            .at(second)
            .call_ok(
                "keys/revoke",
                json!({"key_id": to_revoke["id"]}),
                StatusCode::OK,
            )
            .await;
        let (status, body) = refused(&to_revoke_secret).await;
        assert_error(status, &body, 401, "unauthenticated");

        admin
            .at(second)
            .call_ok(
                "keys/update",
                json!({"key_id": to_guard["id"], "allowed_cidrs": ["192.0.2.0/24"]}),
                StatusCode::OK,
            )
            .await;
        let (status, body) = refused(&to_guard_secret).await;
        assert_error(status, &body, 403, "forbidden");

        // A narrower grant, too: the kept key loses members:read on its next request.
        member
            .at(second)
            .call_ok(
                "keys/update",
                json!({"key_id": to_narrow["id"], "permissions": ["checks:read"]}),
                StatusCode::OK,
            )
            .await;
        let (status, body) = first
            .with_key(&to_narrow_secret)
            .call_json("members/list", json!({}))
            .await;
        assert_error(status, &body, 403, "forbidden");
        assert_eq!(body["error"]["missing_permission"], "members:read");

        member
            .at(second)
            .call_ok(
                "keys/rotate",
                json!({"key_id": to_rotate["id"], "grace_seconds": 0}),
                StatusCode::CREATED,
            )
            .await;
        let (status, body) = refused(&to_rotate_secret).await;
        assert_error(status, &body, 401, "unauthenticated");

        second
            .anonymous()
            .call_ok(
                "keys/report-leak",
                json!({"secrets": [leaked_secret]}),
                StatusCode::ACCEPTED,
            )
            .await;
        let (status, body) = refused(&leaked_secret).await;
        assert_error(status, &body, 401, "unauthenticated");

        assert_eq!(kept_on(first, &member_secret).await["role"], "read_write");
        admin
            .at(second)
            .call_ok(
                "members/set-role",
                json!({"user_id": member_id, "role": "read_only"}),
                StatusCode::OK,
            )
            .await;
        let me = first
            .with_key(&member_secret)
            .call_ok("auth/me", json!({}), StatusCode::OK)
            .await;
        assert_eq!(me["role"], "read_only");

        kept_on(first, &member_secret).await;
        admin
            .at(second)
            .call_ok(
                "members/remove",
                json!({"user_id": member_id}),
                StatusCode::OK,
            )
            .await;
        let (status, body) = refused(&member_secret).await;
        assert_error(status, &body, 401, "unauthenticated");
    }
}

/// A service account's new role, its deletion, and a legacy key's adoption, made through one
/// instance, apply on the very next request on another that kept the service key in memory.
#[tokio::test]
async fn a_service_accounts_change_on_one_instance_applies_at_once_on_another() {
    let Some(instances) = spawn_instances(Engine::Postgres, 2, |_| {}).await else {
        postgres_did_not_answer();
        return;
    };
    let (first, second) = (&instances[0], &instances[1]);
    let (admin, _) = first.signup("service-instances@example.com").await;
    let created = admin
        .call_ok(
            "service-accounts/create",
            json!({"name": "CI", "role": "read_write"}),
            StatusCode::CREATED,
        )
        .await;
    let ci = created["service_account"]["id"].clone();
    let made = admin
        .call_ok(
            "keys/create",
            json!({"name": "deploy", "service_account_id": ci}),
            StatusCode::CREATED,
        )
        .await;
    let secret = made["secret"].as_str().unwrap().to_string();
    assert_eq!(kept_on(first, &secret).await["role"], "read_write");
    admin
        .at(second)
        .call_ok(
            "service-accounts/update",
            json!({"service_account_id": ci, "role": "read_only"}),
            StatusCode::OK,
        )
        .await;
    let me = first
        .with_key(&secret)
        .call_ok("auth/me", json!({}), StatusCode::OK)
        .await;
    assert_eq!(me["role"], "read_only", "the kept key follows the new role");

    kept_on(first, &secret).await;
    admin
        .at(second)
        .call_ok(
            "service-accounts/delete",
            json!({"service_account_id": ci}),
            StatusCode::OK,
        )
        .await;
    let (status, body) = first
        .with_key(&secret)
        .call_json("auth/me", json!({}))
        .await;
    assert_error(status, &body, 401, "unauthenticated");
}

/// A revocation answers as soon as the other live instance acknowledged that it forgot — not
/// after a cache window — and that instance refuses the key on the very next request. An
/// instance that is live but silent (here: a heartbeat row kept fresh for an instance that does
/// not listen, as a paused process leaves it) makes the writer fall back to the window.
#[tokio::test]
async fn a_revocation_answers_once_every_live_instance_has_acknowledged() {
    use std::time::{Duration, Instant};
    let window = Duration::from_millis(500);
    let Some(instances) = spawn_instances(Engine::Postgres, 2, |config| {
        config.key_cache_window = Some(window);
    })
    .await
    else {
        postgres_did_not_answer();
        return;
    };
    let (first, second) = (&instances[0], &instances[1]);
    let (owner, _) = first.signup("acknowledged@example.com").await;
    let revoke_kept = |name: &'static str| {
        let owner = owner.clone();
        async move {
            let (key, secret) = owner.create_key(json!({"name": name})).await;
            kept_on(first, &secret).await;
            // Both instances must be live (a heartbeat each) before the change.
            tokio::time::sleep(window / 2).await;
            let started = Instant::now();
            owner
                .at(second)
                .call_ok("keys/revoke", json!({"key_id": key["id"]}), StatusCode::OK)
                .await;
            let took = started.elapsed();
            let (status, body) = first
                .with_key(&secret)
                .call_json("auth/me", json!({}))
                .await;
            assert_error(status, &body, 401, "unauthenticated");
            took
        }
    };
    let took = revoke_kept("acknowledged").await;
    assert!(
        took < Duration::from_millis(300),
        "acknowledged in {took:?}; the window's wait is {:?}",
        window + Duration::from_millis(50)
    );

    // A third, silent instance that looks alive.
    let pool = first.state.pool.clone();
    let keep_alive = tokio::spawn(async move {
        loop {
            sqlx::query(
                "INSERT INTO key_check_instances (id, seen_at) \
                 VALUES ('ins_paused', (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT) \
                 ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
            )
            .execute(&pool)
            .await
            .unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let took = revoke_kept("silent").await;
    keep_alive.abort();
    assert!(
        took >= window + Duration::from_millis(50),
        "with a silent live instance the writer waits the window: {took:?}"
    );
}
