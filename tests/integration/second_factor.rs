//! Second factors: an authenticator app (codes computed here from the secret keyward showed,
//! as the person's app would), recovery codes, the pending sign-in that calls nothing, step-up
//! and its expiry, and wrong codes sent in parallel.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use totp_rs::{Algorithm, Secret, TOTP};

/// The person's authenticator app: the secret keyward showed, read the way apps read it.
struct App(TOTP);

impl App {
    fn from_enrollment(enrollment: &Value) -> App {
        let secret = enrollment["secret"].as_str().unwrap().to_string();
        let bytes = Secret::Encoded(secret).to_bytes().unwrap();
        App(TOTP::new_unchecked(
            Algorithm::SHA1,
            6,
            1,
            30,
            bytes,
            None,
            String::new(),
        ))
    }

    /// The code `steps` steps of 30 s from now (0: what the app shows).
    fn code(&self, steps: i64) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        self.0.generate((now + steps * 30) as u64)
    }
}

/// Sets up an authenticator for `person`: returns the app and the recovery codes.
async fn enroll(person: &Caller) -> (App, Vec<String>) {
    let enrollment = person
        .call_ok("auth/totp/enroll", json!({}), StatusCode::OK)
        .await;
    let uri = enrollment["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/keyward:"), "{uri}");
    assert!(
        uri.contains(enrollment["secret"].as_str().unwrap()),
        "{uri}"
    );
    assert!(enrollment["qr_code"]
        .as_str()
        .unwrap()
        .starts_with("data:image/svg+xml;base64,"));
    let app = App::from_enrollment(&enrollment);
    let confirmed = person
        .call_ok(
            "auth/totp/confirm",
            json!({"code": app.code(0)}),
            StatusCode::OK,
        )
        .await;
    let codes: Vec<String> = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    (app, codes)
}

