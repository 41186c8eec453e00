use crate::api::{
    account::{key_policy, SetKeyPolicy},
    auth::ChangePassword,
};
use crate::domain::{
    requests::{ChangePasswordRequest, SetKeyPolicyRequest},
    views::{KeyPolicy, Me},
    ApiError, ErrorCode, Permission,
};
use crate::ui::{
    components::{action_error, input_value, Card, ErrorNote, Loading},
    layout::{use_session, SignedInPage},
    step_up::StepUpOr,
};
use leptos::prelude::*;

#[component]
pub fn SettingsPage() -> impl IntoView {
    view! {
        <SignedInPage title="Settings" render=|me| view! { <Settings me /> } />
    }
}

#[component]
fn Settings(me: Me) -> impl IntoView {
    let can_set_policy = crate::domain::allows(me.role, me.via, Permission::AccountWrite);
    // Webhooks carry the audit trail: shown to whoever may read it, changed by Admins.
    let can_read_trail = crate::domain::allows(me.role, me.via, Permission::AuditRead);
    let can_manage_webhooks = crate::domain::allows(me.role, me.via, Permission::WebhooksWrite);
    // A second factor is a person's, for signing in: a key's holder has nothing to set up.
    let in_browser = me.via == crate::domain::views::Via::Session;
    let section_me = me.clone();
    let account_name = me.account.name.clone();
    let email = me.user.map(|user| user.email).unwrap_or_default();
    view! {
        <div class="page-head">
            <h1>"Settings"</h1>
            <p class="muted">{format!("Your login, {email}, and the rules of {account_name}.")}</p>
        </div>
        <ChangePasswordForm />
        {in_browser.then(|| view! { <crate::ui::second_factor::TwoStepSection /> })}
        <KeyPolicySection can_set_policy />
        <crate::ui::single_sign_on::SingleSignOnSection me=section_me />
        <crate::ui::own_permissions::OwnPermissionsSection can_define=can_set_policy />
        {can_read_trail.then(|| view! { <crate::ui::webhooks::WebhooksSection can_manage=can_manage_webhooks /> })}
    }
}

/// The account's key policy: shown to everyone (it decides which keys they may create),
/// changed by Admins.
#[component]
fn KeyPolicySection(can_set_policy: bool) -> impl IntoView {
    let session = use_session();
    let save = ServerAction::<SetKeyPolicy>::new();
    let policy = Resource::new(
        move || (session.version.get(), save.version().get()),
        |_| key_policy(),
    );
    view! {
        <Card
            class="narrow-left policy"
            title_id="policy-title"
            title="Account policy"
            hint="Rules for the keys and sign-ins of this account. A maximum lifetime applies when a key is created \
                  and every time it is used: an older key is refused (and the refusal is in the audit log) but \
                  not revoked, so raising the maximum brings it back. Legacy account keys are not affected."
        >
            <Transition fallback=|| view! { <Loading /> }>
                {move || Suspend::new(async move {
                    match policy.await {
                        Ok(current) if can_set_policy => view! { <PolicyForm current=current.policy save /> }.into_any(),
                        Ok(current) => view! { <p>{describe_policy(&current.policy)}</p> }.into_any(),
                        Err(error) => view! { <ErrorNote error=Some(error) /> }.into_any(),
                    }
                })}
            </Transition>
        </Card>
    }
}

/// The policy in words, for members who cannot change it.
fn describe_policy(policy: &KeyPolicy) -> String {
    let rule = match (policy.max_key_lifetime_days, policy.require_expiry) {
        (Some(days), _) => format!("Keys live at most {days} days."),
        (None, true) => "Every key must have an expiry date.".to_string(),
        (None, false) => "No rules: keys may live as long as their owners choose.".to_string(),
    };
    let guard = policy
        .require_service_key_guard
        .then_some(" Every service-account key must expire or be limited to networks.");
    let factor = policy
        .require_second_factor
        .then_some(" Every member must use two-step sign-in.");
    format!("{rule}{}{}", guard.unwrap_or(""), factor.unwrap_or(""))
}

#[component]
fn PolicyForm(current: KeyPolicy, save: ServerAction<SetKeyPolicy>) -> impl IntoView {
    let max_days = NodeRef::<leptos::html::Input>::new();
    let require = NodeRef::<leptos::html::Input>::new();
    let require_guard = NodeRef::<leptos::html::Input>::new();
    let require_factor = NodeRef::<leptos::html::Input>::new();
    let done = move || matches!(save.value().get(), Some(Ok(_)));
    let checked = |input: NodeRef<leptos::html::Input>| {
        input.get().map(|input| input.checked()).unwrap_or(false)
    };
    // Sent from the form as it stands, on submit and again after a step-up.
    let submit = move || {
        let typed = input_value(max_days);
        // An empty field removes the maximum; anything else is sent as typed, and the
        // server names the field if it is not a number of days.
        let max = if typed.trim().is_empty() {
            None
        } else {
            Some(typed.trim().parse::<i64>().unwrap_or(0))
        };
        save.dispatch(SetKeyPolicy {
            request: SetKeyPolicyRequest {
                max_key_lifetime_days: Some(max),
                require_expiry: Some(checked(require)),
                require_service_key_guard: Some(checked(require_guard)),
                require_second_factor: Some(checked(require_factor)),
                // Single sign-on has a section of its own, which sets it alone.
                require_sso: None,
            },
        });
    };
    view! {
        <form method="post" on:submit=move |ev| {
            ev.prevent_default();
            submit();
        }>
            <label for="policy-max-days">"Maximum key lifetime, in days"</label>
            <input id="policy-max-days" type="number" min="1" max="3650" placeholder="No maximum" node_ref=max_days
                value=current.max_key_lifetime_days.map(|days| days.to_string()).unwrap_or_default() />
            <p class="hint">"Empty: no maximum. With a maximum, every new key needs an expiry within it."</p>
            <div class="checkbox">
                <input id="policy-require-expiry" type="checkbox" node_ref=require checked=current.require_expiry />
                <label for="policy-require-expiry">"Every new key must have an expiry date"</label>
            </div>
            <div class="checkbox">
                <input id="policy-require-service-guard" type="checkbox" node_ref=require_guard checked=current.require_service_key_guard />
                <label for="policy-require-service-guard">"Every new service-account key must expire or be limited to networks"</label>
            </div>
            <div class="checkbox">
                <input id="policy-require-second-factor" type="checkbox" node_ref=require_factor checked=current.require_second_factor />
                <label for="policy-require-second-factor">"Every member must use two-step sign-in"</label>
            </div>
            <p class="hint">"Members without it can only set it up until they have. Their keys keep working. \
                You need two-step sign-in yourself to turn this on."</p>
            <StepUpOr error=action_error(save.value()) retry=Callback::new(move |_: ()| submit()) />
            {move || done().then(|| view! { <p class="success" role="status">"Policy saved."</p> })}
            <button type="submit" disabled=move || save.pending().get()>"Save policy"</button>
        </form>
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
