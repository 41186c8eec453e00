//! Single sign-on in the UI: the "Sign in with SSO" link and what the sign-in page says when the
//! identity provider's round trip failed, and the Settings section where Admins require single
//! sign-on and give the identity provider its SCIM token.
//!
//! Whether this keyward has single sign-on at all is said by the server-rendered page itself
//! (`<meta name="keyward-sso">` in the shell, see [`SSO_META`]), so the sign-in page shows the
//! link without asking the server first, and the browser's render agrees with the server's.

use crate::api::account::SetKeyPolicy;
use crate::api::sso::{sso_settings, CreateScimToken, RevokeScimToken};
use crate::domain::{
    requests::{CreateScimTokenRequest, SetKeyPolicyRequest},
    views::{Me, SsoSettings},
    Permission, Role,
};
use crate::ui::components::{
    action_error, Card, ConfirmButton, CopyButton, ErrorNote, Loading, RelativeTime, RoleBadge,
    RoleSelect, SecretOnce,
};
use crate::ui::step_up::{retry_of, StepUpOr};
use leptos::prelude::*;

/// The name of the shell's meta tag that is present when single sign-on is set up.
pub const SSO_META: &str = "keyward-sso";

/// Whether this keyward signs people in through an identity provider: the server's own state
/// while rendering, the page's meta tag in the browser (the server put it there).
pub fn sso_available() -> bool {
    #[cfg(feature = "ssr")]
    let available =
        use_context::<crate::server::AppState>().is_some_and(|state| state.oidc.is_some());
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    let available = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| {
            document
                .query_selector(&format!("meta[name=\"{SSO_META}\"]"))
                .ok()
                .flatten()
        })
        .is_some();
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    let available = false;
    available
}

/// Where single sign-on starts, coming back to `return_to` (a path of keyward's) afterwards.
pub fn start_url(return_to: Option<&str>) -> String {
    match return_to {
        Some(path) => format!("/auth/oidc/start?return_to={}", encode_path(path)),
        None => "/auth/oidc/start".to_string(),
    }
}

