use crate::api::invites::AcceptInvite;
use crate::domain::requests::AcceptInviteRequest;
use crate::ui::{
    components::{action_error, input_value, ErrorNote},
    layout::use_session,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};

#[component]
pub fn AcceptInvitePage() -> impl IntoView {
    let session = use_session();
    let params = use_params_map();
    let accept = ServerAction::<AcceptInvite>::new();
    let password = NodeRef::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(_)) = accept.value().get() {
            session.refresh();
            navigate("/checks", Default::default());
        }
    });
    view! {
        <Title text="Join an account · keyward" />
        <section class="card narrow">
            <h1>"You have been invited"</h1>
            <p>
                "New to keyward? Choose a password (at least 10 characters). Already have a login? "
                "Enter its password, or just accept if you are signed in as the invited person."
            </p>
            <form method="post" on:submit=move |ev| {
                ev.prevent_default();
                let token = params.with(|params| params.get("token").unwrap_or_default());
                let password = Some(input_value(password)).filter(|p| !p.is_empty());
                accept.dispatch(AcceptInvite { request: AcceptInviteRequest { token, password } });
            }>
                <label for="password">"Password"</label>
                <input id="password" type="password" autocomplete="new-password" maxlength="128" node_ref=password />
                <ErrorNote error=action_error(accept.value()) />
                <button type="submit" disabled=move || accept.pending().get()>"Accept invitation"</button>
            </form>
        </section>
    }
}
