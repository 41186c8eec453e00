//! Sign-up, sign-in, sessions, memberships and invitations.

use crate::support::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn signup_signs_in_as_admin_of_a_new_account() {
    on_each_engine(|app| async move {
        let (admin, body) = app.signup("Ada@Example.com").await;
        assert_eq!(body["user"]["email"], "ada@example.com");
        assert_eq!(body["role"], "admin");
        let me = admin.call_ok("auth/me", json!({}), StatusCode::OK).await;
        assert_eq!(me["via"], "session");
        assert_eq!(me["role"], "admin");
        assert_eq!(me["account"]["id"], body["account"]["id"]);
        assert_eq!(me["key_id"], serde_json::Value::Null);

        let (status, error) = app
            .anonymous()
            .call_json(
                "auth/signup",
                json!({"email": "ada@example.com", "password": PASSWORD, "account_name": "Again"}),
            )
            .await;
        assert_error(status, &error, 409, "conflict");

        for (body, field) in [
            (
                json!({"email": "not-an-email", "password": PASSWORD, "account_name": "A"}),
                "email",
            ),
            (
                json!({"email": "b@example.com", "password": "short", "account_name": "A"}),
                "password",
            ),
            (
                json!({"email": "b@example.com", "password": PASSWORD, "account_name": "  "}),
                "account_name",
            ),
            (
                json!({"email": "b@example.com", "password": PASSWORD}),
                "account_name",
            ),
        ] {
            let (status, error) = app.anonymous().call_json("auth/signup", body).await;
            assert_invalid_field(status, &error, field);
        }
    })
    .await;
}

