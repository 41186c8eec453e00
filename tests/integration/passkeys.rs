//! Passkeys over HTTP: the options each ceremony hands the browser, and answers that are not
//! a passkey's — refused with a 400 naming the field, never a 500, and never a session. A real
//! ceremony needs an authenticator: end2end/tests/passkeys.spec.ts runs one in Chromium.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn registration_asks_for_a_verified_discoverable_passkey_of_this_site_and_refuses_a_forged_answer(
) {
    on_each_engine(|app| async move {
        let (ada, _) = app.signup("ada@passkeys.example").await;

        // Finishing what was never started.
        let (status, body) = ada
            .call_json(
                "auth/passkeys/register/finish",
                json!({"name": "laptop", "credential": {}}),
            )
            .await;
        assert_error(status, &body, 409, "conflict");

        let started = ada
            .call_ok("auth/passkeys/register/start", json!({}), StatusCode::OK)
            .await;
        let options = &started["options"]["publicKey"];
        assert_eq!(options["rp"]["id"], "localhost", "{started}");
        assert_eq!(options["user"]["name"], "ada@passkeys.example");
        assert!(
            options["challenge"].as_str().unwrap().len() >= 40,
            "{started}"
        );
        assert_eq!(
            options["authenticatorSelection"]["residentKey"],
            "preferred"
        );
        assert_eq!(
            options["authenticatorSelection"]["userVerification"],
            "required"
        );
        // The person's id is not in it: a keyed hash stands for them.
        let handle = options["user"]["id"].as_str().unwrap();
        let me = ada.call_ok("auth/me", json!({}), StatusCode::OK).await;
        assert!(!handle.contains(me["user"]["id"].as_str().unwrap()));

        // A name is required, and the answer must be a browser's.
        let (status, body) = ada
            .call_json(
                "auth/passkeys/register/finish",
                json!({"name": "  ", "credential": {}}),
            )
            .await;
        assert_invalid_field(status, &body, "name");
        let (status, body) = ada
            .call_json(
                "auth/passkeys/register/finish",
                json!({"name": "laptop", "credential": {"id": "forged", "type": "public-key"}}),
            )
            .await;
        assert_invalid_field(status, &body, "credential");
        // The ceremony was used up by that answer: a second try must start again.
        let (status, body) = ada
            .call_json(
                "auth/passkeys/register/finish",
                json!({"name": "laptop", "credential": {}}),
            )
            .await;
        assert_error(status, &body, 409, "conflict");

        let factors = ada.call_ok("auth/factors", json!({}), StatusCode::OK).await;
        assert_eq!(factors["passkeys"], json!([]));
        let (status, body) = ada
            .call_json("auth/passkeys/remove", json!({"passkey_id": "psk_none"}))
            .await;
        assert_error(status, &body, 404, "not_found");
    })
    .await;
}

#[tokio::test]
async fn a_challenge_is_for_this_browser_and_a_forged_answer_signs_no_one_in() {
    on_each_engine(|app| async move {
        let (ada, _) = app.signup("ada@challenges.example").await;

        // Anyone may ask for a challenge to sign in with a passkey alone: no credential is
        // named, so it tells nothing about who has one.
        let stranger = app.anonymous();
        let challenge = stranger
            .call_ok("auth/passkeys/challenge", json!({}), StatusCode::OK)
            .await;
        let options = &challenge["options"];
        assert_eq!(options["publicKey"]["rpId"], "localhost", "{challenge}");
        assert!(options.get("mediation").is_none(), "{challenge}");
        assert!(options["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty));

        for credential in [
            json!({}),
            json!({"id": "AAAA", "rawId": "AAAA", "type": "public-key",
                   "response": {"clientDataJSON": "AAAA", "authenticatorData": "AAAA", "signature": "AAAA", "userHandle": "AAAA"}}),
        ] {
            let (status, body) = stranger
                .call_json("auth/passkeys/sign-in", json!({"credential": credential}))
                .await;
            assert!(
                status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED,
                "{status} {body}"
            );
            let (status, _) = stranger.call_json("auth/me", json!({})).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "a forged passkey signed someone in");
        }

        // A signed-in person without passkeys has nothing to step up with.
        let (status, body) = ada.call_json("auth/passkeys/challenge", json!({})).await;
        assert_error(status, &body, 404, "not_found");
        // A key never does passkeys.
        let (_, secret) = ada.create_key(json!({"name": "ci"})).await;
        let (status, body) = app
            .with_key(&secret)
            .call_json("auth/passkeys/challenge", json!({}))
            .await;
        assert_error(status, &body, 401, "unauthenticated");

        // A passkey answer with no sign-in waiting signs no one in.
        let (status, body) = stranger
            .call_json("auth/second-factor", json!({"passkey": {}}))
            .await;
        assert_error(status, &body, 401, "unauthenticated");
        // Nor does one sent along with a code.
        let (status, body) = stranger
            .call_json(
                "auth/second-factor",
                json!({"code": "123456", "passkey": {}}),
            )
            .await;
        assert_invalid_field(status, &body, "code");
    })
    .await;
}

#[tokio::test]
async fn challenges_for_a_sign_in_without_password_are_a_quota_per_address_sent_at_once_or_not() {
    on_each_engine(|app| async move {
        let per_minute = keyward::server::limits::throttle::PASSKEY_CHALLENGES_PER_MINUTE as usize;
        // Each from its own browser (a session row each), all from one address, all at once.
        let asks = (0..2 * per_minute).map(|_| {
            let browser = app.anonymous_from("127.0.4.1");
            async move {
                let response = browser.call("auth/passkeys/challenge", json!({})).await;
                let retry_after = response.headers().contains_key("retry-after");
                (response.status(), retry_after)
            }
        });
        let answers = futures_util::future::join_all(asks).await;
        let given = answers
            .iter()
            .filter(|(status, _)| *status == StatusCode::OK)
            .count();
        let refused: Vec<_> = answers
            .iter()
            .filter(|(status, _)| *status == StatusCode::TOO_MANY_REQUESTS)
            .collect();
        // The budget refills one every two seconds: a slow machine may fit one or two more.
        assert!(
            (per_minute..per_minute + 3).contains(&given),
            "{given} challenges given"
        );
        assert_eq!(given + refused.len(), answers.len(), "{answers:?}");
        assert!(refused.iter().all(|(_, retry_after)| *retry_after));
        // Another address is not held back by that one.
        app.anonymous_from("127.0.4.2")
            .call_ok("auth/passkeys/challenge", json!({}), StatusCode::OK)
            .await;
    })
    .await;
}
