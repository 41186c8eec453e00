//! Starts the real keyward router on port 0 against a fresh database, and talks to it over
//! HTTP like any program would. Each test runs once on SQLite and once on PostgreSQL at
//! `KEYWARD_TEST_POSTGRES_URL`; a PostgreSQL that does not answer fails the test, unless
//! `KEYWARD_SKIP_POSTGRES=1` says to skip that half (and the skip is printed).

use keyward::host;
use keyward::server::config::Config;
use keyward::server::AppState;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};
use std::{
    future::Future,
    sync::{Arc, Mutex, OnceLock},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub address: String,
    pub state: AppState,
    pub engine: Engine,
}

pub const PASSWORD: &str = "correct horse battery staple";

/// Runs `test` on SQLite, then on PostgreSQL.
pub async fn on_each_engine<F, Fut>(test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    on_each_engine_with(|_| {}, test).await
}

/// Like [`on_each_engine`], with a configuration changed by `configure` first.
pub async fn on_each_engine_with<C, F, Fut>(configure: C, test: F)
where
    C: Fn(&mut Config),
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    test(
        spawn_app_with(Engine::Sqlite, &configure)
            .await
            .expect("SQLite always works"),
    )
    .await;
    match spawn_app_with(Engine::Postgres, &configure).await {
        Some(app) => test(app).await,
        None => postgres_did_not_answer(),
    }
}

/// A PostgreSQL half that could not start: skipped when `KEYWARD_SKIP_POSTGRES=1` says so,
/// else a failure.
pub fn postgres_did_not_answer() {
    if std::env::var("KEYWARD_SKIP_POSTGRES").as_deref() == Ok("1") {
        eprintln!("SKIPPED on PostgreSQL (KEYWARD_SKIP_POSTGRES=1)");
    } else {
        panic!(
            "PostgreSQL does not answer at KEYWARD_TEST_POSTGRES_URL: start it, or set \
             KEYWARD_SKIP_POSTGRES=1 to run the SQLite half only"
        );
    }
}

fn random_suffix() -> String {
    keyward::domain::random::random_base62(12).to_lowercase()
}

/// A throw-away PostgreSQL database, or `None` when the server does not answer.
async fn fresh_postgres_database() -> Option<String> {
    use sqlx::Connection;
    let admin_url = std::env::var("KEYWARD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let connect = sqlx::PgConnection::connect(&admin_url);
    let mut connection = tokio::time::timeout(std::time::Duration::from_secs(3), connect)
        .await
        .ok()?
        .ok()?;
    drop_stale_test_databases(&mut connection).await;
    let name = format!("keyward_test_{}_{}", unix_seconds(), random_suffix());
    sqlx::Executor::execute(&mut connection, format!("CREATE DATABASE {name}").as_str())
        .await
        .ok()?;
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(base, _)| base);
    Some(format!("{base}/{name}"))
}

/// Everything any test's server logged, at debug level, so tests can prove a secret never
/// reaches the logs.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = SharedWriter(buffer.clone());
        let _ = tracing_subscriber::fmt()
            // cookie_store is the tests' own HTTP client, which logs the cookies it receives.
            .with_env_filter("debug,hyper=info,h2=info,cookie_store=info")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        buffer
    })
}

#[derive(Clone)]
struct SharedWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Drops the databases earlier runs left behind (named with their creation time), once they are
/// an hour old: no test runs that long, so none of them is in use.
async fn drop_stale_test_databases(connection: &mut sqlx::PgConnection) {
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'keyward_test_%'")
            .fetch_all(&mut *connection)
            .await
            .unwrap_or_default();
    for (name,) in names {
        let created = name
            .split('_')
            .nth(2)
            .and_then(|secs| secs.parse::<u64>().ok())
            .unwrap_or(0);
        if created + 3600 < unix_seconds() {
            let _ = sqlx::Executor::execute(
                &mut *connection,
                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
            )
            .await;
        }
    }
}

/// A test configuration with a fresh data directory and, on PostgreSQL, a fresh database;
/// `None` when PostgreSQL does not answer.
async fn fresh_config(engine: Engine) -> Option<Config> {
    let data_dir = std::env::temp_dir().join(format!("keyward-test-{}", random_suffix()));
    std::fs::create_dir_all(&data_dir).unwrap();
    let database_url = match engine {
        Engine::Sqlite => None,
        Engine::Postgres => Some(fresh_postgres_database().await?),
    };
    Some(Config::for_tests(&data_dir, database_url))
}