#[tokio::test]
async fn login_does_not_reveal_which_emails_exist_and_renews_the_session() {
    on_each_engine(|app| async move {
        app.signup("grace@example.com").await;
        let caller = app.anonymous();
        let (wrong_status, wrong) = caller
            .call_json(
                "auth/login",
                json!({"email": "grace@example.com", "password": "not the password"}),
            )
            .await;
        let (unknown_status, unknown) = caller
            .call_json(
                "auth/login",
                json!({"email": "nobody@example.com", "password": "not the password"}),
            )
            .await;
        assert_error(wrong_status, &wrong, 401, "unauthenticated");
        assert_eq!(
            (wrong_status, &wrong),
            (unknown_status, &unknown),
            "same answer for both"
        );

        let response = caller
            .call(
                "auth/login",
                json!({"email": "grace@example.com", "password": PASSWORD}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(cookie.starts_with("keyward_session="), "{cookie}");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        assert!(
            !cookie.contains("Secure"),
            "not over plain HTTP by default: {cookie}"
        );
        caller.call_ok("auth/me", json!({}), StatusCode::OK).await;

        // Signing in again from a signed-in browser issues a new session id (no fixation).
        let again = caller
            .call(
                "auth/login",
                json!({"email": "grace@example.com", "password": PASSWORD}),
            )
            .await;
        let renewed = again.headers()["set-cookie"].to_str().unwrap().to_string();
        let id_of = |cookie: &str| cookie.split(';').next().unwrap().to_string();
        assert_ne!(
            id_of(&cookie),
            id_of(&renewed),
            "the session id changes at sign-in"
        );

        caller
            .call_ok("auth/logout", json!({}), StatusCode::OK)
            .await;
        let (status, error) = caller.call_json("auth/me", json!({})).await;
        assert_error(status, &error, 401, "unauthenticated");
    })
    .await;
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled() {
    on_each_engine(|app| async move {
        app.signup("target@example.com").await;
        let attacker = app.anonymous();
        let mut statuses = Vec::new();
        for attempt in 0..7 {
            let response = attacker
                .call("auth/login", json!({"email": "target@example.com", "password": format!("guess number {attempt}")}))
                .await;
            statuses.push(response.status().as_u16());
            if response.status() == StatusCode::TOO_MANY_REQUESTS {
                let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "rate_limited");
            }
        }
        assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
        // Even the right password waits: the throttle does not tell guesses apart.
        let (status, _) = attacker
            .call_json("auth/login", json!({"email": "target@example.com", "password": PASSWORD}))
            .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    })
    .await;
}

#[tokio::test]
async fn invitations_add_members_once_and_roles_can_change() {
    on_each_engine(|app| async move {
        let (admin, signed_up) = app.signup("admin@example.com").await;
        let invite = admin.invite("new@example.com", "read_write").await;
        let url = invite["invite_url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{}/invite/", app.address)),
            "{url}"
        );
        let token = url.rsplit('/').next().unwrap();

        // Opening the link renders the page; the token must not reach the logs on the way.
        let page = reqwest::get(app.url(&format!("/invite/{token}")))
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        assert!(
            !captured_logs().contains(token),
            "the invite token was logged"
        );

        let newcomer = app.anonymous();
        let (status, error) = newcomer
            .call_json("invites/accept", json!({"token": token}))
            .await;
        assert_error(status, &error, 400, "invalid_input");
        let accepted = newcomer
            .call_ok(
                "invites/accept",
                json!({"token": token, "password": PASSWORD}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(accepted["role"], "read_write");
        assert_eq!(accepted["account"]["id"], signed_up["account"]["id"]);
        let (status, error) = app
            .anonymous()
            .call_json(
                "invites/accept",
                json!({"token": token, "password": PASSWORD}),
            )
            .await;
        assert_error(status, &error, 409, "conflict");
        let (status, error) = app
            .anonymous()
            .call_json(
                "invites/accept",
                json!({"token": "made-up", "password": PASSWORD}),
            )
            .await;
        assert_error(status, &error, 404, "not_found");

        let members = admin
            .call_ok("members/list", json!({}), StatusCode::OK)
            .await;
        assert_eq!(members["members"].as_array().unwrap().len(), 2);
        let new_id = accepted["user"]["id"].as_str().unwrap();

        let (status, error) = newcomer
            .call_json(
                "members/invite",
                json!({"email": "x@example.com", "role": "admin"}),
            )
            .await;
        assert_error(status, &error, 403, "forbidden");
        let (status, error) = newcomer
            .call_json(
                "members/set-role",
                json!({"user_id": new_id, "role": "admin"}),
            )
            .await;
        assert_error(status, &error, 403, "forbidden");

        let changed = admin
            .call_ok(
                "members/set-role",
                json!({"user_id": new_id, "role": "read_only"}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(changed["member"]["role"], "read_only");
        let me = newcomer.call_ok("auth/me", json!({}), StatusCode::OK).await;
        assert_eq!(
            me["role"], "read_only",
            "the session follows the new role at once"
        );

        let (status, error) = admin
            .call_json(
                "members/invite",
                json!({"email": "new@example.com", "role": "admin"}),
            )
            .await;
        assert_error(status, &error, 409, "conflict");
    })
    .await;
}

#[tokio::test]
async fn an_account_never_loses_its_last_admin() {
    on_each_engine(|app| async move {
        let (admin, body) = app.signup("only-admin@example.com").await;
        let admin_id = body["user"]["id"].as_str().unwrap();
        let (status, error) = admin
            .call_json(
                "members/set-role",
                json!({"user_id": admin_id, "role": "read_write"}),
            )
            .await;
        assert_error(status, &error, 409, "conflict");
        let (status, error) = admin
            .call_json("members/remove", json!({"user_id": admin_id}))
            .await;
        assert_error(status, &error, 409, "conflict");

        let (second, accepted) = app.add_member(&admin, "second@example.com", "admin").await;
        let second_id = accepted["user"]["id"].as_str().unwrap();
        admin
            .call_ok(
                "members/set-role",
                json!({"user_id": admin_id, "role": "read_only"}),
                StatusCode::OK,
            )
            .await;
        let (status, _) = second
            .call_json("members/remove", json!({"user_id": second_id}))
            .await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "the last Admin cannot leave either"
        );
    })
    .await;
}

#[tokio::test]
async fn members_can_leave_and_existing_users_join_with_their_password() {
    on_each_engine(|app| async move {
        let (first_admin, first) = app.signup("first@example.com").await;
        let (_, second) = app.signup("second@example.com").await;
        let (member, accepted) = app
            .add_member(&first_admin, "member@example.com", "read_only")
            .await;
        let member_id = accepted["user"]["id"].as_str().unwrap().to_string();

        // second@ already has a login: joining first@'s account needs that password.
        let invite = first_admin.invite("second@example.com", "read_write").await;
        let token = invite_token(&invite);
        let stranger = app.anonymous();
        let (status, _) = stranger
            .call_json(
                "invites/accept",
                json!({"token": token, "password": "somebody else's guess"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // The failed attempt did not use the invite up: the real person can still accept it.
        let second_again = app.anonymous();
        second_again
            .call_ok(
                "invites/accept",
                json!({"token": token, "password": PASSWORD}),
                StatusCode::OK,
            )
            .await;
        let me = second_again
            .call_ok("auth/me", json!({}), StatusCode::OK)
            .await;
        assert_eq!(me["accounts"].as_array().unwrap().len(), 2);

        // Switching: into an account of one's own, not into somebody else's.
        let switched = second_again
            .call_ok(
                "auth/switch-account",
                json!({"account_id": second["account"]["id"]}),
                StatusCode::OK,
            )
            .await;
        assert_eq!(switched["role"], "admin");
        let (status, _) = member
            .call_json(
                "auth/switch-account",
                json!({"account_id": second["account"]["id"]}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // A member leaves; an Admin of another account cannot remove anyone here.
        let (status, _) = second_again
            .call_json("members/remove", json!({"user_id": member_id}))
            .await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "second@ acts in their own account now"
        );
        member
            .call_ok(
                "members/remove",
                json!({"user_id": member_id}),
                StatusCode::OK,
            )
            .await;
        let members = first_admin
            .call_ok("members/list", json!({}), StatusCode::OK)
            .await;
        let emails: Vec<_> = members["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["user"]["email"].clone())
            .collect();
        assert!(!emails.contains(&json!("member@example.com")), "{emails:?}");
        assert_eq!(first["role"], "admin");
    })
    .await;
}

#[tokio::test]
async fn an_invite_link_cannot_be_used_to_guess_a_password() {
    on_each_engine(|app| async move {
        let (admin, _) = app.signup("inviter@example.com").await;
        app.signup("victim@example.com").await;
        let invite = admin.invite("victim@example.com", "admin").await;
        let token = invite_token(&invite);
        let attacker = app.anonymous();
        let mut statuses = Vec::new();
        for guess in 0..6 {
            let (status, _) = attacker
                .call_json(
                    "invites/accept",
                    json!({"token": token, "password": format!("guess {guess} for the victim")}),
                )
                .await;
            statuses.push(status.as_u16());
        }
        assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    })
    .await;
}
