//! What one API-key verification costs, next to one argon2id password verification.
//!
//! Run: `cargo bench --features ssr --bench key_verification`
//!
//! - `key/format_and_hmac`: parse, checksum and HMAC-SHA256 under the pepper (no I/O).
//! - `key/full_verification`: the whole bearer path of every request — the above plus the one
//!   indexed query that reads the key and its owner's current role (SQLite, on disk, WAL).
//! - `password/argon2id_verify`: one password check with the parameters keyward uses.

use criterion::{criterion_group, criterion_main, Criterion};
use keyward::host;
use keyward::server::config::Config;
use keyward::server::keys::check;
use keyward::server::keys::secret::KeySecret;
use keyward::server::request::RequestHead;
use keyward::server::respond::AnswerHeaders;
use keyward::server::signin::passwords::Passwords;
use std::hint::black_box;

fn benchmarks(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let data_dir = std::env::temp_dir().join(format!("keyward-bench-{}", std::process::id()));
    let leptos_options = leptos::config::get_configuration(Some("Cargo.toml"))
        .unwrap()
        .leptos_options;
    let server = runtime
        .block_on(host::router::build(
            Config::for_tests(&data_dir, None),
            leptos_options,
        ))
        .unwrap();
    let state = server.state.clone();

    // A real account, member and key, created through the same code the API uses.
    let secret = runtime.block_on(async {
        use keyward::domain::time::now_millis;
        use keyward::domain::{
            audit::AuditAction,
            ids::{AccountId, KeyId, UserId},
        };
        use keyward::server::audit::{Actor, Event};
        use keyward::server::stores;
        let pool = &state.pool;
        let (user, account, now) = (UserId::generate(), AccountId::generate(), now_millis());
        let event = |action| {
            Event::new(
                &state.key_hasher,
                &account,
                action,
                Actor::cli(),
                Default::default(),
            )
        };
        stores::accounts::create_with_admin(
            pool,
            &stores::accounts::NewAccount {
                user_id: &user,
                account_id: &account,
                email: "bench@example.com",
                password_hash: "not-a-hash",
                account_name: "Bench",
            },
            event(AuditAction::AccountCreated),
        )
        .await
        .unwrap();
        let membership = stores::accounts::membership(pool, &account, &user)
            .await
            .unwrap()
            .unwrap();
        let secret = KeySecret::generate();
        stores::keys::insert(
            pool,
            &stores::keys::NewKey {
                id: &KeyId::generate(),
                account_id: &account,
                owner: stores::keys::Owner::Person {
                    user_id: &user,
                    membership_id: Some(&membership.id),
                },
                created_by_key_id: None,
                created_by_user: None,
                name: "bench",
                secret_hash: &state.key_hasher.hash(&secret),
                hint: &secret.hint(),
                role_cap: None,
                now,
                expires_at: None,
                allowed_cidrs: &[],
                rate_limit_per_minute: None,
                grant: &keyward::domain::Grant::default(),
            },
            event(AuditAction::KeyCreated),
        )
        .await
        .unwrap();
        secret.reveal_once()
    });

    c.bench_function("key/format_and_hmac", |b| {
        b.iter(|| {
            let parsed = KeySecret::parse_user_key(black_box(&secret)).unwrap();
            black_box(state.key_hasher.hash(&parsed))
        })
    });
    let head = RequestHead::default();
    c.bench_function("key/full_verification", |b| {
        b.to_async(&runtime).iter(|| async {
            let caller = check::from_key(
                &state,
                black_box(&secret),
                &head,
                &mut AnswerHeaders::default(),
            )
            .await
            .unwrap();
            black_box(caller.role)
        })
    });

    let passwords = Passwords::new().unwrap();
    let hash = runtime
        .block_on(passwords.hash("correct horse battery staple"))
        .unwrap();
    let mut group = c.benchmark_group("password");
    group.sample_size(20);
    group.bench_function("argon2id_verify", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(
                passwords
                    .verify("correct horse battery staple", Some(&hash))
                    .await
                    .unwrap(),
            )
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&data_dir);
}

criterion_group!(benches, benchmarks);
criterion_main!(benches);
