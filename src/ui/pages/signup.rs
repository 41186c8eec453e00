use crate::api::auth::Signup;
use crate::domain::requests::SignupRequest;
use crate::ui::{
    components::{action_error, ErrorNote},
    layout::use_session,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

#[component]
pub fn SignupPage() -> impl IntoView {
    let session = use_session();
    let signup = ServerAction::<Signup>::new();
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let account_name = RwSignal::new(String::new());
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(_)) = signup.value().get() {
            session.refresh();
            navigate("/keys", Default::default());
        }
    });
    let password_hint = move || {
        let length = password.with(|p| p.chars().count());
        (length > 0 && length < 10).then(|| format!("{} more characters needed", 10 - length))
    };
    view! {
        <Title text="Create an account · keyward" />
        <section class="card narrow">
            <h1>"Create an account"</h1>
            <p class="muted">"You will be the Admin of the new account and can invite your team."</p>
            <form on:submit=move |ev| {
                ev.prevent_default();
                signup.dispatch(Signup { request: SignupRequest {
                    email: email.get(),
                    password: password.get(),
                    account_name: account_name.get(),
                } });
            }>
                <label for="account_name">"Account name"</label>
                <input id="account_name" type="text" required maxlength="100" placeholder="Acme Inc."
                    prop:value=account_name on:input=move |ev| account_name.set(event_target_value(&ev)) />
                <label for="email">"Email"</label>
                <input id="email" type="email" autocomplete="username" required maxlength="254"
                    prop:value=email on:input=move |ev| email.set(event_target_value(&ev)) />
                <label for="password">"Password"</label>
                <input id="password" type="password" autocomplete="new-password" required
                    minlength="10" maxlength="128" aria-describedby="password-help"
                    prop:value=password on:input=move |ev| password.set(event_target_value(&ev)) />
                <p id="password-help" class="hint">
                    {move || password_hint().unwrap_or_else(|| "At least 10 characters.".to_string())}
                </p>
                <ErrorNote error=action_error(signup.value()) />
                <button type="submit" disabled=move || signup.pending().get()>"Create account"</button>
            </form>
            <p class="muted">"Already have a login? " <a href="/login">"Sign in"</a></p>
        </section>
    }
}
