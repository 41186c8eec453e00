//! The inline "confirm it is you" of the actions that need a recent proof of the person
//! (`server::signin::step_up`): where such an action shows its error, [`StepUpOr`] asks for the
//! password or an authenticator code instead, and then runs the action again by itself.

use crate::api::second_factor::StepUp;
use crate::domain::{requests::StepUpRequest, ApiError, ErrorCode};
use crate::ui::components::{action_error, input_value, ErrorNote};
use crate::ui::single_sign_on::{sso_available, start_url};
use crate::ui::webauthn::PasskeyButton;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

/// The error of an action that may need a recent proof: when it does, a small group asks for
/// the password or a code and then runs the action again (`retry`); any other error is shown
/// as it is. Not a `<form>` of its own: it often sits inside the action's form, and forms do
/// not nest (Enter in its field confirms, it does not submit the outer form).
#[component]
pub fn StepUpOr(
    #[prop(into)] error: Signal<Option<ApiError>>,
    retry: Callback<()>,
) -> impl IntoView {
    move || match error.get() {
        Some(error) if error.code == ErrorCode::StepUpRequired => {
            Suspend::new(step_up_group(retry)).into_any()
        }
        other => view! { <ErrorNote error=other /> }.into_any(),
    }
}

/// The group that asks for the proof. Lazy: it is shown only when an action was refused for
/// want of a recent proof, so the pages whose actions may need one do not download it first.
#[lazy]
async fn step_up_group(retry: Callback<()>) -> AnyView {
    let step_up = ServerAction::<StepUp>::new();
    let proof = NodeRef::new();
    // Once proved, the action runs again, and its new answer replaces this group.
    Effect::new(move |_| {
        if let Some(Ok(_)) = step_up.value().get() {
            retry.run(());
        }
    });
    let confirm = move || {
        step_up.dispatch(StepUp {
            request: step_up_request(input_value(proof)),
        });
    };
    let with_passkey = Callback::new(move |answer: serde_json::Value| {
        step_up.dispatch(StepUp {
            request: StepUpRequest {
                password: None,
                code: None,
                passkey: Some(answer),
            },
        });
    });
    view! {
        <div class="step-up" role="group" aria-labelledby="step-up-title" data-testid="step-up">
            <p id="step-up-title"><strong>"Confirm it is you."</strong>
                " This is a sensitive change, and you last proved who you are a while ago."</p>
            <label for="step-up-proof">"Your password, or a code from your authenticator app"</label>
            <input id="step-up-proof" type="password" autocomplete="current-password" node_ref=proof
                on:keydown=move |ev| {
                    if ev.key() == "Enter" {
                        ev.prevent_default();
                        confirm();
                    }
                } />
            <ErrorNote error=action_error(step_up.value()) />
            <div class="actions">
                <button type="button" on:click=move |_| confirm() disabled=move || step_up.pending().get()>
                    "Confirm and continue"
                </button>
                <PasskeyButton label="Use a passkey" class="secondary" use_answer=with_passkey />
                // Signed in through the identity provider (perhaps without a password at
                // all): a fresh single sign-on is a fresh proof, and it comes back here.
                {sso_available().then(|| {
                    let here = leptos_router::hooks::use_location().pathname.get_untracked();
                    view! {
                        <a class="button secondary" href=start_url(Some(&here)) rel="external">"Sign in again with SSO"</a>
                    }
                })}
            </div>
        </div>
    }
    .into_any()
}

/// Six digits are a code (passwords have at least ten characters); anything else a password.
fn step_up_request(typed: String) -> StepUpRequest {
    let digits: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
        StepUpRequest {
            password: None,
            code: Some(digits),
            passkey: None,
        }
    } else {
        StepUpRequest {
            password: Some(typed),
            code: None,
            passkey: None,
        }
    }
}

/// What [`StepUpOr`] runs again for `action`: the same call it was last sent (an action forgets
/// its input once answered, so it is kept here). Make it where the action is made, not in a
/// view that a reload makes anew: a new one would not know the call.
pub fn retry_of<S>(action: ServerAction<S>) -> Callback<()>
where
    S: ServerFn + Send + Sync + Clone + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    let last = StoredValue::new(None::<S>);
    Effect::new(move |_| {
        if let Some(input) = action.input().get() {
            last.set_value(Some(input));
        }
    });
    Callback::new(move |_: ()| {
        if let Some(input) = last.get_value() {
            action.dispatch(input);
        }
    })
}