pub async fn spawn_app_with(engine: Engine, configure: impl Fn(&mut Config)) -> Option<TestApp> {
    let mut config = fresh_config(engine).await?;
    configure(&mut config);
    Some(start(config, engine).await)
}

/// `count` instances of the app on one database and one data directory (so one pepper), as
/// several instances behind a load balancer run; `None` when PostgreSQL does not answer.
pub async fn spawn_instances(
    engine: Engine,
    count: usize,
    configure: impl Fn(&mut Config),
) -> Option<Vec<TestApp>> {
    let first = spawn_app_with(engine, &configure).await?;
    let mut config = first.state.config.clone();
    configure(&mut config);
    let mut instances = vec![first];
    for _ in 1..count {
        instances.push(start(config.clone(), engine).await);
    }
    Some(instances)
}

/// The Redis that tests share limits through (`KEYWARD_TEST_REDIS_URL`, by default the one on
/// 127.0.0.1:6379), with a prefix of its own so tests never see each other's budgets. A Redis
/// that does not answer fails the test, unless `KEYWARD_SKIP_REDIS=1` says to skip it.
pub async fn test_redis() -> Option<(keyward::server::config::RedisUrl, String)> {
    let url = std::env::var("KEYWARD_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string());
    let answers = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        tokio::net::TcpStream::connect(url.trim_start_matches("redis://")),
    )
    .await
    .is_ok_and(|connected| connected.is_ok());
    if !answers {
        if std::env::var("KEYWARD_SKIP_REDIS").as_deref() == Ok("1") {
            eprintln!("SKIPPED: no Redis at {url} (KEYWARD_SKIP_REDIS=1)");
            return None;
        }
        panic!("Redis does not answer at {url}: start it, or set KEYWARD_SKIP_REDIS=1");
    }
    let prefix = format!("keyward-test:{}:", random_suffix());
    Some((keyward::server::config::RedisUrl(url), prefix))
}

/// Starts the app on an existing SQLite data directory (one the CLI prepared, say).
pub async fn spawn_app_in(data_dir: &std::path::Path) -> TestApp {
    start(Config::for_tests(data_dir, None), Engine::Sqlite).await
}

/// A listener on a free port of loopback, and the app address it gives: for a configuration
/// that needs the app's own address before it starts (single sign-on's callback is registered
/// at the identity provider under it). [`spawn_app_on`] starts the app on it.
pub async fn free_address() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    (listener, address)
}

/// Like [`spawn_app_with`], on a listener from [`free_address`].
pub async fn spawn_app_on(
    listener: tokio::net::TcpListener,
    engine: Engine,
    configure: impl FnOnce(&mut Config),
) -> Option<TestApp> {
    let mut config = fresh_config(engine).await?;
    configure(&mut config);
    Some(start_on(listener, config, engine).await)
}

async fn start(config: Config, engine: Engine) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_on(listener, config, engine).await
}

async fn start_on(listener: tokio::net::TcpListener, config: Config, engine: Engine) -> TestApp {
    log_buffer();
    let mut leptos_options = leptos::config::get_configuration(Some("Cargo.toml"))
        .unwrap()
        .leptos_options;
    // Hashed bundle names come from the hash.txt cargo-leptos writes beside the server binary,
    // which a test binary does not have.
    leptos_options.hash_files = false;
    let server = host::router::build(config, leptos_options)
        .await
        .expect("the app builds");
    let state = server.state.clone();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(host::router::serve(listener, server));
    TestApp {
        address,
        state,
        engine,
    }
}

/// A caller: a cookie-keeping browser-like client, optionally with a bearer key.
#[derive(Clone)]
pub struct Caller {
    pub client: Client,
    pub address: String,
    pub bearer: Option<String>,
}

impl TestApp {
    pub fn anonymous(&self) -> Caller {
        Caller {
            client: Client::builder().cookie_store(true).build().unwrap(),
            address: self.address.clone(),
            bearer: None,
        }
    }

    /// A browser-like client whose requests come from another loopback address (127.0.0.0/8
    /// is all this machine), as a different client would.
    pub fn anonymous_from(&self, source: &str) -> Caller {
        Caller {
            client: Client::builder()
                .cookie_store(true)
                .local_address(Some(source.parse().unwrap()))
                .build()
                .unwrap(),
            address: self.address.clone(),
            bearer: None,
        }
    }

