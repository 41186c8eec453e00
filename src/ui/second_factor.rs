//! A person's second factor in the UI: the Settings section that sets up an authenticator app
//! (a QR code, a code to confirm it, recovery codes shown once), renews the recovery codes and
//! removes it; and the sign-in's second step.

use crate::api::passkeys::{FinishPasskeyRegistration, RemovePasskey};
use crate::api::second_factor::{
    list_second_factors, CompleteSignIn, ConfirmTotp, EnrollTotp, RemoveTotp, RenewRecoveryCodes,
};
use crate::domain::{
    requests::{ConfirmTotpRequest, SecondFactorRequest},
    views::{SecondFactors, TotpEnrollment},
    ApiError,
};
use crate::ui::components::{
    action_error, input_value, short_time, Card, ConfirmButton, CopyButton, ErrorNote, Loading,
};
use crate::ui::passkeys::PasskeyList;
use crate::ui::step_up::{retry_of, StepUpOr};
use crate::ui::webauthn::PasskeyButton;
use leptos::prelude::*;

/// The Settings section "Two-step sign-in".
#[component]
pub fn TwoStepSection() -> impl IntoView {
    let enroll = ServerAction::<EnrollTotp>::new();
    let confirm = ServerAction::<ConfirmTotp>::new();
    let remove = ServerAction::<RemoveTotp>::new();
    let renew = ServerAction::<RenewRecoveryCodes>::new();
    let add_passkey = ServerAction::<FinishPasskeyRegistration>::new();
    let remove_passkey = ServerAction::<RemovePasskey>::new();
    let retry_add = retry_of(add_passkey);
    let retry_remove = retry_of(remove_passkey);
    let factors = Resource::new(
        move || {
            (
                confirm.version().get(),
                remove.version().get(),
                renew.version().get(),
                add_passkey.version().get(),
                remove_passkey.version().get(),
            )
        },
        |_| list_second_factors(),
    );
    // What is on screen besides the status: the secret being set up (until it is confirmed
    // or the factor removed), and recovery codes just made (until the person has saved them).
    let setting_up = RwSignal::new(None::<TotpEnrollment>);
    let new_codes = RwSignal::new(None::<Vec<String>>);
    let typed_code = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(Ok(enrollment)) = enroll.value().get() {
            setting_up.set(Some(enrollment));
        }
    });
    // One effect per action: each shows the codes of its own latest answer only.
    Effect::new(move |_| {
        if let Some(Ok(codes)) = confirm.value().get() {
            setting_up.set(None);
            new_codes.set(Some(codes.recovery_codes));
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(codes)) = renew.value().get() {
            new_codes.set(Some(codes.recovery_codes));
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(added)) = add_passkey.value().get() {
            if let Some(codes) = added.recovery_codes {
                new_codes.set(Some(codes));
            }
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = remove.value().get() {
            setting_up.set(None);
            new_codes.set(None);
        }
    });
    let start = Callback::new(move |_: ()| {
        enroll.dispatch(EnrollTotp {});
    });
    let finish = Callback::new(move |_: ()| {
        confirm.dispatch(ConfirmTotp {
            request: ConfirmTotpRequest {
                code: typed_code.get_untracked(),
            },
        });
    });
    let drop_factor = Callback::new(move |_: ()| {
        remove.dispatch(RemoveTotp {});
    });
    let more_codes = Callback::new(move |_: ()| {
        renew.dispatch(RenewRecoveryCodes {});
    });
    view! {
        <Card
            class="narrow-left two-step"
            title_id="two-step-title"
            title="Two-step sign-in"
            hint="After your password, keyward asks for the 6-digit code of an authenticator app on your phone \
                  (1Password, Google Authenticator, Authy, …) or for one of your passkeys: a stolen password alone \
                  no longer signs anyone in. Keys are not affected; they never sign in."
        >
            <Transition fallback=|| view! { <Loading /> }>
                {move || Suspend::new(async move {
                    match factors.await {
                        Ok(status) => view! {
                            <FactorStatus status=status.clone() start drop_factor more_codes
                                starting=enroll.pending().into() removing=remove.pending().into()
                                setting_up=Signal::derive(move || setting_up.with(Option::is_some)) />
                            <PasskeyList factors=status add=add_passkey remove=remove_passkey retry_add retry_remove />
                        }
                            .into_any(),
                        Err(error) => view! { <ErrorNote error=Some(error) /> }.into_any(),
                    }
                })}
            </Transition>
            <StepUpOr error=action_error(enroll.value()) retry=start />
            <StepUpOr error=action_error(remove.value()) retry=drop_factor />
            <StepUpOr error=action_error(renew.value()) retry=more_codes />
            {move || setting_up.get().map(|enrollment| view! {
                <SetUpSteps enrollment typed_code finish confirm_error=action_error(confirm.value())
                    confirming=confirm.pending().into() />
            })}
            {move || new_codes.get().map(|codes| view! {
                <NewRecoveryCodes codes on_saved=Callback::new(move |_: ()| new_codes.set(None)) />
            })}
        </Card>
    }
}