/// Signs in with the password only: a new browser holding a pending sign-in.
async fn password_step(app: &TestApp, email: &str) -> Caller {
    let browser = app.anonymous();
    let answer = browser
        .call_ok(
            "auth/login",
            json!({"email": email, "password": PASSWORD}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        answer,
        json!({"second_factor_required": true, "methods": ["totp"]}),
        "no session, no person, no account: only what must follow"
    );
    browser
}

async fn audit_actions(admin: &Caller) -> Vec<String> {
    let events = admin
        .call_ok("audit/list", json!({"limit": 100}), StatusCode::OK)
        .await;
    events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["action"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn with_an_authenticator_the_password_alone_signs_in_no_one_and_each_code_works_once() {
    on_each_engine(|app| async move {
        let email = "ann@second-factor.example";
        let (ann, _) = app.signup(email).await;
        let (authenticator, _) = enroll(&ann).await;
        let factors = ann.call_ok("auth/factors", json!({}), StatusCode::OK).await;
        assert!(factors["totp_enabled_at"].is_string(), "{factors}");
        assert_eq!(factors["recovery_codes_left"], 10);
        // A second authenticator would let a stolen session replace hers.
        let (status, body) = ann.call_json("auth/totp/enroll", json!({})).await;
        assert_error(status, &body, 409, "conflict");

        let browser = password_step(&app, email).await;
        // The pending sign-in is not a session: nothing answers it.
        for (operation, body) in [
            ("auth/me", json!({})),
            ("keys/create", json!({"name": "from a half sign-in"})),
            ("auth/factors", json!({})),
            ("auth/step-up", json!({"password": PASSWORD})),
        ] {
            let (status, body) = browser.call_json(operation, body).await;
            assert_error(status, &body, 401, "unauthenticated");
        }
        // A code without a password step first signs in no one either.
        let stranger = app.anonymous();
        let (status, body) = stranger
            .call_json("auth/second-factor", json!({"code": authenticator.code(1)}))
            .await;
        assert_error(status, &body, 401, "unauthenticated");

        let (status, body) = browser
            .call_json("auth/second-factor", json!({"code": "000000"}))
            .await;
        // (A real code is 000000 once in a million times.)
        if authenticator.code(0) != "000000" && authenticator.code(1) != "000000" {
            assert_error(status, &body, 401, "unauthenticated");
        }
        let (status, body) = browser
            .call_json("auth/second-factor", json!({"code": "12ab"}))
            .await;
        assert_invalid_field(status, &body, "code");

        // The confirmation took this step's code: the next step's is the first one left.
        let code = authenticator.code(1);
        let signed_in = browser
            .call_ok("auth/second-factor", json!({"code": code}), StatusCode::OK)
            .await;
        assert_eq!(signed_in["user"]["email"], email);
        browser.call_ok("auth/me", json!({}), StatusCode::OK).await;

        // The same code again, from another browser that knows the password: refused.
        let replay = password_step(&app, email).await;
        let (status, body) = replay
            .call_json("auth/second-factor", json!({"code": code}))
            .await;
        assert_error(status, &body, 401, "unauthenticated");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("used already"),
            "{body}"
        );
        let (status, _) = replay.call_json("auth/me", json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        let actions = audit_actions(&ann).await;
        for action in [
            "second_factor.totp_enabled",
            "session.signed_in",
            "session.sign_in_failed",
        ] {
            assert!(
                actions.iter().any(|a| a == action),
                "{action} in {actions:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn recovery_codes_sign_in_once_each_and_renewing_them_retires_the_old_ones() {
    on_each_engine(|app| async move {
        let email = "bob@second-factor.example";
        let (bob, _) = app.signup(email).await;
        let (_, codes) = enroll(&bob).await;

        let browser = password_step(&app, email).await;
        browser
            .call_ok(
                "auth/second-factor",
                json!({"recovery_code": codes[0]}),
                StatusCode::OK,
            )
            .await;
        let factors = browser
            .call_ok("auth/factors", json!({}), StatusCode::OK)
            .await;
        assert_eq!(factors["recovery_codes_left"], 9);

        let again = password_step(&app, email).await;
        let (status, body) = again
            .call_json("auth/second-factor", json!({"recovery_code": codes[0]}))
            .await;
        assert_error(status, &body, 401, "unauthenticated");
        // Typed from paper: capitals, no dash, spaces around.
        let typed = format!("  {}  ", codes[1].replace('-', "").to_uppercase());
        again
            .call_ok(
                "auth/second-factor",
                json!({"recovery_code": typed}),
                StatusCode::OK,
            )
            .await;

        let renewed = bob
            .call_ok("auth/recovery-codes/renew", json!({}), StatusCode::OK)
            .await;
        let renewed: Vec<String> = renewed["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|code| code.as_str().unwrap().to_string())
            .collect();
        assert_eq!(renewed.len(), 10);
        assert!(renewed.iter().all(|code| !codes.contains(code)));
        let old = password_step(&app, email).await;
        let (status, _) = old
            .call_json("auth/second-factor", json!({"recovery_code": codes[2]}))
            .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "an old code stopped working"
        );
        old.call_ok(
            "auth/second-factor",
            json!({"recovery_code": renewed[0]}),
            StatusCode::OK,
        )
        .await;

        let actions = audit_actions(&bob).await;
        assert_eq!(
            actions
                .iter()
                .filter(|a| *a == "second_factor.recovery_code_used")
                .count(),
            3
        );
        assert!(actions
            .iter()
            .any(|a| a == "second_factor.recovery_codes_renewed"));
    })
    .await;
}

#[tokio::test]
async fn factor_changes_need_a_recent_proof_which_expires_and_step_up_renews() {
    on_each_engine_with(
        |config| config.step_up = Duration::from_millis(700),
        |app| async move {
            let email = "cat@second-factor.example";
            let (cat, _) = app.signup(email).await;
            // Signing up proved the password just now.
            let factors = cat.call_ok("auth/factors", json!({}), StatusCode::OK).await;
            assert!(factors["step_up_until"].is_string(), "{factors}");
            let (authenticator, _) = enroll(&cat).await;

            tokio::time::sleep(Duration::from_millis(900)).await;
            for operation in ["auth/totp/remove", "auth/recovery-codes/renew"] {
                let (status, body) = cat.call_json(operation, json!({})).await;
                assert_error(status, &body, 403, "step_up_required");
            }
            let factors = cat.call_ok("auth/factors", json!({}), StatusCode::OK).await;
            assert!(factors["step_up_until"].is_null(), "{factors}");

            let (status, body) = cat
                .call_json("auth/step-up", json!({"password": "not my password"}))
                .await;
            assert_invalid_field(status, &body, "password");
            let (status, body) = cat.call_json("auth/step-up", json!({})).await;
            assert_invalid_field(status, &body, "password");
            let stepped = cat
                .call_ok(
                    "auth/step-up",
                    json!({"code": authenticator.code(1)}),
                    StatusCode::OK,
                )
                .await;
            assert!(stepped["until"].is_string(), "{stepped}");
            cat.call_ok("auth/totp/remove", json!({}), StatusCode::OK)
                .await;

            // Without the authenticator the password signs in again, with a session.
            let browser = app.anonymous();
            let signed_in = browser
                .call_ok(
                    "auth/login",
                    json!({"email": email, "password": PASSWORD}),
                    StatusCode::OK,
                )
                .await;
            assert_eq!(signed_in["user"]["email"], email);
            let actions = audit_actions(&cat).await;
            for action in ["session.stepped_up", "second_factor.totp_removed"] {
                assert!(
                    actions.iter().any(|a| a == action),
                    "{action} in {actions:?}"
                );
            }
        },
    )
    .await;
}

#[tokio::test]
async fn wrong_codes_sent_at_once_meet_the_same_budget_as_one_after_another() {
    on_each_engine(|app| async move {
        let email = "dan@second-factor.example";
        let (dan, _) = app.signup(email).await;
        let (authenticator, _) = enroll(&dan).await;
        let browser = password_step(&app, email).await;
        // Six digits that are none of the live codes.
        let wrong = (0..1_000_000)
            .map(|n| format!("{n:06}"))
            .find(|code| (-1..=2).all(|step| authenticator.code(step) != *code))
            .unwrap();
        let attempts = (0..20).map(|_| {
            let browser = browser.clone();
            let wrong = wrong.clone();
            tokio::spawn(async move {
                browser
                    .call_json("auth/second-factor", json!({"code": wrong}))
                    .await
                    .0
            })
        });
        let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let refused = statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count();
        let throttled = statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert_eq!(refused, 5, "five wrong codes are checked: {statuses:?}");
        assert_eq!(throttled, 15, "{statuses:?}");
        // The budget is the person's: the right code must wait too, and so must a new
        // sign-in from elsewhere.
        let (status, _) = browser
            .call_json("auth/second-factor", json!({"code": authenticator.code(1)}))
            .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    })
    .await;
}

#[tokio::test]
async fn an_invite_accepted_with_the_password_alone_does_not_sign_a_person_with_a_factor_in() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("admin@factor-invite.example").await;
        let email = "eve@factor-invite.example";
        let (eve, _) = app.signup(email).await;
        enroll(&eve).await;
        let invite = admin.invite(email, "read_only").await;
        let browser = app.anonymous();
        let (status, body) = browser
            .call_json(
                "invites/accept",
                json!({"token": invite_token(&invite), "password": PASSWORD}),
            )
            .await;
        assert_error(status, &body, 401, "unauthenticated");
        let (status, _) = browser.call_json("auth/me", json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // Signed in with her code, the same link works.
        eve.call_ok(
            "invites/accept",
            json!({"token": invite_token(&invite)}),
            StatusCode::OK,
        )
        .await;
    })
    .await;
}

#[tokio::test]
async fn an_account_that_requires_a_second_factor_lets_members_without_one_only_set_one_up() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("admin@requires-factor.example").await;
        let (member, _) = app
            .add_member(&admin, "member@requires-factor.example", "read_write")
            .await;
        let (member_key, member_secret) = member.create_key(json!({"name": "ci"})).await;

        // An Admin without a factor cannot turn it on: it would shut them out too.
        let (status, body) = admin
            .call_json("account/set-policy", json!({"require_second_factor": true}))
            .await;
        assert_error(status, &body, 409, "conflict");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("require_second_factor"),
            "{body}"
        );
        enroll(&admin).await;
        let policy = admin
            .call_ok(
                "account/set-policy",
                json!({"require_second_factor": true}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(policy["policy"]["require_second_factor"], true);

        // The Members page shows who has which factor.
        let members = admin
            .call_ok("members/list", json!({}), StatusCode::OK)
            .await;
        let factors_of = |email: &str| {
            members["members"]
                .as_array()
                .unwrap()
                .iter()
                .find(|listed| listed["user"]["email"] == email)
                .unwrap()["second_factors"]
                .clone()
        };
        assert_eq!(factors_of("admin@requires-factor.example"), json!(["totp"]));
        assert_eq!(factors_of("member@requires-factor.example"), json!([]));

        // The member's session (already open, and a new one) may only set a factor up.
        let fresh = app.anonymous();
        fresh
            .call_ok(
                "auth/login",
                json!({"email": "member@requires-factor.example", "password": PASSWORD}),
                StatusCode::OK,
            )
            .await;
        for session in [&member, &fresh] {
            let me = session.call_ok("auth/me", json!({}), StatusCode::OK).await;
            assert_eq!(me["must_set_up_second_factor"], true, "{me}");
            for (operation, body) in [
                ("checks/list", json!({})),
                ("keys/list", json!({})),
                ("keys/create", json!({"name": "x"})),
                ("members/list", json!({})),
                ("audit/list", json!({})),
            ] {
                let (status, answer) = session.call_json(operation, body).await;
                assert_error(status, &answer, 403, "second_factor_required");
            }
            session
                .call_ok("auth/factors", json!({}), StatusCode::OK)
                .await;
        }
        // Keys keep working: the policy is about signing in.
        app.with_key(&member_secret)
            .call_ok("checks/list", json!({}), StatusCode::OK)
            .await;
        // Operations on one key (authorized against the key) are refused too.
        for operation in ["keys/get", "keys/revoke"] {
            let (status, answer) = member
                .call_json(operation, json!({"key_id": member_key["id"]}))
                .await;
            assert_error(status, &answer, 403, "second_factor_required");
        }

        // Once set up, everything the role allows is back, from the next request.
        enroll(&member).await;
        let me = member.call_ok("auth/me", json!({}), StatusCode::OK).await;
        assert_eq!(me["must_set_up_second_factor"], false, "{me}");
        member
            .call_ok("checks/list", json!({}), StatusCode::OK)
            .await;
        member.create_key(json!({"name": "after"})).await;

        // And turning the policy off frees the rest at once.
        let (other, _) = app
            .add_member(&admin, "other@requires-factor.example", "read_only")
            .await;
        let (status, answer) = other.call_json("checks/list", json!({})).await;
        assert_error(status, &answer, 403, "second_factor_required");
        admin
            .call_ok(
                "account/set-policy",
                json!({"require_second_factor": false}),
                StatusCode::OK,
            )
            .await;
        other
            .call_ok("checks/list", json!({}), StatusCode::OK)
            .await;
    })
    .await;
}
