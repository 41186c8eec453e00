//! Single sign-on against a real OpenID provider: npm `oidc-provider` (OpenID Certified), run
//! from `end2end/fixtures/oidc-provider.mjs` (installed by `scripts/bootstrap.sh --e2e`). A
//! browser-like client goes through keyward's `/auth/oidc/start`, the provider's sign-in form
//! and keyward's callback, as a person would; the attacks replay, forge and cross those steps.

use crate::support::*;
use keyward::domain::Role;
use keyward::server::config::{OidcClientSecret, OidcSettings};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The provider, started once for the test process; it exits when its stdin closes (the test
/// process ends).
struct Provider {
    issuer: String,
    _process: Mutex<(Child, ChildStdin)>,
}

fn provider() -> &'static str {
    static PROVIDER: OnceLock<Provider> = OnceLock::new();
    &PROVIDER
        .get_or_init(|| {
            let script = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/end2end/fixtures/oidc-provider.mjs"
            );
            let modules = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/end2end/node_modules/oidc-provider"
            );
            assert!(
                std::path::Path::new(modules).exists(),
                "the test OpenID provider is not installed: run scripts/bootstrap.sh --e2e \
                 (it installs end2end's npm packages, oidc-provider among them)"
            );
            let mut child = Command::new("node")
                .arg(script)
                .arg("0")
                .arg("--exit-with-stdin")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("node runs the test OpenID provider");
            let stdin = child.stdin.take().unwrap();
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let issuer = lines
                .find_map(|line| line.ok()?.strip_prefix("listening ").map(str::to_string))
                .expect("the provider says where it listens");
            // Whatever else it prints is read (a closed pipe would end it at its next line).
            std::thread::spawn(move || lines.for_each(drop));
            Provider {
                issuer,
                _process: Mutex::new((child, stdin)),
            }
        })
        .issuer
}

