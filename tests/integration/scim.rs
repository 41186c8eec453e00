//! Provisioning with SCIM 2.0, as an identity provider drives it: create, find, switch off
//! (the person's key is refused on the very next request, on every instance), switch on, delete;
//! one account's token against another account's people; the protocol's shapes and errors.
//! (`scripts/test-scim.sh` drives the same endpoints with a real SCIM client library.)

use crate::support::*;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// An identity provider holding one account's SCIM token.
#[derive(Clone)]
struct Provisioner {
    client: Client,
    base: String,
    token: String,
}

impl Provisioner {
    /// A new token for the Admin's account (which replaces any other).
    async fn of(app: &TestApp, admin: &Caller) -> Provisioner {
        let created = admin
            .call_ok(
                "account/scim-token",
                json!({"default_role": "read_write"}),
                StatusCode::CREATED,
            )
            .await;
        let token = created["token"].as_str().unwrap().to_string();
        assert!(token.starts_with("kwscim_"), "{token}");
        assert_eq!(
            created["sso"]["scim_endpoint"],
            format!("{}/scim/v2", app.address)
        );
        Provisioner {
            client: Client::new(),
            base: app.url("/scim/v2"),
            token,
        }
    }

    fn at(&self, app: &TestApp) -> Provisioner {
        Provisioner {
            base: app.url("/scim/v2"),
            ..self.clone()
        }
    }

