use crate::api::auth::Signup;
use crate::domain::requests::SignupRequest;
use crate::ui::{
    components::{action_error, input_value, ErrorNote},
    layout::use_session,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

#[component]
pub fn SignupPage() -> impl IntoView {
    let session = use_session();
    let signup = ServerAction::<Signup>::new();
    let (account_name, email, password) = (NodeRef::new(), NodeRef::new(), NodeRef::new());
    let password_length = RwSignal::new(0usize);
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(_)) = signup.value().get() {
            session.refresh();
            navigate("/keys", Default::default());
        }
    });
    let password_hint = move || match password_length.get() {
        length @ 1..=9 => format!("{} more characters needed.", 10 - length),
        _ => "At least 10 characters.".to_string(),
    };
    view! {
        <Title text="Create an account · keyward" />
        <section class="card narrow">
            <h1>"Create an account"</h1>
            <p class="muted">"You will be the Admin of the new account and can invite your team."</p>
            <form method="post" on:submit=move |ev| {
                ev.prevent_default();
                signup.dispatch(Signup {
                    request: SignupRequest {
                        email: input_value(email),
                        password: input_value(password),
                        account_name: input_value(account_name),
                    },
                });
            }>
                <label for="account_name">"Account name"</label>
                <input id="account_name" type="text" required maxlength="100" placeholder="Acme Inc."
                    node_ref=account_name />
                <label for="email">"Email"</label>
                <input id="email" type="email" autocomplete="username" required maxlength="254" node_ref=email />
                <label for="password">"Password"</label>
                <input id="password" type="password" autocomplete="new-password" required
                    minlength="10" maxlength="128" aria-describedby="password-help" node_ref=password
                    on:input=move |ev| password_length.set(event_target_value(&ev).chars().count()) />
                <p id="password-help" class="hint">{password_hint}</p>
                <ErrorNote error=action_error(signup.value()) />
                <button type="submit" disabled=move || signup.pending().get()>"Create account"</button>
            </form>
            <p class="muted">"Already have a login? " <a href="/login">"Sign in"</a></p>
        </section>
    }
}