/// A path as a query value: the few characters a path may hold that a query may not.
fn encode_path(path: &str) -> String {
    path.chars()
        .map(|c| match c {
            '&' => "%26".to_string(),
            '#' => "%23".to_string(),
            '+' => "%2B".to_string(),
            '?' => "%3F".to_string(),
            '=' => "%3D".to_string(),
            ' ' => "%20".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// What the sign-in page says about `/login?sso_error=<code>`.
pub fn sso_error_message(code: &str) -> &'static str {
    match code {
        "not_configured" => "Single sign-on is not set up on this keyward. Sign in with your password.",
        "provider" => "Your identity provider could not be reached. Try again in a moment.",
        "denied" => "Your identity provider did not let you in, or you cancelled. Start again to retry.",
        "rejected" => "Your identity provider's answer did not pass keyward's checks. Start again.",
        "state" => "That sign-in was not started in this browser, was used already, or took longer than ten minutes. Start again.",
        "unverified_email" => "Your identity provider does not say your email address is verified, so keyward cannot tell which login is yours. Ask your IT team to verify it.",
        "no_login" => "No keyward login has your email address yet. Ask an Admin of your team to invite you.",
        "no_account" => "Your login is not in any account now: you were removed or switched off. Ask an Admin of your team.",
        _ => "Single sign-on did not work. Try again.",
    }
}

/// The sign-in page's "Sign in with SSO": a plain link, since the provider's page is a
/// navigation away. Nothing when single sign-on is not set up.
#[component]
pub fn SsoSignInLink() -> impl IntoView {
    sso_available().then(|| {
        view! {
            <div class="sso-sign-in">
                <a class="button secondary" href=start_url(None) rel="external">"Sign in with SSO"</a>
                <p class="hint">"Through your company's identity provider."</p>
            </div>
        }
    })
}

/// Settings' single sign-on section: everyone sees how they sign in here; an Admin in a
/// browser requires single sign-on and manages the SCIM token.
#[component]
pub fn SingleSignOnSection(me: Me) -> impl IntoView {
    let can_set_policy = crate::domain::allows(me.role, me.via, Permission::AccountWrite)
        && me.via == crate::domain::views::Via::Session;
    let can_manage_scim = crate::domain::allows(me.role, me.via, Permission::ScimWrite);
    let require = ServerAction::<SetKeyPolicy>::new();
    let create = ServerAction::<CreateScimToken>::new();
    let revoke = ServerAction::<RevokeScimToken>::new();
    let retry_require = retry_of(require);
    let retry_create = retry_of(create);
    let settings = Resource::new(
        move || {
            (
                require.version().get(),
                create.version().get(),
                revoke.version().get(),
            )
        },
        |_| sso_settings(),
    );
    let created = move || {
        create
            .value()
            .get()
            .and_then(Result::ok)
            .map(|created| created.token)
    };
    let actions = ScimActions {
        create,
        revoke,
        retry_create,
        can_manage: can_manage_scim,
    };
    view! {
        <Card
            class="single-sign-on"
            title_id="sso-title"
            title="Single sign-on"
            hint="Your company's identity provider (Okta, Entra ID, Google Workspace, Keycloak…) signs people in, and \
                  switches them off: a person it suspends through SCIM can use neither a browser session nor any of \
                  their keys in this account from the next request, until it switches them on again."
        >
            <Transition fallback=|| view! { <Loading /> }>
                {move || Suspend::new(async move {
                    match settings.await {
                        Ok(current) => view! {
                            <SignOnPolicy settings=current.sso.clone() can_set_policy require retry=retry_require />
                            <Provisioning settings=current.sso actions />
                        }.into_any(),
                        Err(error) => view! { <ErrorNote error=Some(error) /> }.into_any(),
                    }
                })}
            </Transition>
            {move || created().map(|token| view! {
                <SecretOnce
                    testid="scim-token"
                    heading="The SCIM token: copy it now, keyward shows it only this once."
                    secret=token
                    note="Give it to your identity provider as the bearer token of keyward's SCIM app. The token it replaces stopped working."
                />
            })}
        </Card>
    }
}

/// Who signs in how: the provider, and the account's `require_sso` (a checkbox for Admins).
#[component]
fn SignOnPolicy(
    settings: SsoSettings,
    can_set_policy: bool,
    require: ServerAction<SetKeyPolicy>,
    retry: Callback<()>,
) -> impl IntoView {
    let Some(issuer) = settings.issuer else {
        return view! {
            <p class="muted">"This keyward has no single sign-on: its operator sets KEYWARD_OIDC_ISSUER, \
                KEYWARD_OIDC_CLIENT_ID and KEYWARD_OIDC_CLIENT_SECRET (see the README's Single sign-on)."</p>
        }
        .into_any();
    };
    let required = settings.require_sso;
    let described = if required {
        "Members of this account sign in through it only: a password or a passkey alone does not open it. \
         Keys keep working."
    } else {
        "Members may sign in through it, or with their password."
    };
    let submit = move |on: bool| {
        require.dispatch(SetKeyPolicy {
            request: SetKeyPolicyRequest {
                max_key_lifetime_days: None,
                require_expiry: None,
                require_service_key_guard: None,
                require_second_factor: None,
                require_sso: Some(on),
            },
        });
    };
    view! {
        <p>"Identity provider: " <code>{issuer}</code></p>
        <p data-testid="sso-policy">{described}</p>
        {can_set_policy.then(|| view! {
            <div class="actions">
                {if required {
                    view! {
                        <button type="button" class="secondary" on:click=move |_| submit(false) disabled=move || require.pending().get()>
                            "Allow passwords again"
                        </button>
                    }.into_any()
                } else {
                    view! {
                        <button type="button" on:click=move |_| submit(true) disabled=move || require.pending().get()>
                            "Require single sign-on"
                        </button>
                    }.into_any()
                }}
            </div>
            <p class="hint">"Only someone signed in with single sign-on can turn it on, so nobody locks themselves out. \
                If the identity provider ever fails, the server's operator lets one Admin use a password again: \
                keyward admin break-glass."</p>
            <StepUpOr error=action_error(require.value()) retry />
        })}
    }
    .into_any()
}

/// The actions of the provisioning part.
#[derive(Clone, Copy)]
struct ScimActions {
    create: ServerAction<CreateScimToken>,
    revoke: ServerAction<RevokeScimToken>,
    retry_create: Callback<()>,
    can_manage: bool,
}

/// Provisioning (SCIM): where the provider sends its requests, the token it holds, and for
/// Admins a new token (with the role of the members it creates) or its revocation.
#[component]
fn Provisioning(settings: SsoSettings, actions: ScimActions) -> impl IntoView {
    let role = RwSignal::new(
        settings
            .scim_token
            .as_ref()
            .map_or(Role::ReadOnly, |token| token.default_role),
    );
    let has_token = settings.scim_token.is_some();
    view! {
        <h3>"Provisioning (SCIM)"</h3>
        <p>"SCIM endpoint: " <code data-testid="scim-endpoint">{settings.scim_endpoint.clone()}</code> " "
            <CopyButton text=settings.scim_endpoint label="Copy" /></p>
        {match settings.scim_token {
            Some(token) => view! {
                <p data-testid="scim-token-status">
                    "Token " <code>{token.hint}</code> ", made "
                    <RelativeTime at=token.created_at />
                    {token.created_by.map(|by| format!(" by {}", by.email))}
                    "; new members join as " <RoleBadge role=token.default_role /> ". "
                    {match token.last_used_at {
                        Some(used) => view! { "Last used " <RelativeTime at=used /> "." }.into_any(),
                        None => view! { "Not used yet." }.into_any(),
                    }}
                </p>
            }.into_any(),
            None => view! {
                <p class="muted" data-testid="scim-token-status">"No SCIM token: the identity provider cannot provision this account."</p>
            }.into_any(),
        }}
        {actions.can_manage.then(|| view! {
            <div class="scim-token-form">
                <label for="scim-default-role">"New members join as"</label>
                <RoleSelect id="scim-default-role" roles=Role::ALL.to_vec() value=role />
                <div class="actions">
                    <button type="button" disabled=move || actions.create.pending().get() on:click=move |_| {
                        actions.create.dispatch(CreateScimToken {
                            request: CreateScimTokenRequest { default_role: Some(role.get()) },
                        });
                    }>{if has_token { "Replace the token" } else { "Create a SCIM token" }}</button>
                    {has_token.then(|| view! {
                        <ConfirmButton
                            label="Revoke the token"
                            question="Revoke the SCIM token? The identity provider's next request is refused; people stay as they are."
                            confirm_label="Revoke"
                            on_confirm=move |_| { actions.revoke.dispatch(RevokeScimToken {}); }
                            pending=actions.revoke.pending()
                        />
                    })}
                </div>
                <StepUpOr error=action_error(actions.create.value()) retry=actions.retry_create />
                <ErrorNote error=action_error(actions.revoke.value()) />
            </div>
        })}
    }
}
