//! The browser's side of passkeys: `navigator.credentials` with the options in WebAuthn's JSON
//! form, and the one button that answers a challenge — for a sign-in, its second step or a
//! step-up. (The Settings list is `ui::passkeys`.)

use crate::api::passkeys::passkey_challenge;
use crate::domain::{ApiError, ErrorCode};
use crate::ui::components::ErrorNote;
use leptos::prelude::*;
use serde_json::Value;

/// Asks this browser's authenticator for a new passkey (`navigator.credentials.create`) and
/// gives back its answer as JSON.
pub async fn create_credential(options: Value) -> Result<Value, ApiError> {
    browser::ceremony("create", "parseCreationOptionsFromJSON", options).await
}

/// Asks this browser's authenticator to answer a challenge (`navigator.credentials.get`).
pub async fn get_credential(options: Value) -> Result<Value, ApiError> {
    browser::ceremony("get", "parseRequestOptionsFromJSON", options).await
}

/// A challenge from keyward, answered by this browser's passkey: what `auth/second-factor`,
/// `auth/step-up` and `auth/passkeys/sign-in` take as `passkey` (or `credential`). Lazy: the
/// sign-in page shows a passkey button to everyone, but its code (the challenge's call and the
/// browser's credential API) is fetched only when someone presses it.
#[lazy]
pub async fn answer_challenge() -> Result<Value, ApiError> {
    let challenge = passkey_challenge().await?;
    get_credential(challenge.options).await
}

#[cfg(feature = "hydrate")]
mod browser {
    use crate::domain::{ApiError, ErrorCode};
    use js_sys::{Function, Object, Promise, Reflect, JSON};
    use serde_json::Value;
    use wasm_bindgen::{JsCast, JsValue};

    /// `navigator.credentials[method]({publicKey: PublicKeyCredential[parse](options.publicKey)})`,
    /// and the credential's `toJSON()`: the browser does the base64url, keyward's Wasm stays small.
    pub async fn ceremony(method: &str, parse: &str, options: Value) -> Result<Value, ApiError> {
        let unsupported = || {
            ApiError::new(
                ErrorCode::InvalidInput,
                "This browser cannot use passkeys here. Use a recent Chrome, Edge, Firefox or Safari, \
                 with keyward at its domain name (not an IP address).",
            )
        };
        let window = web_sys::window().ok_or_else(unsupported)?;
        let class =
            Reflect::get(&window, &"PublicKeyCredential".into()).map_err(|_| unsupported())?;
        let parse = Reflect::get(&class, &parse.into())
            .ok()
            .and_then(|parse| parse.dyn_into::<Function>().ok())
            .ok_or_else(unsupported)?;
        let public_key = options.get("publicKey").cloned().unwrap_or(Value::Null);
        let public_key = JSON::parse(&public_key.to_string()).map_err(|_| unsupported())?;
        let public_key = parse
            .call1(&class, &public_key)
            .map_err(|_| unsupported())?;
        let request = Object::new();
        Reflect::set(&request, &"publicKey".into(), &public_key).map_err(|_| unsupported())?;
        let credentials =
            Reflect::get(&window.navigator(), &"credentials".into()).map_err(|_| unsupported())?;
        let call = Reflect::get(&credentials, &method.into())
            .ok()
            .and_then(|call| call.dyn_into::<Function>().ok())
            .ok_or_else(unsupported)?;
        let promise: Promise = call
            .call1(&credentials, &request)
            .map_err(declined)?
            .dyn_into()
            .map_err(|_| unsupported())?;
        let credential = wasm_bindgen_futures::JsFuture::from(promise)
            .await
            .map_err(declined)?;
        let to_json = Reflect::get(&credential, &"toJSON".into())
            .ok()
            .and_then(|to_json| to_json.dyn_into::<Function>().ok())
            .ok_or_else(unsupported)?;
        let json = to_json.call0(&credential).map_err(|_| unsupported())?;
        let text: String = JSON::stringify(&json).map_err(|_| unsupported())?.into();
        serde_json::from_str(&text).map_err(|_| unsupported())
    }

    /// The person closed the browser's dialog, or their authenticator said no.
    fn declined(error: JsValue) -> ApiError {
        let name = Reflect::get(&error, &"name".into())
            .ok()
            .and_then(|name| name.as_string())
            .unwrap_or_default();
        let message = match name.as_str() {
            "InvalidStateError" => "This authenticator holds one of your passkeys already.",
            "SecurityError" => {
                "Passkeys work only with keyward at its own address (KEYWARD_PUBLIC_URL), by domain name."
            }
            _ => "No passkey was used: the browser's request was closed or timed out. Try again.",
        };
        ApiError::new(ErrorCode::InvalidInput, message)
    }
}

#[cfg(not(feature = "hydrate"))]
mod browser {
    use crate::domain::ApiError;
    use serde_json::Value;

    /// On the server there is no authenticator; the buttons that call this run in the browser.
    pub async fn ceremony(_method: &str, _parse: &str, _options: Value) -> Result<Value, ApiError> {
        Err(ApiError::internal())
    }
}

/// A button that answers a passkey challenge and hands the answer to `use_answer` (which calls
/// the server and says how that went). Its own errors (no passkey, a closed dialog) show below.
#[component]
pub fn PasskeyButton(
    label: &'static str,
    #[prop(optional)] class: &'static str,
    use_answer: Callback<Value>,
) -> impl IntoView {
    let asking = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let ask = move |_| {
        asking.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match answer_challenge().await {
                Ok(answer) => use_answer.run(answer),
                Err(refused) if refused.code == ErrorCode::NotFound => error
                    .set(Some(ApiError::new(
                    ErrorCode::NotFound,
                    "You have no passkey yet: add one in Settings, or use your password or code.",
                ))),
                Err(refused) => error.set(Some(refused)),
            }
            asking.set(false);
        });
    };
    view! {
        <button type="button" class=class on:click=ask disabled=move || asking.get()>
            {move || if asking.get() { "Waiting for your passkey…" } else { label }}
        </button>
        <ErrorNote error=error />
    }
}
