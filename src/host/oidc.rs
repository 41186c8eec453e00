//! `GET /auth/oidc/start` and `GET /auth/oidc/callback`: single sign-on as browser navigations
//! (see `server::sso::oidc` for the flow and its guards). Both answer with a redirect: to the
//! identity provider, to the page the person wanted, or back to `/login?sso_error=<code>`, whose
//! page says what went wrong. The details of a failure go to the log only.

use crate::server::audit::Origin;
use crate::server::request::RequestHead;
use crate::server::sso::oidc::{PendingSso, PENDING_SSO};
use crate::server::AppState;
use axum::{
    extract::{Query, Request, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use tower_sessions::Session;

#[derive(Deserialize)]
pub struct StartQuery {
    return_to: Option<String>,
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Where a failed sign-in goes: the login page, which explains `code`.
fn back_to_login(code: &str) -> Response {
    see_other(&format!("/login?sso_error={code}"))
}

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    // Each answer is for this browser, this once.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A page of keyward's own to land on: a path, never another site (`//evil.example`, `/\\…`).
fn local_path(path: Option<String>) -> Option<String> {
    path.filter(|path| {
        path.starts_with('/')
            && !path.starts_with("//")
            && !path.starts_with("/\\")
            && path.len() <= 500
            && !path.chars().any(char::is_control)
    })
}

fn session_of(request: &Request) -> Option<Session> {
    request.extensions().get::<Session>().cloned()
}

/// Starts single sign-on: a fresh `state`, `nonce` and PKCE verifier kept in this browser's
/// session, and a redirect to the provider.
pub async fn start(
    State(state): State<AppState>,
    Query(query): Query<StartQuery>,
    request: Request,
) -> Response {
    let (Some(oidc), Some(session)) = (&state.oidc, session_of(&request)) else {
        return back_to_login("not_configured");
    };
    let (url, pending) = match oidc.begin(local_path(query.return_to)).await {
        Ok(begun) => begun,
        Err(error) => {
            tracing::warn!(%error, "single sign-on could not start");
            return back_to_login(error.code());
        }
    };
    if let Err(error) = session.insert(PENDING_SSO, pending).await {
        tracing::error!(%error, "could not keep a started single sign-on in the session");
        return back_to_login("error");
    }
    see_other(&url)
}

/// Finishes single sign-on: the pending sign-in is taken out of the session first (an answer
/// is used once), then the provider's answer is checked and the person signed in.
pub async fn callback(
    State(state): State<AppState>,
    Query(query): Query<CallbackQuery>,
    request: Request,
) -> Response {
    let (Some(oidc), Some(session)) = (&state.oidc, session_of(&request)) else {
        return back_to_login("not_configured");
    };
    let head = RequestHead::read(&request.into_parts().0, &state.config.trusted_proxies);
    let pending = match session.remove::<PendingSso>(PENDING_SSO).await {
        Ok(pending) => pending,
        Err(error) => {
            tracing::error!(%error, "could not read the session of a single sign-on");
            return back_to_login("error");
        }
    };
    if let Some(error) = query.error {
        let error: String = error.chars().take(100).collect();
        tracing::info!(%error, "the identity provider refused a single sign-on");
        return back_to_login("denied");
    }
    let now = crate::domain::time::now_millis();
    let Some(pending) = pending.filter(|pending| {
        query
            .state
            .as_deref()
            .is_some_and(|answered| pending.answers(answered, now))
    }) else {
        // Not started in this browser, answered already, too old, or a forged state.
        tracing::info!("a single sign-on callback matched no sign-in started in this browser");
        return back_to_login("state");
    };
    let Some(code) = query
        .code
        .filter(|code| !code.is_empty() && code.len() <= 2048)
    else {
        return back_to_login("rejected");
    };
    let return_to = pending.return_to.clone();
    let identity = match oidc.finish(pending, &code).await {
        Ok(identity) => identity,
        Err(error) => {
            tracing::warn!(%error, "single sign-on failed");
            return back_to_login(error.code());
        }
    };
    let origin = Origin::of_head(&head);
    let signed_in = crate::host::boundary::settled(
        &state,
        crate::server::sso::sign_in::sign_in(&state, &session, origin, &identity),
    )
    .await;
    match signed_in {
        Ok(_) => see_other(return_to.as_deref().unwrap_or("/keys")),
        Err(refusal) => {
            if let crate::server::sso::sign_in::Refusal::Error(error) = &refusal {
                tracing::warn!(message = %error.message, "single sign-on could not sign the person in");
            }
            back_to_login(refusal.code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_paths_of_keywards_own_are_landed_on() {
        let path = |text: &str| local_path(Some(text.to_string()));
        assert_eq!(path("/keys/key_1"), Some("/keys/key_1".to_string()));
        for elsewhere in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "keys",
        ] {
            assert_eq!(path(elsewhere), None, "{elsewhere}");
        }
        assert_eq!(path("/ok\nSet-Cookie: x"), None);
    }
}