    /// A client behind a trusted proxy that says the request came from `address`
    /// (`X-Forwarded-For`); the app must trust 127.0.0.1 as a proxy for it to count.
    pub fn anonymous_forwarded_for(&self, address: &str) -> Caller {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", address.parse().unwrap());
        Caller {
            client: Client::builder()
                .cookie_store(true)
                .default_headers(headers)
                .build()
                .unwrap(),
            address: self.address.clone(),
            bearer: None,
        }
    }

    pub fn with_key(&self, secret: &str) -> Caller {
        Caller {
            bearer: Some(secret.to_string()),
            ..self.anonymous()
        }
    }

    /// Signs up a new person with a new account in which they are Admin.
    pub async fn signup(&self, email: &str) -> (Caller, Value) {
        let caller = self.anonymous();
        let body = caller
            .call_ok(
                "auth/signup",
                json!({"email": email, "password": PASSWORD, "account_name": format!("{email}'s account")}),
                StatusCode::CREATED,
            )
            .await;
        (caller, body)
    }

    /// Invites `email` into the admin's account with `role` and accepts as a new person.
    pub async fn add_member(&self, admin: &Caller, email: &str, role: &str) -> (Caller, Value) {
        let invite = admin.invite(email, role).await;
        let token = invite_token(&invite);
        let member = self.anonymous();
        let body = member
            .call_ok(
                "invites/accept",
                json!({"token": token, "password": PASSWORD}),
                StatusCode::OK,
            )
            .await;
        (member, body)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl Caller {
    /// The same client, now sending `secret` as its bearer key.
    pub fn using_key(&self, secret: &str) -> Caller {
        Caller {
            bearer: Some(secret.to_string()),
            ..self.clone()
        }
    }

    /// The same client (cookies, key) talking to another instance.
    pub fn at(&self, instance: &TestApp) -> Caller {
        Caller {
            address: instance.address.clone(),
            ..self.clone()
        }
    }

    pub async fn call(&self, operation: &str, body: Value) -> Response {
        let mut request = self
            .client
            .post(format!("{}/api/v1/{operation}", self.address))
            .json(&body);
        if let Some(secret) = &self.bearer {
            request = request.bearer_auth(secret);
        }
        request.send().await.unwrap()
    }

    /// Calls and returns (status, JSON body).
    pub async fn call_json(&self, operation: &str, body: Value) -> (StatusCode, Value) {
        let response = self.call(operation, body).await;
        let status = response.status();
        let text = response.text().await.unwrap();
        let json =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{operation}: not JSON: {text}"));
        (status, json)
    }

    pub async fn call_ok(&self, operation: &str, body: Value, expected: StatusCode) -> Value {
        let (status, json) = self.call_json(operation, body).await;
        assert_eq!(status, expected, "{operation}: {json}");
        json
    }

    /// Invites `email` with `role` into this caller's account; returns the invitation.
    pub async fn invite(&self, email: &str, role: &str) -> Value {
        self.call_ok(
            "members/invite",
            json!({"email": email, "role": role}),
            StatusCode::CREATED,
        )
        .await
    }

    /// Creates a key for this caller and returns (key view, secret).
    pub async fn create_key(&self, body: Value) -> (Value, String) {
        let created = self.call_ok("keys/create", body, StatusCode::CREATED).await;
        let secret = created["secret"].as_str().unwrap().to_string();
        (created["key"].clone(), secret)
    }
}

/// Asserts a 400 `invalid_input` whose message starts with the name of `field`.
pub fn assert_invalid_field(status: StatusCode, body: &Value, field: &str) {
    assert_error(status, body, 400, "invalid_input");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with(field), "expected {field}: {body}");
}

/// The token at the end of an invitation's link.
pub fn invite_token(invitation: &Value) -> String {
    let url = invitation["invite_url"].as_str().expect("an invite_url");
    url.rsplit('/').next().unwrap().to_string()
}

/// Asserts a failure with the documented envelope.
pub fn assert_error(status: StatusCode, body: &Value, expected_status: u16, expected_code: &str) {
    assert_eq!(status.as_u16(), expected_status, "{body}");
    assert_eq!(body["error"]["code"], expected_code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Calls `auth/me` with `secret` on `instance` until that instance answers the key from memory
/// (its first reading of the key-check counter may still be on its way), and returns the answer.
pub async fn kept_on(instance: &TestApp, secret: &str) -> Value {
    let hash = instance.state.key_hasher.hash_text(secret);
    for _ in 0..100 {
        let me = instance
            .with_key(secret)
            .call_ok("auth/me", json!({}), StatusCode::OK)
            .await;
        if instance.state.key_cache.serves(&hash) {
            return me;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the instance never kept the key");
}