/// On or off, and what can be done about the authenticator app and the recovery codes.
#[component]
fn FactorStatus(
    status: SecondFactors,
    start: Callback<()>,
    drop_factor: Callback<()>,
    more_codes: Callback<()>,
    starting: Signal<bool>,
    removing: Signal<bool>,
    /// The setup steps are on screen: their own button finishes it.
    setting_up: Signal<bool>,
) -> impl IntoView {
    let passkeys = status.passkeys.len();
    let has_app = status.totp_enabled_at.is_some();
    let what = [
        status
            .totp_enabled_at
            .as_deref()
            .map(|since| format!("Authenticator app since {}.", short_time(since))),
        match passkeys {
            0 => None,
            1 => Some("1 passkey.".to_string()),
            n => Some(format!("{n} passkeys.")),
        },
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let left = status.recovery_codes_left;
    let codes_line = match left {
        0 => "No recovery codes left: make new ones now, or losing your device locks you out."
            .to_string(),
        1 => "1 unused recovery code.".to_string(),
        n => format!("{n} unused recovery codes."),
    };
    let line = if what.is_empty() {
        view! {
            <p data-testid="two-step-status"><span class="badge">"Off"</span>" Your password alone signs you in."</p>
        }
            .into_any()
    } else {
        view! {
            <p data-testid="two-step-status">
                <span class="badge ok">"On"</span>
                {format!(" {what} ")}
                <span class:low=left <= 2>{codes_line}</span>
            </p>
        }
        .into_any()
    };
    let question = if passkeys > 0 {
        "Remove the authenticator app? Your passkeys still sign you in."
    } else {
        "Sign in with your password only from now on?"
    };
    view! {
        {line}
        <div class="actions">
            {if has_app {
                view! {
                    <ConfirmButton
                        label="Remove authenticator app"
                        question=question
                        confirm_label="Remove"
                        on_confirm=drop_factor
                        pending=removing
                    />
                }
                    .into_any()
            } else {
                view! {
                    <Show when=move || !setting_up.get()>
                        <button type="button" disabled=move || starting.get() on:click=move |_| start.run(())>
                            "Set up an authenticator app"
                        </button>
                    </Show>
                }
                    .into_any()
            }}
            {(!what.is_empty()).then(|| view! {
                <button type="button" class="secondary" on:click=move |_| more_codes.run(())>"New recovery codes"</button>
            })}
        </div>
    }
}

/// Scan, or type the key; then prove it with a code.
#[component]
fn SetUpSteps(
    enrollment: TotpEnrollment,
    typed_code: RwSignal<String>,
    finish: Callback<()>,
    confirm_error: Signal<Option<ApiError>>,
    confirming: Signal<bool>,
) -> impl IntoView {
    let secret = enrollment.secret.clone();
    view! {
        <div class="setup" data-testid="totp-setup">
            <ol>
                <li>
                    "Scan this code with your authenticator app:"
                    <img class="qr" src=enrollment.qr_code alt="QR code holding your authenticator secret" width="200" height="200" />
                </li>
                <li>
                    "Can't scan? Add an account by hand with this key (time-based): "
                    <code class="secret totp-secret" data-testid="totp-secret">{enrollment.secret}</code>
                    " " <CopyButton text=secret label="Copy key" />
                </li>
                <li>
                    <form on:submit=move |ev| { ev.prevent_default(); finish.run(()); }>
                        <label for="totp-code">"The 6-digit code your app shows now"</label>
                        <input id="totp-code" inputmode="numeric" autocomplete="one-time-code" maxlength="7" required
                            prop:value=move || typed_code.get()
                            on:input=move |ev| typed_code.set(event_target_value(&ev)) />
                        <StepUpOr error=confirm_error retry=finish />
                        <button type="submit" disabled=move || confirming.get()>"Turn on two-step sign-in"</button>
                    </form>
                </li>
            </ol>
        </div>
    }
}

/// Recovery codes, shown this once.
#[component]
fn NewRecoveryCodes(codes: Vec<String>, on_saved: Callback<()>) -> impl IntoView {
    let all = codes.join("\n");
    view! {
        <div class="notice recovery" role="status">
            <p><strong>"Save your recovery codes now: they are shown only this once."</strong>
                " Each one signs you in once in place of a code, if you lose your phone. Keep them in your password manager or on paper."</p>
            <ul class="recovery-codes" data-testid="recovery-codes">
                {codes.into_iter().map(|code| view! { <li><code>{code}</code></li> }).collect_view()}
            </ul>
            <div class="actions">
                <CopyButton text=all label="Copy all" />
                <button type="button" on:click=move |_| on_saved.run(())>"I have saved them"</button>
            </div>
        </div>
    }
}

/// The sign-in's second step: a code from the app, or a recovery code. `on_signed_in` runs
/// once the session has started.
#[component]
pub fn SecondStep(
    /// What the person has (`auth/login`'s `methods`): `totp`, `passkey`.
    methods: Vec<String>,
    on_signed_in: Callback<()>,
) -> impl IntoView {
    let complete = ServerAction::<CompleteSignIn>::new();
    let has_app = methods.iter().any(|method| method == "totp");
    let has_passkey = methods.iter().any(|method| method == "passkey");
    // Without an app, the field is for a recovery code.
    let with_recovery = RwSignal::new(!has_app);
    let with_passkey = Callback::new(move |answer: serde_json::Value| {
        complete.dispatch(CompleteSignIn {
            request: SecondFactorRequest {
                code: None,
                recovery_code: None,
                passkey: Some(answer),
            },
        });
    });
    let code = NodeRef::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = complete.value().get() {
            on_signed_in.run(());
        }
    });
    view! {
        <form method="post" data-testid="second-step" on:submit=move |ev| {
            ev.prevent_default();
            let typed = input_value(code);
            let request = if with_recovery.get_untracked() {
                SecondFactorRequest { code: None, recovery_code: Some(typed), passkey: None }
            } else {
                SecondFactorRequest { code: Some(typed), recovery_code: None, passkey: None }
            };
            complete.dispatch(CompleteSignIn { request });
        }>
            <p>"Your password is right. Now the second step:"</p>
            {has_passkey.then(|| view! {
                <PasskeyButton label="Use your passkey" use_answer=with_passkey />
                <p class="muted">"Or:"</p>
            })}
            {move || if with_recovery.get() {
                view! {
                    <label for="second-factor-code">"One of your recovery codes"</label>
                    <input id="second-factor-code" autocomplete="off" spellcheck="false" required node_ref=code />
                    <p class="hint">"Like abcde-fghjk. Each one works once."</p>
                }
                    .into_any()
            } else {
                view! {
                    <label for="second-factor-code">"The 6-digit code of your authenticator app"</label>
                    <input id="second-factor-code" inputmode="numeric" autocomplete="one-time-code" maxlength="7" required node_ref=code />
                }
                    .into_any()
            }}
            <ErrorNote error=action_error(complete.value()) />
            <button type="submit" disabled=move || complete.pending().get()>
                {move || if complete.pending().get() { "Checking…" } else { "Sign in" }}
            </button>
            {has_app.then(|| view! {
                <p>
                    <button type="button" class="link-button" on:click=move |_| with_recovery.update(|on| *on = !*on)>
                        {move || if with_recovery.get() { "Use a code from my app instead" } else { "Lost your phone? Use a recovery code" }}
                    </button>
                </p>
            })}
        </form>
    }
}
