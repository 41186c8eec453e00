use crate::domain::wire::Json;
use crate::domain::{requests::SetKeyPolicyRequest, views::OnePolicy, ApiError};
use leptos::prelude::*;

/// The account's key policy (any role: everyone creating keys needs to know it).
#[server(prefix = "/api", endpoint = "v1/account/policy", input = Json, output = Json)]
pub async fn key_policy() -> Result<OnePolicy, ApiError> {
    use crate::domain::Permission;
    use crate::server::caller::authorize;
    use crate::server::stores;

    let (state, caller) = authorize(Permission::AccountRead).await?;
    let policy = stores::accounts::key_policy(&state.pool, caller.account_id()).await?;
    Ok(OnePolicy { policy })
}

/// Changes the account's key policy (Admins; in a browser, with a recent proof). Lowering the
/// maximum lifetime refuses older keys at once without revoking them; raising it again brings
/// them back. Requiring a second factor needs one of the person turning it on, and requiring
/// single sign-on needs it set up and the person turning it on signed in through it, so an
/// Admin cannot shut themselves out.
#[server(prefix = "/api", endpoint = "v1/account/set-policy", input = Json, output = Json)]
pub async fn set_key_policy(
    #[server(flatten)] request: SetKeyPolicyRequest,
) -> Result<OnePolicy, ApiError> {
    use crate::domain::{audit::AuditAction, Permission};
    use crate::server::caller::authorize_with_recent_proof;
    use crate::server::stores;

    let (state, caller) = authorize_with_recent_proof(Permission::AccountWrite).await?;
    if request.require_second_factor == Some(true) {
        let has_one = match &caller.user {
            Some(user) => stores::second_factors::has_factor(&state.pool, &user.id).await?,
            None => false,
        };
        if !has_one {
            return Err(ApiError::conflict(
                "require_second_factor can be turned on only by a person with a second factor: set up two-step sign-in for yourself first (Settings).",
            ));
        }
    }
    if request.require_sso == Some(true) {
        if state.oidc.is_none() {
            return Err(ApiError::conflict(
                "require_sso: this keyward has no single sign-on; its operator sets KEYWARD_OIDC_ISSUER first.",
            ));
        }
        let current = stores::accounts::key_policy(&state.pool, caller.account_id()).await?;
        if !current.require_sso && !crate::server::signin::sessions::came_through_sso().await? {
            return Err(ApiError::conflict(
                "require_sso can be turned on only by a person signed in with single sign-on: sign in with SSO yourself first, so you know it works for you.",
            ));
        }
    }
    let max_key_lifetime_days = match request.max_key_lifetime_days {
        None => None,
        Some(None) => Some(None),
        Some(Some(days)) => Some(Some(
            u32::try_from(days)
                .ok()
                .filter(|days| (1..=3650).contains(days))
                .ok_or_else(|| {
                    ApiError::invalid_input(
                        "max_key_lifetime_days",
                        "must be 1 to 3650 days, or null for no maximum",
                    )
                })?,
        )),
    };
    let change = stores::accounts::KeyPolicyChange {
        max_key_lifetime_days,
        require_expiry: request.require_expiry,
        require_service_key_guard: request.require_service_key_guard,
        require_second_factor: request.require_second_factor,
        require_sso: request.require_sso,
    };
    let event = caller.audit(&state, AuditAction::PolicyChanged);
    let policy =
        stores::accounts::set_key_policy(&state.pool, caller.account_id(), &change, event).await?;
    // Keys that outlived a new maximum are refused from the next request, on every instance.
    crate::server::keys::changes::note_change(caller.account_id());
    Ok(OnePolicy { policy })
}
