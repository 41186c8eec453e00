//! Service accounts: machine identities that belong to the account, with a role like a
//! person's, so that a key can outlive whoever set it up — and legacy account keys can get an
//! owner (`account-keys/adopt`).

use crate::domain::wire::Json;
use crate::domain::{
    requests::{
        AdoptKeyRequest, CreateServiceAccountRequest, ServiceAccountIdRequest,
        UpdateServiceAccountRequest,
    },
    views::{Empty, OneKey, OneServiceAccount, ServiceAccountList},
    ApiError,
};
use leptos::prelude::*;

/// Creates a service account (Admin, in a browser). It has no password and no session: it acts
/// only through the keys its custodians and the Admins make for it.
#[server(prefix = "/api", endpoint = "v1/service-accounts/create", input = Json, output = Json)]
pub async fn create_service_account(
    #[server(flatten)] request: CreateServiceAccountRequest,
) -> Result<OneServiceAccount, ApiError> {
    use crate::domain::inputs::{parse_description, ServiceAccountName};
    use crate::domain::time::now_millis;
    use crate::domain::{audit::AuditAction, ids::ServiceAccountId, Permission};
    use crate::server::caller::authorize_with_recent_proof;
    use crate::server::respond::respond_created;
    use crate::server::stores::service_accounts as store;

    let CreateServiceAccountRequest {
        name,
        role,
        description,
    } = request;
    let (state, caller) = authorize_with_recent_proof(Permission::ServiceAccountsWrite).await?;
    let name = ServiceAccountName::parse(&name)?;
    let description = parse_description(description.as_deref().unwrap_or_default())?;
    let id = ServiceAccountId::generate();
    let now = now_millis();
    store::insert(
        &state.pool,
        &store::NewServiceAccount {
            id: &id,
            account_id: caller.account_id(),
            name: name.as_str(),
            description: &description,
            role,
            created_by: caller.user.as_ref().map(|user| &user.id),
            now,
        },
        caller.audit(&state, AuditAction::ServiceAccountCreated),
    )
    .await?;
    let service_account = store::get(&state.pool, caller.account_id(), &id, now)
        .await?
        .ok_or_else(ApiError::internal)?;
    respond_created();
    Ok(OneServiceAccount { service_account })
}

/// The account's service accounts, oldest first, with their custodians (any role).
#[server(prefix = "/api", endpoint = "v1/service-accounts/list", input = Json, output = Json)]
pub async fn list_service_accounts() -> Result<ServiceAccountList, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::Permission;
    use crate::server::caller::authorize;
    use crate::server::stores::service_accounts as store;

    let (state, caller) = authorize(Permission::ServiceAccountsRead).await?;
    let service_accounts = store::list(&state.pool, caller.account_id(), now_millis()).await?;
    Ok(ServiceAccountList { service_accounts })
}

/// Changes a service account's name, description, role or custodians (Admin, in a browser). A
/// new role applies to every one of its keys from the next request, on every instance.
#[server(prefix = "/api", endpoint = "v1/service-accounts/update", input = Json, output = Json)]
pub async fn update_service_account(
    #[server(flatten)] request: UpdateServiceAccountRequest,
) -> Result<OneServiceAccount, ApiError> {
    use crate::domain::inputs::{parse_description, ServiceAccountName};
    use crate::domain::time::now_millis;
    use crate::domain::{
        audit::AuditAction,
        ids::{ServiceAccountId, UserId},
        Permission,
    };
    use crate::server::caller::authorize;
    use crate::server::stores::service_accounts as store;

    const MOST_CUSTODIANS: usize = 50;
    let UpdateServiceAccountRequest {
        service_account_id,
        name,
        role,
        description,
        custodian_user_ids,
    } = request;
    let (state, caller) = authorize(Permission::ServiceAccountsWrite).await?;
    // Its role and its custodians are who may do what; a name or description is not.
    if role.is_some() || custodian_user_ids.is_some() {
        crate::server::signin::step_up::require_recent_proof(&state, &caller)?;
    }
    let id = ServiceAccountId::parse("service_account_id", &service_account_id)?;
    let name = name.as_deref().map(ServiceAccountName::parse).transpose()?;
    let description = description.as_deref().map(parse_description).transpose()?;
    let custodians = match custodian_user_ids {
        Some(ids) if ids.len() > MOST_CUSTODIANS => {
            return Err(ApiError::invalid_input(
                "custodian_user_ids",
                "may list at most 50 people",
            ))
        }
        Some(ids) => {
            let mut parsed: Vec<UserId> = Vec::with_capacity(ids.len());
            for id in &ids {
                let id = UserId::parse("custodian_user_ids", id)?;
                if !parsed.contains(&id) {
                    parsed.push(id);
                }
            }
            Some(parsed)
        }
        None => None,
    };
    let now = now_millis();
    let before = store::get(&state.pool, caller.account_id(), &id, now)
        .await?
        .ok_or_else(|| ApiError::not_found("service_account"))?;
    let changes = store::ServiceAccountChanges {
        name: name.as_ref().map(ServiceAccountName::as_str),
        description: description.as_deref(),
        role,
        custodians: custodians.as_deref(),
    };
    let event = caller.audit(&state, AuditAction::ServiceAccountUpdated);
    store::update(&state.pool, caller.account_id(), &before, &changes, event).await?;
    if role.is_some_and(|role| role != before.role) {
        // Its keys act with the new role from the next request, on every instance.
        crate::server::keys::changes::note_change(caller.account_id());
    }
    let service_account = store::get(&state.pool, caller.account_id(), &id, now)
        .await?
        .ok_or_else(|| ApiError::not_found("service_account"))?;
    Ok(OneServiceAccount { service_account })
}