/// Registers keyward at the provider with its callback under `address` (dynamic client
/// registration, as an operator registers keyward at Okta or Entra ID by hand).
async fn register_client(address: &str) -> (String, String) {
    let registered: Value = Client::new()
        .post(format!("{}/reg", provider()))
        .json(&json!({
            "redirect_uris": [format!("{address}/auth/oidc/callback")],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        registered["client_id"].as_str().unwrap().to_string(),
        registered["client_secret"].as_str().unwrap().to_string(),
    )
}

/// Sets the claims the provider gives `login` (by default: its email, verified).
async fn set_claims(login: &str, claims: Value) {
    let answer = Client::new()
        .put(format!("{}/test/users/{login}", provider()))
        .json(&claims)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
}

/// keyward with single sign-on through the test provider, on `engine`; roles come from the
/// `groups` claim (`keyward-admins` is Admin, `keyward-readers` Read only).
pub async fn spawn_with_sso(engine: Engine) -> Option<TestApp> {
    let (listener, address) = free_address().await;
    // Named `localhost`: the public URL is also the passkeys' relying party, which may not be
    // an IP address. Browsers (and these tests) then use that name throughout.
    let address = address.replace("127.0.0.1", "localhost");
    let (client_id, client_secret) = register_client(&address).await;
    let mut app = spawn_app_on(listener, engine, |config| {
        config.public_url = Some(address.clone());
        config.oidc = Some(OidcSettings {
            issuer: provider().to_string(),
            client_id,
            client_secret: Some(OidcClientSecret(client_secret)),
            role_claim: Some("groups".to_string()),
            role_values: vec![
                ("keyward-admins".to_string(), Role::Admin),
                ("keyward-readers".to_string(), Role::ReadOnly),
            ],
        });
    })
    .await?;
    app.address = address;
    Some(app)
}

/// Runs `test` on SQLite, then on PostgreSQL, with single sign-on.
async fn on_each_engine_with_sso<F, Fut>(test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    test(
        spawn_with_sso(Engine::Sqlite)
            .await
            .expect("SQLite always works"),
    )
    .await;
    match spawn_with_sso(Engine::Postgres).await {
        Some(app) => test(app).await,
        None => postgres_did_not_answer(),
    }
}

/// A browser: keeps cookies for keyward and the provider, follows no redirect by itself.
fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(response: &reqwest::Response, base: &str) -> String {
    let location = response.headers()["location"].to_str().unwrap();
    if location.starts_with("http") {
        location.to_string()
    } else {
        format!("{base}{location}")
    }
}

/// Goes from keyward's start through the provider's sign-in form as `login`, and returns the
/// callback URL the provider sends the browser to (not yet visited).
async fn through_provider(browser: &Client, app: &TestApp, login: &str) -> String {
    let started = browser
        .get(app.url("/auth/oidc/start"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let mut next = location(&started, provider());
    assert!(next.starts_with(provider()), "to the provider: {next}");
    assert!(next.contains("code_challenge_method=S256") && next.contains("nonce="));
    for _ in 0..10 {
        if next.starts_with(&app.address) {
            return next;
        }
        let page = browser.get(&next).send().await.unwrap();
        if page.status().is_redirection() {
            next = location(&page, provider());
            continue;
        }
        let html = page.text().await.unwrap();
        let action = html
            .split("action=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the provider's sign-in form")
            .to_string();
        let action = if action.starts_with("http") {
            action
        } else {
            format!("{}{action}", provider())
        };
        let submitted = browser
            .post(action)
            .form(&[("prompt", "login"), ("login", login), ("password", "any")])
            .send()
            .await
            .unwrap();
        assert!(
            submitted.status().is_redirection(),
            "{}",
            submitted.status()
        );
        next = location(&submitted, provider());
    }
    panic!("the provider never sent the browser back");
}

/// Visits the callback; returns where keyward sent the browser.
async fn callback(browser: &Client, url: &str) -> String {
    let answer = browser.get(url).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{url}");
    answer.headers()["location"].to_str().unwrap().to_string()
}

/// The browser as a caller of the API (its cookies, keyward's address).
fn as_caller(browser: &Client, app: &TestApp) -> Caller {
    Caller {
        client: browser.clone(),
        address: app.address.clone(),
        bearer: None,
    }
}

/// The trail's events of `action`, newest first, as the account's Admin reads them.
async fn events(admin: &Caller, action: &str) -> Vec<Value> {
    let listed = admin
        .call_ok("audit/list", json!({"action": action}), StatusCode::OK)
        .await;
    listed["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_person_signs_in_through_the_provider_linked_once_by_a_verified_email() {
    on_each_engine_with_sso(|app| async move {
        let email = format!("ada.{:?}@example.com", app.engine).to_lowercase();
        let (admin, _) = app.signup(&email).await;
        let login = format!("ada-subject-{:?}", app.engine);
        set_claims(&login, json!({"email": email, "email_verified": true})).await;

        let first = browser();
        let back = through_provider(&first, &app, &login).await;
        assert!(back.contains("state=") && back.contains("code="), "{back}");
        assert_eq!(callback(&first, &back).await, "/keys");
        let me = as_caller(&first, &app)
            .call_ok("auth/me", json!({}), StatusCode::OK)
            .await;
        assert_eq!(me["user"]["email"], email);
        assert_eq!(me["via"], "session");
        let linked = events(&admin, "sso.linked").await;
        assert_eq!(linked.len(), 1, "{linked:?}");
        assert_eq!(linked[0]["details"]["issuer"], provider());
        let signed_in = events(&admin, "session.signed_in").await;
        assert_eq!(signed_in[0]["details"]["method"], "sso");

        // Linked by the subject from now on: a new email at the provider changes nothing.
        set_claims(
            &login,
            json!({"email": "someone.else@example.com", "email_verified": true}),
        )
        .await;
        let again = browser();
        let back = through_provider(&again, &app, &login).await;
        assert_eq!(callback(&again, &back).await, "/keys");
        let me = as_caller(&again, &app)
            .call_ok("auth/me", json!({}), StatusCode::OK)
            .await;
        assert_eq!(me["user"]["email"], email);
        assert_eq!(events(&admin, "sso.linked").await.len(), 1, "linked once");

        // The page asked for survives the trip (this browser is signed in at the provider, which
        // sends it straight back).
        let deep = first;
        let started = deep
            .get(app.url("/auth/oidc/start?return_to=/keys/key_x"))
            .send()
            .await
            .unwrap();
        let mut next = location(&started, provider());
        while !next.starts_with(&app.address) {
            let page = deep.get(&next).send().await.unwrap();
            assert!(
                page.status().is_redirection(),
                "signed in at the provider already"
            );
            next = location(&page, provider());
        }
        assert_eq!(callback(&deep, &next).await, "/keys/key_x");
    })
    .await;
}

#[tokio::test]
async fn a_forged_state_a_replayed_callback_or_a_replayed_code_signs_no_one_in() {
    on_each_engine_with_sso(|app| async move {
        let email = format!("grace.{:?}@example.com", app.engine).to_lowercase();
        app.signup(&email).await;
        let login = format!("grace-subject-{:?}", app.engine);
        set_claims(&login, json!({"email": email, "email_verified": true})).await;
        let me = |browser: &Client| {
            let caller = as_caller(browser, &app);
            async move { caller.call("auth/me", json!({})).await.status() }
        };

        // A callback whose state was not this browser's: refused, and the sign-in it started is
        // spent (it is taken out of the session before anything is checked).
        let victim = browser();
        let back = through_provider(&victim, &app, &login).await;
        let forged = back.replacen("state=", "state=forged", 1);
        assert_eq!(callback(&victim, &forged).await, "/login?sso_error=state");
        assert_eq!(me(&victim).await, StatusCode::UNAUTHORIZED);
        assert_eq!(callback(&victim, &back).await, "/login?sso_error=state");
        assert_eq!(me(&victim).await, StatusCode::UNAUTHORIZED);

        // Login CSRF: a callback the attacker got for themselves, opened in another browser
        // that started nothing.
        let attacker = browser();
        let attackers_callback = through_provider(&attacker, &app, &login).await;
        let other = browser();
        assert_eq!(
            callback(&other, &attackers_callback).await,
            "/login?sso_error=state"
        );
        assert_eq!(me(&other).await, StatusCode::UNAUTHORIZED);

        // The callback works once: replayed in the same browser, it matches nothing more.
        assert_eq!(callback(&attacker, &attackers_callback).await, "/keys");
        assert_eq!(me(&attacker).await, StatusCode::OK);
        assert_eq!(
            callback(&attacker, &attackers_callback).await,
            "/login?sso_error=state"
        );

        // A used code, presented again with a state this browser did start: the provider
        // refuses it (and the PKCE verifier is not the one it was issued for either).
        let replayer = browser();
        let fresh = replayer
            .get(app.url("/auth/oidc/start"))
            .send()
            .await
            .unwrap();
        let fresh = location(&fresh, provider());
        let state = fresh
            .split("state=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        let code = attackers_callback
            .split("code=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        let replayed = app.url(&format!("/auth/oidc/callback?code={code}&state={state}"));
        assert_eq!(
            callback(&replayer, &replayed).await,
            "/login?sso_error=rejected"
        );
        assert_eq!(me(&replayer).await, StatusCode::UNAUTHORIZED);

        // The provider's own refusal (the person cancelled) is said as such.
        let cancelled = browser();
        cancelled
            .get(app.url("/auth/oidc/start"))
            .send()
            .await
            .unwrap();
        let denied = app.url("/auth/oidc/callback?error=access_denied&state=whatever");
        assert_eq!(
            callback(&cancelled, &denied).await,
            "/login?sso_error=denied"
        );
        assert_eq!(me(&cancelled).await, StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn an_unverified_email_links_no_login_and_an_unknown_one_makes_none() {
    on_each_engine_with_sso(|app| async move {
        let victim = format!("victim.{:?}@example.com", app.engine).to_lowercase();
        let (admin, _) = app.signup(&victim).await;
        // Anyone can claim any email at many providers; unverified, it links nothing.
        let mallory = format!("mallory-{:?}", app.engine);
        set_claims(&mallory, json!({"email": victim, "email_verified": false})).await;
        let browser_ = browser();
        let back = through_provider(&browser_, &app, &mallory).await;
        assert_eq!(
            callback(&browser_, &back).await,
            "/login?sso_error=unverified_email"
        );
        let caller = as_caller(&browser_, &app);
        assert_eq!(
            caller.call("auth/me", json!({})).await.status(),
            StatusCode::UNAUTHORIZED
        );
        // A missing email_verified is not a verified email either.
        set_claims(&mallory, json!({"email": victim})).await;
        let again = browser();
        let back = through_provider(&again, &app, &mallory).await;
        assert_eq!(
            callback(&again, &back).await,
            "/login?sso_error=unverified_email"
        );
        assert!(events(&admin, "sso.linked").await.is_empty());

        // Verified, but nobody here has it: single sign-on makes no logins.
        let stranger = format!("stranger-{:?}", app.engine);
        set_claims(
            &stranger,
            json!({"email": "nobody.here@example.com", "email_verified": true}),
        )
        .await;
        let third = browser();
        let back = through_provider(&third, &app, &stranger).await;
        assert_eq!(callback(&third, &back).await, "/login?sso_error=no_login");
        let (status, _) = app
            .anonymous()
            .call_json(
                "auth/login",
                json!({"email": "nobody.here@example.com", "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "no login was made");
    })
    .await;
}

#[tokio::test]
async fn an_account_that_requires_sso_admits_only_sessions_that_came_through_it() {
    on_each_engine_with_sso(|app| async move {
        let email = format!("lin.{:?}@example.com", app.engine).to_lowercase();
        let (password_session, signed_up) = app.signup(&email).await;
        let account_id = signed_up["account"]["id"].as_str().unwrap().to_string();
        let (_, key) = password_session.create_key(json!({"name": "ci"})).await;

        // Turned on only by someone who came through it, so nobody shuts themselves out.
        let (status, body) = password_session
            .call_json("account/set-policy", json!({"require_sso": true}))
            .await;
        assert_error(status, &body, 409, "conflict");
        let login = format!("lin-subject-{:?}", app.engine);
        set_claims(&login, json!({"email": email, "email_verified": true})).await;
        let sso_browser = browser();
        let back = through_provider(&sso_browser, &app, &login).await;
        assert_eq!(callback(&sso_browser, &back).await, "/keys");
        let sso_session = as_caller(&sso_browser, &app);
        let policy = sso_session
            .call_ok(
                "account/set-policy",
                json!({"require_sso": true}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(policy["policy"]["require_sso"], true);
        let settings = sso_session
            .call_ok("account/sso", json!({}), StatusCode::OK)
            .await;
        assert_eq!(settings["sso"]["issuer"], provider());
        assert_eq!(settings["sso"]["require_sso"], true);

        // The password session stops on its next request; a password opens none.
        let (status, body) = password_session.call_json("auth/me", json!({})).await;
        assert_error(status, &body, 403, "sso_required");
        let (status, body) = app
            .anonymous()
            .call_json("auth/login", json!({"email": email, "password": PASSWORD}))
            .await;
        assert_error(status, &body, 403, "sso_required");
        // Keys go on: the policy is about signing in.
        app.with_key(&key)
            .call_ok("auth/me", json!({}), StatusCode::OK)
            .await;

        // The break-glass path, on the server: this Admin may use their password again.
        keyward::host::cli::break_glass(app.state.config.clone(), &account_id, &email, true)
            .await
            .unwrap();
        let glass = app.anonymous();
        glass
            .call_ok(
                "auth/login",
                json!({"email": email, "password": PASSWORD}),
                StatusCode::OK,
            )
            .await;
        glass.call_ok("auth/me", json!({}), StatusCode::OK).await;
        let broken = events(&sso_session, "sso.password_allowed").await;
        assert_eq!(broken[0]["actor"]["type"], "cli");
        keyward::host::cli::break_glass(app.state.config.clone(), &account_id, &email, false)
            .await
            .unwrap();
        let (status, _) = glass.call_json("auth/me", json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "taken back");
    })
    .await;
}

#[tokio::test]
async fn where_sso_is_required_the_providers_group_claim_sets_the_role() {
    on_each_engine_with_sso(|app| async move {
        let admin_email = format!("root.{:?}@example.com", app.engine).to_lowercase();
        let (_, _) = app.signup(&admin_email).await;
        let admin_login = format!("root-subject-{:?}", app.engine);
        set_claims(
            &admin_login,
            json!({"email": admin_email, "email_verified": true, "groups": ["keyward-admins"]}),
        )
        .await;
        let admin_browser = browser();
        let back = through_provider(&admin_browser, &app, &admin_login).await;
        callback(&admin_browser, &back).await;
        let admin = as_caller(&admin_browser, &app);
        let member_email = format!("bo.{:?}@example.com", app.engine).to_lowercase();
        app.add_member(&admin, &member_email, "read_write").await;
        admin
            .call_ok("account/set-policy", json!({"require_sso": true}), StatusCode::OK)
            .await;

        let member_login = format!("bo-subject-{:?}", app.engine);
        set_claims(
            &member_login,
            json!({"email": member_email, "email_verified": true, "groups": ["staff", "keyward-readers"]}),
        )
        .await;
        let member_browser = browser();
        let back = through_provider(&member_browser, &app, &member_login).await;
        callback(&member_browser, &back).await;
        let me = as_caller(&member_browser, &app)
            .call_ok("auth/me", json!({}), StatusCode::OK)
            .await;
        assert_eq!(me["role"], "read_only", "{me}");
        let changed = events(&admin, "member.role_changed").await;
        assert_eq!(changed[0]["actor"]["type"], "sso");
        assert_eq!(changed[0]["details"]["to"], "read_only");
    })
    .await;
}

#[tokio::test]
async fn without_single_sign_on_the_start_says_so() {
    on_each_engine(|app| async move {
        let answer = browser()
            .get(app.url("/auth/oidc/start"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            answer.headers()["location"],
            "/login?sso_error=not_configured"
        );
        let (admin, _) = app
            .signup(&format!("nosso.{:?}@example.com", app.engine))
            .await;
        let (status, body) = admin
            .call_json("account/set-policy", json!({"require_sso": true}))
            .await;
        assert_error(status, &body, 409, "conflict");
    })
    .await;
}
