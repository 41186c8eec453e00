use crate::api::auth::Login;
use crate::api::passkeys::PasskeySignIn;
use crate::domain::{
    requests::{LoginRequest, PasskeySignInRequest},
    views::LoginOutcome,
};
use crate::ui::{
    components::{action_error, input_value, ErrorNote},
    layout::use_session,
    single_sign_on::{sso_error_message, SsoSignInLink},
    webauthn::PasskeyButton,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};

#[component]
pub fn LoginPage() -> impl IntoView {
    let session = use_session();
    let login = ServerAction::<Login>::new();
    let passkey_sign_in = ServerAction::<PasskeySignIn>::new();
    let email = NodeRef::new();
    let password = NodeRef::new();
    let navigate = use_navigate();
    // Back from the identity provider without a session: `/login?sso_error=<code>`.
    let query = use_query_map();
    let sso_error = move || query.with(|query| query.get("sso_error"));
    let signed_in = Callback::new(move |_: ()| {
        session.refresh();
        navigate("/checks", Default::default());
    });
    Effect::new(move |_| {
        if let Some(Ok(LoginOutcome::SignedIn(_))) = login.value().get() {
            signed_in.run(());
        }
    });
    // The password was right and a factor must follow: the second step replaces the form.
    let needs_factor = move || match login.value().get() {
        Some(Ok(LoginOutcome::SecondFactorRequired(required))) => Some(required.methods),
        _ => None,
    };
    // A passkey alone (one that names its person) signs in without the password.
    let with_passkey = Callback::new(move |answer: serde_json::Value| {
        passkey_sign_in.dispatch(PasskeySignIn {
            request: PasskeySignInRequest { credential: answer },
        });
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = passkey_sign_in.value().get() {
            signed_in.run(());
        }
    });
    view! {
        <Title text="Sign in · keyward" />
        <section class="card narrow">
            <h1>"Sign in"</h1>
            {move || sso_error().map(|code| view! {
                <p class="error" role="alert" data-testid="sso-error">{sso_error_message(&code)}</p>
            })}
            {move || if let Some(methods) = needs_factor() {
                Suspend::new(second_step(methods, signed_in)).into_any()
            } else {
                view! {
                    <form method="post" on:submit=move |ev| {
                        ev.prevent_default();
                        login.dispatch(Login {
                            request: LoginRequest { email: input_value(email), password: input_value(password) },
                        });
                    }>
                        <label for="email">"Email"</label>
                        <input id="email" type="email" autocomplete="username" required node_ref=email />
                        <label for="password">"Password"</label>
                        <input id="password" type="password" autocomplete="current-password" required node_ref=password />
                        <ErrorNote error=action_error(login.value()) />
                        <button type="submit" disabled=move || login.pending().get()>
                            {move || if login.pending().get() { "Signing in…" } else { "Sign in" }}
                        </button>
                    </form>
                    <div class="passkey-sign-in">
                        <PasskeyButton label="Sign in with a passkey" class="secondary" use_answer=with_passkey />
                        <ErrorNote error=action_error(passkey_sign_in.value()) />
                    </div>
                    <SsoSignInLink />
                }
                    .into_any()
            }}
            <p class="muted">"New here? " <a href="/signup">"Create an account"</a></p>
        </section>
    }
}

/// The second step of a sign-in (an authenticator code, a recovery code or a passkey). Lazy:
/// most people who open this page have no second factor, and those who do need its code only
/// once their password was right.
#[lazy]
async fn second_step(methods: Vec<String>, on_signed_in: Callback<()>) -> AnyView {
    use crate::ui::second_factor::SecondStep;
    view! { <SecondStep methods on_signed_in /> }.into_any()
}