/// Deletes a service account (Admin, in a browser): every key it owns is revoked and stops on
/// the next request. The trail and its keys' pages keep its name.
#[server(prefix = "/api", endpoint = "v1/service-accounts/delete", input = Json, output = Json)]
pub async fn delete_service_account(
    #[server(flatten)] request: ServiceAccountIdRequest,
) -> Result<Empty, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::{audit::AuditAction, ids::ServiceAccountId, Permission};
    use crate::server::caller::authorize;
    use crate::server::stores::service_accounts as store;

    let (state, caller) = authorize(Permission::ServiceAccountsWrite).await?;
    let id = ServiceAccountId::parse("service_account_id", &request.service_account_id)?;
    let now = now_millis();
    let service_account = store::get(&state.pool, caller.account_id(), &id, now)
        .await?
        .ok_or_else(|| ApiError::not_found("service_account"))?;
    let event = caller.audit(&state, AuditAction::ServiceAccountDeleted);
    let stopped = store::delete(
        &state.pool,
        caller.account_id(),
        &service_account,
        now,
        event,
    )
    .await?;
    crate::server::keys::changes::note_change(caller.account_id());
    tracing::info!(service_account_id = %id, account_id = %caller.account_id(), stopped, "deleted a service account");
    Ok(Empty {})
}

/// Moves a legacy account key under a service account (Admin, in a browser): the same secret
/// keeps working — nothing to re-issue to the integrations that use it — now with the service
/// account's role, and its uses name the service account in the trail.
#[server(prefix = "/api", endpoint = "v1/account-keys/adopt", input = Json, output = Json)]
pub async fn adopt_account_key(
    #[server(flatten)] request: AdoptKeyRequest,
) -> Result<OneKey, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::views::{KeyKind, KeyStatus};
    use crate::domain::{
        audit::AuditAction,
        ids::{KeyId, ServiceAccountId},
        Permission,
    };
    use crate::server::caller::authorize_with_recent_proof;
    use crate::server::stores;

    let AdoptKeyRequest {
        key_id,
        service_account_id,
    } = request;
    let (state, caller) = authorize_with_recent_proof(Permission::ServiceAccountsWrite).await?;
    caller.authorize(Permission::AccountKeysWrite)?;
    let key_id = KeyId::parse("key_id", &key_id)?;
    let service_account_id = ServiceAccountId::parse("service_account_id", &service_account_id)?;
    let now = now_millis();
    let key = stores::keys::read::get(&state.pool, caller.account_id(), &key_id, now)
        .await?
        .ok_or_else(|| ApiError::not_found("key"))?;
    if key.kind != KeyKind::LegacyAccount {
        return Err(ApiError::conflict(
            "key_id: only a legacy account key can be adopted; this key already has an owner.",
        ));
    }
    if key.status == KeyStatus::Revoked {
        return Err(ApiError::conflict(
            "key_id: this legacy key is revoked; there is nothing to adopt.",
        ));
    }
    let (service_account, _) =
        stores::service_accounts::find(&state.pool, caller.account_id(), &service_account_id)
            .await?
            .ok_or_else(|| ApiError::not_found("service_account"))?;
    let event = caller.audit(&state, AuditAction::KeyAdopted);
    let adopted = stores::service_accounts::adopt(
        &state.pool,
        caller.account_id(),
        &key.id,
        &key.name,
        &service_account,
        event,
    )
    .await?;
    if !adopted {
        return Err(ApiError::conflict(
            "This key was adopted, revoked or its service account deleted while this request ran.",
        ));
    }
    // The secret acts with the service account's role from the next request, on every instance.
    crate::server::keys::changes::note_change(caller.account_id());
    let key = stores::keys::read::get(&state.pool, caller.account_id(), &key_id, now)
        .await?
        .ok_or_else(ApiError::internal)?;
    Ok(OneKey { key })
}
