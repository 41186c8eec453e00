//! The account's single sign-on and provisioning settings: whether this keyward signs people in
//! through an identity provider, whether the account requires it (the policy's `require_sso`,
//! changed with `account/set-policy`), and the SCIM token the provider provisions with
//! (`scim:write`: an Admin in a browser, with a recent proof — the token adds and removes
//! people for as long as it lives, so no key may make one).

use crate::domain::wire::Json;
use crate::domain::{
    requests::CreateScimTokenRequest,
    views::{CreatedScimToken, Empty, OneSsoSettings},
    ApiError,
};
use leptos::prelude::*;

/// The settings as the caller's account has them now.
#[cfg(feature = "ssr")]
async fn settings_of(
    state: &crate::server::AppState,
    account_id: &crate::domain::ids::AccountId,
) -> Result<crate::domain::views::SsoSettings, ApiError> {
    use crate::domain::time::rfc3339;
    use crate::domain::views::{ScimTokenView, SsoSettings};
    use crate::server::stores;

    let policy = stores::accounts::key_policy(&state.pool, account_id).await?;
    let token = stores::scim_tokens::of_account(&state.pool, account_id).await?;
    let headers: axum::http::HeaderMap = leptos_axum::extract().await.unwrap_or_default();
    Ok(SsoSettings {
        issuer: state.oidc.as_ref().map(|oidc| oidc.issuer().to_string()),
        require_sso: policy.require_sso,
        scim_endpoint: format!(
            "{}{}",
            crate::server::request::public_base_url(&state.config, &headers),
            crate::host::scim::PREFIX
        ),
        scim_token: token.map(|token| ScimTokenView {
            created_by: token.created_by(),
            hint: token.hint,
            default_role: token.default_role,
            created_at: rfc3339(token.created_at),
            last_used_at: token.last_used_at.map(rfc3339),
        }),
    })
}

/// Single sign-on and provisioning as the account has them (any role: people need to know how
/// they sign in).
#[server(prefix = "/api", endpoint = "v1/account/sso", input = Json, output = Json)]
pub async fn sso_settings() -> Result<OneSsoSettings, ApiError> {
    use crate::domain::Permission;
    use crate::server::caller::authorize;

    let (state, caller) = authorize(Permission::AccountRead).await?;
    Ok(OneSsoSettings {
        sso: settings_of(&state, caller.account_id()).await?,
    })
}

/// A new SCIM token for the account, shown in this answer only; the one it had stops at once.
#[server(prefix = "/api", endpoint = "v1/account/scim-token", input = Json, output = Json)]
pub async fn create_scim_token(
    #[server(flatten)] request: CreateScimTokenRequest,
) -> Result<CreatedScimToken, ApiError> {
    use crate::domain::{audit::AuditAction, Permission, Role};
    use crate::server::caller::authorize_with_recent_proof;
    use crate::server::respond::respond_created;
    use crate::server::sso::scim::ScimToken;
    use crate::server::stores;
    use serde_json::json;

    let (state, caller) = authorize_with_recent_proof(Permission::ScimWrite).await?;
    let default_role = request.default_role.unwrap_or(Role::ReadOnly);
    let token = ScimToken::generate();
    let event = caller
        .audit(&state, AuditAction::ScimTokenCreated)
        .details(json!({"default_role": default_role.as_str()}));
    let new = stores::scim_tokens::NewScimToken {
        account_id: caller.account_id(),
        token_hash: &token.hash(&state.key_hasher),
        hint: &token.hint(),
        default_role,
        created_by: caller.user.as_ref().map(|user| &user.id),
        now: crate::domain::time::now_millis(),
    };
    stores::scim_tokens::replace(&state.pool, &new, event).await?;
    respond_created();
    Ok(CreatedScimToken {
        sso: settings_of(&state, caller.account_id()).await?,
        token: token.reveal_once(),
    })
}

/// Revokes the account's SCIM token: the identity provider's next request is refused. 404 when
/// the account has none.
#[server(prefix = "/api", endpoint = "v1/account/revoke-scim-token", input = Json, output = Json)]
pub async fn revoke_scim_token() -> Result<Empty, ApiError> {
    use crate::domain::{audit::AuditAction, Permission};
    use crate::server::caller::authorize;
    use crate::server::stores;

    // Revoking takes power away: no recent proof needed, as for revoking a key.
    let (state, caller) = authorize(Permission::ScimWrite).await?;
    let event = caller.audit(&state, AuditAction::ScimTokenRevoked);
    if !stores::scim_tokens::revoke(&state.pool, caller.account_id(), event).await? {
        return Err(ApiError::not_found("SCIM token"));
    }
    Ok(Empty {})
}