    /// Sends `method path` with `body`; answers (status, JSON body or null).
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/scim+json")
                .body(body.to_string());
        }
        let answer = request.send().await.unwrap();
        let status = answer.status();
        if status != StatusCode::NO_CONTENT {
            assert_eq!(
                answer.headers()["content-type"],
                "application/scim+json",
                "{path}"
            );
        }
        let text = answer.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"))
        };
        (status, body)
    }

    async fn find(&self, email: &str) -> Value {
        let filter = format!("userName eq \"{email}\"");
        let (status, found) = self
            .send(
                reqwest::Method::GET,
                &format!("/Users?filter={}", urlencode(&filter)),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{found}");
        found
    }

    async fn set_active(&self, id: &str, active: bool) -> (StatusCode, Value) {
        self.send(
            reqwest::Method::PATCH,
            &format!("/Users/{id}"),
            Some(json!({
                "schemas": [PATCH],
                "Operations": [{"op": "replace", "path": "active", "value": active}],
            })),
        )
        .await
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn assert_scim_error(status: StatusCode, body: &Value, expected: u16, scim_type: Option<&str>) {
    assert_eq!(status.as_u16(), expected, "{body}");
    assert_eq!(body["schemas"], json!([ERROR]), "{body}");
    assert_eq!(body["status"], expected.to_string(), "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    match scim_type {
        Some(scim_type) => assert_eq!(body["scimType"], scim_type, "{body}"),
        None => assert!(body.get("scimType").is_none(), "{body}"),
    }
}

async fn members(admin: &Caller) -> Vec<Value> {
    admin
        .call_ok("members/list", json!({}), StatusCode::OK)
        .await["members"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn scim_creates_finds_switches_off_and_on_and_deletes_a_member() {
    on_each_engine(|app| async move {
        let tag = format!("{:?}", app.engine).to_lowercase();
        let (admin, _) = app.signup(&format!("it.{tag}@example.com")).await;
        let scim = Provisioner::of(&app, &admin).await;
        use reqwest::Method;

        // Create: a new login without a password, with the token's role.
        let new_email = format!("New.Hire.{tag}@Example.com");
        let (status, created) = scim
            .send(
                Method::POST,
                "/Users",
                Some(json!({
                    "schemas": [USER],
                    "userName": new_email,
                    "externalId": "00u1",
                    "displayName": "New Hire",
                    "name": {"givenName": "New", "familyName": "Hire"},
                    "active": true,
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["schemas"], json!([USER]));
        assert_eq!(created["userName"], new_email.to_lowercase());
        assert_eq!(created["active"], true);
        assert_eq!(created["externalId"], "00u1");
        assert_eq!(created["meta"]["resourceType"], "User");
        let new_id = created["id"].as_str().unwrap().to_string();
        assert_eq!(
            created["meta"]["location"],
            format!("{}/Users/{new_id}", scim.base)
        );
        let listed = members(&admin).await;
        let hire = listed
            .iter()
            .find(|member| member["user"]["id"] == new_id.as_str())
            .unwrap();
        assert_eq!(hire["role"], "read_write");
        assert_eq!(hire["display_name"], "New Hire");
        // The same userName again is a conflict.
        let (status, body) = scim
            .send(
                Method::POST,
                "/Users",
                Some(json!({"schemas": [USER], "userName": new_email})),
            )
            .await;
        assert_scim_error(status, &body, 409, Some("uniqueness"));
        // A login without a password opens nothing with one.
        let (status, body) = app
            .anonymous()
            .call_json("auth/login", json!({"email": new_email, "password": PASSWORD}))
            .await;
        assert_error(status, &body, 401, "unauthenticated");

        // An existing person, with a session and a key.
        let email = format!("bo.{tag}@example.com");
        let (bo, _) = app.add_member(&admin, &email, "read_write").await;
        let (_, key) = bo.create_key(json!({"name": "deploy"})).await;
        let bo_key = app.with_key(&key);
        bo_key.call_ok("auth/me", json!({}), StatusCode::OK).await;

        // Find: by userName, case as the provider spells it.
        let found = scim.find(&email.to_uppercase()).await;
        assert_eq!(found["totalResults"], 1, "{found}");
        assert_eq!(found["schemas"], json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"]));
        let id = found["Resources"][0]["id"].as_str().unwrap().to_string();
        assert_eq!(scim.find("nobody@example.com").await["totalResults"], 0);
        let (status, all) = scim.send(Method::GET, "/Users?startIndex=2&count=1", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(all["totalResults"], 3);
        assert_eq!(all["itemsPerPage"], 1);
        assert_eq!(all["startIndex"], 2);

        // Switch off: the key and the session stop on the very next request.
        let (status, off) = scim.set_active(&id, false).await;
        assert_eq!(status, StatusCode::OK, "{off}");
        assert_eq!(off["active"], false);
        let (status, body) = bo_key.call_json("auth/me", json!({})).await;
        assert_error(status, &body, 401, "unauthenticated");
        let (status, _) = bo.call_json("auth/me", json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "no account left to act in");
        let listed = members(&admin).await;
        let suspended = listed.iter().find(|m| m["user"]["id"] == id.as_str()).unwrap();
        assert_eq!(suspended["suspended"], true);
        let rejected = admin
            .call_ok("audit/list", json!({"action": "key.rejected"}), StatusCode::OK)
            .await;
        assert_eq!(rejected["events"][0]["details"]["reason"], "owner_suspended");

        // Switch on: the same key works again. (Entra ID sends "False"/"True" as strings.)
        let (status, on) = scim
            .send(
                Method::PATCH,
                &format!("/Users/{id}"),
                Some(json!({
                    "schemas": [PATCH],
                    "Operations": [{"op": "Replace", "value": {"active": "True", "displayName": "Bo"}}],
                })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{on}");
        assert_eq!((on["active"].clone(), on["displayName"].clone()), (json!(true), json!("Bo")));
        bo_key.call_ok("auth/me", json!({}), StatusCode::OK).await;
        bo.call_ok("auth/me", json!({}), StatusCode::OK).await;

        // Replace: names as sent, userName kept; a new userName is refused.
        let (status, replaced) = scim
            .send(
                Method::PUT,
                &format!("/Users/{id}"),
                Some(json!({"schemas": [USER], "userName": email, "externalId": "00u2", "active": true})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{replaced}");
        assert_eq!(replaced["externalId"], "00u2");
        assert!(replaced.get("displayName").is_none(), "{replaced}");
        let (status, body) = scim
            .send(
                Method::PUT,
                &format!("/Users/{id}"),
                Some(json!({"schemas": [USER], "userName": "renamed@example.com"})),
            )
            .await;
        assert_scim_error(status, &body, 400, Some("mutability"));

        // Delete: removed as members/remove removes, keys revoked for good.
        let (status, _) = scim.send(Method::DELETE, &format!("/Users/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = scim.send(Method::GET, &format!("/Users/{id}"), None).await;
        assert_scim_error(status, &body, 404, None);
        let (status, _) = bo_key.call_json("auth/me", json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // Every change is the identity provider's event in the trail.
        let trail = admin
            .call_ok("audit/list", json!({"limit": 200}), StatusCode::OK)
            .await;
        let by_scim: Vec<&str> = trail["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|event| event["actor"]["type"] == "scim")
            .map(|event| event["action"].as_str().unwrap())
            .collect();
        for action in [
            "member.joined",
            "member.suspended",
            "member.reactivated",
            "member.updated",
            "member.removed",
        ] {
            assert!(by_scim.contains(&action), "{action} in {by_scim:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn the_last_admin_is_not_switched_off_and_a_suspended_one_does_not_count() {
    on_each_engine(|app| async move {
        let tag = format!("{:?}", app.engine).to_lowercase();
        let (admin, signed_up) = app.signup(&format!("sole.{tag}@example.com")).await;
        let admin_id = signed_up["user"]["id"].as_str().unwrap().to_string();
        let scim = Provisioner::of(&app, &admin).await;
        let (status, body) = scim.set_active(&admin_id, false).await;
        assert_scim_error(status, &body, 409, None);
        let (status, body) = scim
            .send(reqwest::Method::DELETE, &format!("/Users/{admin_id}"), None)
            .await;
        assert_scim_error(status, &body, 409, None);
        admin.call_ok("auth/me", json!({}), StatusCode::OK).await;
        // With a second Admin, the first may go off; then the second is the last one who acts.
        let (second, accepted) = app
            .add_member(&admin, &format!("second.{tag}@example.com"), "admin")
            .await;
        let second_id = accepted["user"]["id"].as_str().unwrap().to_string();
        assert_eq!(scim.set_active(&admin_id, false).await.0, StatusCode::OK);
        let (status, body) = scim.set_active(&second_id, false).await;
        assert_scim_error(status, &body, 409, None);
        let (status, body) = second
            .call_json(
                "members/set-role",
                json!({"user_id": second_id, "role": "read_only"}),
            )
            .await;
        assert_error(status, &body, 409, "conflict");
    })
    .await;
}

#[tokio::test]
async fn a_scim_token_reaches_its_own_accounts_people_and_nothing_else() {
    on_each_engine(|app| async move {
        use reqwest::Method;
        let tag = format!("{:?}", app.engine).to_lowercase();
        let (admin_a, _) = app.signup(&format!("a.{tag}@example.com")).await;
        let (admin_b, _) = app.signup(&format!("b.{tag}@example.com")).await;
        let b_member_email = format!("b.member.{tag}@example.com");
        let (b_member, accepted) = app.add_member(&admin_b, &b_member_email, "read_only").await;
        let b_member_id = accepted["user"]["id"].as_str().unwrap().to_string();
        let scim_a = Provisioner::of(&app, &admin_a).await;
        let scim_b = Provisioner::of(&app, &admin_b).await;

        // B's people do not exist for A's token.
        assert_eq!(scim_a.find(&b_member_email).await["totalResults"], 0);
        for (method, body) in [
            (Method::GET, None),
            (Method::PUT, Some(json!({"schemas": [USER], "userName": b_member_email, "active": false}))),
            (Method::PATCH, Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]}))),
            (Method::DELETE, None),
        ] {
            let (status, answer) = scim_a
                .send(method.clone(), &format!("/Users/{b_member_id}"), body)
                .await;
            assert_scim_error(status, &answer, 404, None);
        }
        b_member.call_ok("auth/me", json!({}), StatusCode::OK).await;
        assert_eq!(scim_b.find(&b_member_email).await["totalResults"], 1);
        // Creating B's member through A's token adds them to A, not B: B's membership is
        // untouched.
        let (status, _) = scim_a
            .send(Method::POST, "/Users", Some(json!({"schemas": [USER], "userName": b_member_email})))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let b_members = members(&admin_b).await;
        assert_eq!(
            b_members.iter().find(|m| m["user"]["id"] == b_member_id.as_str()).unwrap()["role"],
            "read_only"
        );

        // A SCIM token is no key, and a key no SCIM token.
        let (status, _) = app.with_key(&scim_a.token).call_json("auth/me", json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (_, key) = admin_a.create_key(json!({"name": "admin key"})).await;
        let with_key = Provisioner { token: key, ..scim_a.clone() };
        let (status, body) = with_key.send(Method::GET, "/Users", None).await;
        assert_scim_error(status, &body, 401, None);

        // A new token replaces the old one; a revoked one stops.
        let renewed = Provisioner::of(&app, &admin_a).await;
        let (status, body) = scim_a.send(Method::GET, "/Users", None).await;
        assert_scim_error(status, &body, 401, None);
        assert_eq!(renewed.send(Method::GET, "/Users", None).await.0, StatusCode::OK);
        admin_a
            .call_ok("account/revoke-scim-token", json!({}), StatusCode::OK)
            .await;
        let (status, body) = renewed.send(Method::GET, "/Users", None).await;
        assert_scim_error(status, &body, 401, None);
        let settings = admin_a.call_ok("account/sso", json!({}), StatusCode::OK).await;
        assert_eq!(settings["sso"]["scim_token"], Value::Null);
    })
    .await;
}

#[tokio::test]
async fn scim_answers_and_refusals_follow_the_scim_schemas() {
    on_each_engine(|app| async move {
        use reqwest::Method;
        let tag = format!("{:?}", app.engine).to_lowercase();
        let (admin, _) = app.signup(&format!("shapes.{tag}@example.com")).await;
        let scim = Provisioner::of(&app, &admin).await;

        let (status, config) = scim.send(Method::GET, "/ServiceProviderConfig", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(config["patch"]["supported"], true);
        assert_eq!(config["bulk"]["supported"], false);
        assert_eq!(config["filter"]["supported"], true);
        assert_eq!(config["authenticationSchemes"][0]["type"], "oauthbearertoken");
        let (_, types) = scim.send(Method::GET, "/ResourceTypes", None).await;
        assert_eq!(types["Resources"][0]["endpoint"], "/Users");
        assert_eq!(types["Resources"][0]["schema"], USER);
        let (_, schemas) = scim.send(Method::GET, "/Schemas", None).await;
        let attributes: Vec<&str> = schemas["Resources"][0]["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|attribute| attribute["name"].as_str().unwrap())
            .collect();
        assert_eq!(attributes, ["userName", "externalId", "displayName", "active", "emails"]);
        let (status, _) = scim.send(Method::GET, &format!("/Schemas/{USER}"), None).await;
        assert_eq!(status, StatusCode::OK);

        for (method, path, body, expected, scim_type) in [
            (Method::GET, "/Users?filter=userName%20co%20%22a%22", None, 400, Some("invalidFilter")),
            (Method::GET, "/Users?filter=((", None, 400, Some("invalidFilter")),
            (Method::GET, "/Users?count=many", None, 400, Some("invalidValue")),
            (Method::POST, "/Users", Some(json!({"userName": "x@example.com"})), 400, Some("invalidSyntax")),
            (Method::POST, "/Users", Some(json!({"schemas": [USER], "userName": "not an email"})), 400, Some("invalidValue")),
            (Method::POST, "/Users", Some(json!({"schemas": [USER]})), 400, Some("invalidValue")),
            (Method::POST, "/Users", Some(json!({"schemas": [USER], "userName": "y@example.com", "active": "maybe"})), 400, Some("invalidValue")),
            (Method::POST, "/Users", Some(json!({"schemas": [USER], "userName": "z@example.com", "displayName": "a\u{0}b"})), 400, Some("invalidValue")),
            (Method::PATCH, "/Users/usr_nobody", Some(json!({"schemas": [PATCH], "Operations": []})), 404, None),
            (Method::GET, "/Users/not-an-id", None, 404, None),
            (Method::GET, "/Groups", None, 404, None),
            (Method::POST, "/ServiceProviderConfig", Some(json!({})), 405, None),
        ] {
            let (status, answer) = scim.send(method, path, body).await;
            assert_scim_error(status, &answer, expected, scim_type);
        }
        // Not JSON at all, and too large.
        let raw = |body: String| {
            scim.client
                .post(format!("{}/Users", scim.base))
                .bearer_auth(&scim.token)
                .header("content-type", "application/scim+json")
                .body(body)
                .send()
        };
        let answer = raw("{not json".to_string()).await.unwrap();
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["scimType"], "invalidSyntax");
        let answer = raw("x".repeat(70_000)).await.unwrap();
        assert_eq!(answer.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // Without a token.
        let answer = Client::new().get(format!("{}/Users", scim.base)).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        assert!(answer.headers().contains_key("www-authenticate"));
    })
    .await;
}

#[tokio::test]
async fn a_switched_off_persons_key_is_refused_on_the_next_request_on_every_instance() {
    // Several instances share a PostgreSQL database (a SQLite file has one).
    for engine in [Engine::Postgres] {
        let Some(instances) = spawn_instances(engine, 2, |_| {}).await else {
            postgres_did_not_answer();
            continue;
        };
        let (first, second) = (&instances[0], &instances[1]);
        let tag = format!("{engine:?}").to_lowercase();
        let (admin, _) = first.signup(&format!("two.{tag}@example.com")).await;
        let (member, accepted) = first
            .add_member(&admin, &format!("off.{tag}@example.com"), "read_write")
            .await;
        let id = accepted["user"]["id"].as_str().unwrap().to_string();
        let (_, key) = member.create_key(json!({"name": "everywhere"})).await;
        // Both instances answer the key from memory now.
        kept_on(first, &key).await;
        kept_on(second, &key).await;
        let scim = Provisioner::of(first, &admin).await;
        for round in 0..3 {
            let (status, _) = scim.at(first).set_active(&id, false).await;
            assert_eq!(status, StatusCode::OK);
            for instance in [first, second] {
                let (status, _) = instance
                    .with_key(&key)
                    .call_json("auth/me", json!({}))
                    .await;
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "round {round}, {engine:?}"
                );
            }
            let (status, _) = scim.at(second).set_active(&id, true).await;
            assert_eq!(status, StatusCode::OK);
            for instance in [second, first] {
                let (status, _) = instance
                    .with_key(&key)
                    .call_json("auth/me", json!({}))
                    .await;
                assert_eq!(status, StatusCode::OK, "round {round}, {engine:?}");
            }
        }
    }
}
