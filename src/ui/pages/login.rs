use crate::api::auth::Login;
use crate::domain::requests::LoginRequest;
use crate::ui::{
    components::{action_error, ErrorNote},
    layout::use_session,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

#[component]
pub fn LoginPage() -> impl IntoView {
    let session = use_session();
    let login = ServerAction::<Login>::new();
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(_)) = login.value().get() {
            session.refresh();
            navigate("/checks", Default::default());
        }
    });
    view! {
        <Title text="Sign in · keyward" />
        <section class="card narrow">
            <h1>"Sign in"</h1>
            <form on:submit=move |ev| {
                ev.prevent_default();
                login.dispatch(Login { request: LoginRequest { email: email.get(), password: password.get() } });
            }>
                <label for="email">"Email"</label>
                <input id="email" type="email" autocomplete="username" required
                    prop:value=email on:input=move |ev| email.set(event_target_value(&ev)) />
                <label for="password">"Password"</label>
                <input id="password" type="password" autocomplete="current-password" required
                    prop:value=password on:input=move |ev| password.set(event_target_value(&ev)) />
                <ErrorNote error=action_error(login.value()) />
                <button type="submit" disabled=move || login.pending().get()>
                    {move || if login.pending().get() { "Signing in…" } else { "Sign in" }}
                </button>
            </form>
            <p class="muted">"New here? " <a href="/signup">"Create an account"</a></p>
        </section>
    }
}
