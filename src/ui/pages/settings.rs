use crate::api::auth::ChangePassword;
use crate::domain::{requests::ChangePasswordRequest, views::Me, ApiError, ErrorCode};
use crate::ui::{
    components::{action_error, input_value, ErrorNote},
    layout::RequireSignIn,
};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn SettingsPage() -> impl IntoView {
    view! {
        <Title text="Settings · keyward" />
        <RequireSignIn render=|me| view! { <Settings me /> } />
    }
}

#[component]
fn Settings(me: Me) -> impl IntoView {
    let email = me.user.map(|user| user.email).unwrap_or_default();
    view! {
        <div class="page-head">
            <h1>"Settings"</h1>
            <p class="muted">{format!("Your login, {email}.")}</p>
        </div>
        <ChangePasswordForm />
    }
}

#[component]
fn ChangePasswordForm() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let current = NodeRef::new();
    let new = NodeRef::new();
    let repeated = NodeRef::new();
    // A typo in the new password is caught here, before the server is asked.
    let mismatch = RwSignal::new(None::<ApiError>);
    let error = Signal::derive(move || {
        mismatch
            .get()
            .or_else(|| action_error(change.value()).get())
    });
    let done = move || matches!(change.value().get(), Some(Ok(_)));
    view! {
        <form method="post" class="card narrow-left" aria-labelledby="password-title" on:submit=move |ev| {
            ev.prevent_default();
            let new_password = input_value(new);
            if new_password != input_value(repeated) {
                mismatch.set(Some(ApiError::new(
                    ErrorCode::InvalidInput,
                    "The two new passwords differ. Type the same one twice.",
                )));
                return;
            }
            mismatch.set(None);
            change.dispatch(ChangePassword {
                request: ChangePasswordRequest { current_password: input_value(current), new_password },
            });
        }>
            <h2 id="password-title">"Change your password"</h2>
            <p class="hint">"Every other browser signed in as you is signed out. Your API keys keep working: revoke them on the API keys page if you think they leaked too."</p>
            <label for="current-password">"Current password"</label>
            <input id="current-password" type="password" autocomplete="current-password" required node_ref=current />
            <label for="new-password">"New password"</label>
            <input id="new-password" type="password" autocomplete="new-password" required minlength="10" maxlength="128" node_ref=new />
            <p class="hint">"10 to 128 characters. A few unrelated words make a strong one."</p>
            <label for="repeat-password">"New password again"</label>
            <input id="repeat-password" type="password" autocomplete="new-password" required minlength="10" maxlength="128" node_ref=repeated />
            <ErrorNote error />
            {move || done().then(|| view! {
                <p class="success" role="status">"Password changed. Every other session of yours has ended."</p>
            })}
            <button type="submit" disabled=move || change.pending().get()>
                {move || if change.pending().get() { "Changing…" } else { "Change password" }}
            </button>
        </form>
    }
}
