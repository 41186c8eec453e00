//! Settings: a person's passkeys — each with its name and when it was last used, one to add,
//! and each one's removal. The ceremonies' browser side is `ui::webauthn`.

use crate::api::passkeys::{start_passkey_registration, FinishPasskeyRegistration, RemovePasskey};
use crate::domain::{
    requests::{FinishPasskeyRequest, PasskeyIdRequest},
    views::{PasskeyView, SecondFactors},
    ApiError,
};
use crate::ui::components::{action_error, input_value, short_time, ConfirmButton};
use crate::ui::step_up::StepUpOr;
use crate::ui::webauthn::create_credential;
use leptos::prelude::*;

/// Settings: the person's passkeys, one to add, and each one's removal.
#[component]
pub fn PasskeyList(
    factors: SecondFactors,
    add: ServerAction<FinishPasskeyRegistration>,
    remove: ServerAction<RemovePasskey>,
    /// Made by the section around the list (`retry_of`): the list is made anew each time the
    /// factors are read again, and a retry must remember what it runs again across that.
    retry_add: Callback<()>,
    retry_remove: Callback<()>,
) -> impl IntoView {
    let name = NodeRef::<leptos::html::Input>::new();
    let starting = RwSignal::new(false);
    let start_error = RwSignal::new(None::<ApiError>);
    // Starting asks the server (which may need a step-up) and then the browser; finishing is
    // the `add` action, which may need one too.
    let begin = move || {
        let typed = input_value(name);
        starting.set(true);
        start_error.set(None);
        leptos::task::spawn_local(async move {
            let made = match start_passkey_registration().await {
                Ok(challenge) => create_credential(challenge.options).await,
                Err(error) => Err(error),
            };
            match made {
                Ok(credential) => {
                    add.dispatch(FinishPasskeyRegistration {
                        request: FinishPasskeyRequest {
                            name: typed,
                            credential,
                        },
                    });
                }
                Err(error) => start_error.set(Some(error)),
            }
            starting.set(false);
        });
    };
    // A passkey added: the field is ready for the next one.
    Effect::new(move |_| {
        if let (Some(Ok(_)), Some(input)) = (add.value().get(), name.get()) {
            input.set_value("");
        }
    });
    let passkeys = factors.passkeys;
    view! {
        <div class="passkeys" data-testid="passkeys">
            <h3 class="small-heading">"Passkeys"</h3>
            <p class="hint">"A passkey is kept by your phone, your computer or a security key and unlocked with your \
                fingerprint, face or PIN. It signs you in without a password, or as the second step after it."</p>
            {if passkeys.is_empty() {
                view! { <p class="muted">"No passkeys yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="passkey-list">
                        {passkeys.into_iter().map(|passkey| view! { <PasskeyRow passkey remove /> }).collect_view()}
                    </ul>
                }
                    .into_any()
            }}
            <form class="inline-form" on:submit=move |ev| {
                ev.prevent_default();
                begin();
            }>
                <label for="passkey-name">"Name of the new passkey"</label>
                <input id="passkey-name" required maxlength="100" placeholder="Work laptop" node_ref=name />
                <button type="submit" disabled=move || starting.get() || add.pending().get()>
                    {move || if starting.get() { "Waiting for your device…" } else { "Add a passkey" }}
                </button>
            </form>
            <StepUpOr error=start_error retry=Callback::new(move |_: ()| begin()) />
            <StepUpOr error=action_error(add.value()) retry=retry_add />
            <StepUpOr error=action_error(remove.value()) retry=retry_remove />
        </div>
    }
}

#[component]
fn PasskeyRow(passkey: PasskeyView, remove: ServerAction<RemovePasskey>) -> impl IntoView {
    let id = passkey.id.clone();
    let used = passkey
        .last_used_at
        .as_deref()
        .map(|at| format!("last used {}", short_time(at)))
        .unwrap_or_else(|| "not used yet".to_string());
    view! {
        <li>
            <span><strong>{passkey.name.clone()}</strong>
                <span class="muted">{format!(" · added {} · {used}", short_time(&passkey.created_at))}</span></span>
            <ConfirmButton
                label="Remove"
                question=format!("Remove the passkey “{}”? It will no longer sign you in.", passkey.name)
                confirm_label="Remove passkey"
                on_confirm=move |_| { remove.dispatch(RemovePasskey { request: PasskeyIdRequest { passkey_id: id.clone() } }); }
                pending=remove.pending()
            />
        </li>
    }
}
