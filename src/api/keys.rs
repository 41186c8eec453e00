use crate::domain::wire::Json;
use crate::domain::{
    requests::{
        CreateKeyRequest, GetKeyRequest, ListAccountKeysRequest, ListKeysRequest,
        ReportLeakRequest, RevokeKeyRequest, RotateKeyRequest, UpdateKeyRequest, VerifyKeyRequest,
    },
    views::{CreatedKey, Empty, KeyList, KeyVerdict, OneKey, RevokedKeys, RotatedKey},
    ApiError,
};
use leptos::prelude::*;

/// Creates a key for the caller's own membership. The secret is in this response and nowhere
/// else, ever: only its keyed hash is stored. A key made with a key is that key's child: never
/// above its role, never outliving it.
#[server(prefix = "/api", endpoint = "v1/keys/create", input = Json, output = Json)]
pub async fn create_key(
    #[server(flatten)] request: CreateKeyRequest,
) -> Result<CreatedKey, ApiError> {
    use crate::domain::Permission;
    use crate::server::caller::authorize_with_recent_proof;
    use crate::server::keys::lifecycle;
    use crate::server::respond::respond_created;

    let (state, caller) = authorize_with_recent_proof(Permission::KeysWrite).await?;
    let made = lifecycle::create(&state, &caller, request).await?;
    respond_created();
    Ok(CreatedKey {
        key: made.key,
        secret: made.secret.reveal_once(),
    })
}

/// The caller's own keys in the current account, newest first, a page at a time; revoked and
/// expired ones included unless `status` says otherwise.
#[server(prefix = "/api", endpoint = "v1/keys/list", input = Json, output = Json)]
pub async fn list_keys(#[server(flatten)] request: ListKeysRequest) -> Result<KeyList, ApiError> {
    use crate::domain::Permission;
    use crate::server::caller::authorize;
    use crate::server::keys::lifecycle;

    let (state, caller) = authorize(Permission::KeysRead).await?;
    lifecycle::list_own(&state, &caller, request).await
}

/// One key with everything about it: the caller's own, or — for an Admin — any key of the
/// account.
#[server(prefix = "/api", endpoint = "v1/keys/get", input = Json, output = Json)]
pub async fn get_key(#[server(flatten)] request: GetKeyRequest) -> Result<OneKey, ApiError> {
    use crate::server::caller::resolve_caller;
    use crate::server::keys::lifecycle;

    let (state, caller) = resolve_caller().await?;
    let key = lifecycle::get(&state, &caller, &request.key_id).await?;
    Ok(OneKey { key })
}

/// Revokes a key — and every key it created — or up to 100 keys in one transaction. Any key
/// may revoke itself; otherwise the caller's own keys (through a key, only with Read & write or
/// Admin), or — for an Admin — any key of the account. When one of the keys may not be
/// revoked by the caller, none is.
#[server(prefix = "/api", endpoint = "v1/keys/revoke", input = Json, output = Json)]
pub async fn revoke_key(
    #[server(flatten)] request: RevokeKeyRequest,
) -> Result<RevokedKeys, ApiError> {
    use crate::domain::ids::KeyId;
    use crate::server::caller::resolve_caller;
    use crate::server::keys::lifecycle;

    const MOST: usize = 100;
    let RevokeKeyRequest { key_id, key_ids } = request;
    let (field, ids) = match (key_id, key_ids) {
        (Some(id), None) => ("key_id", vec![id]),
        (None, Some(ids)) if (1..=MOST).contains(&ids.len()) => ("key_ids", ids),
        (None, Some(_)) => {
            return Err(ApiError::invalid_input(
                "key_ids",
                "must hold 1 to 100 key ids",
            ))
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_input(
                "key_ids",
                "send either key_id or key_ids, not both",
            ))
        }
        (None, None) => {
            return Err(ApiError::invalid_input(
                "key_id",
                "is required (or key_ids, a list of up to 100)",
            ))
        }
    };
    let mut parsed: Vec<KeyId> = Vec::with_capacity(ids.len());
    for id in &ids {
        let id = KeyId::parse(field, id)?;
        if !parsed.contains(&id) {
            parsed.push(id);
        }
    }
    let (state, caller) = resolve_caller().await?;
    let keys = lifecycle::revoke(&state, &caller, &parsed).await?;
    Ok(RevokedKeys {
        key: keys[0].clone(),
        keys,
    })
}

/// Renames a key or changes its guards (allowed networks, requests a minute); the next request
/// with the key sees the change. The owner's own keys, or — for an Admin — any key. Through a
/// key only the name can change: a stolen key must not loosen its own guards.
#[server(prefix = "/api", endpoint = "v1/keys/update", input = Json, output = Json)]
pub async fn update_key(#[server(flatten)] request: UpdateKeyRequest) -> Result<OneKey, ApiError> {
    use crate::server::caller::resolve_caller;
    use crate::server::keys::lifecycle;

    let (state, caller) = resolve_caller().await?;
    // A new name changes nothing a key may do; anything else may loosen it.
    let changes_what_it_may_do = request.allowed_cidrs.is_some()
        || request.rate_limit_per_minute.is_some()
        || request.permissions.is_some()
        || request.check_ids.is_some();
    if changes_what_it_may_do {
        crate::server::signin::step_up::require_recent_proof(&state, &caller)?;
    }
    let key = lifecycle::update(&state, &caller, request).await?;
    Ok(OneKey { key })
}

/// Replaces a key without downtime: the successor copies the old key's owner, name, cap and
/// lifetime and is shown once; the old key keeps working for `grace_seconds`, then stops (with
/// every key it created). A key is rotated once. Through a key, only the calling key itself
/// can be rotated (and only with Read & write or Admin): a key must not mint a secret for a
/// sibling that may do more than it.
#[server(prefix = "/api", endpoint = "v1/keys/rotate", input = Json, output = Json)]
pub async fn rotate_key(
    #[server(flatten)] request: RotateKeyRequest,
) -> Result<RotatedKey, ApiError> {
    use crate::server::caller::resolve_caller;
    use crate::server::keys::lifecycle;
    use crate::server::respond::respond_created;

    let (state, caller) = resolve_caller().await?;
    // A successor is a new secret: as sensitive as making a key.
    crate::server::signin::step_up::require_recent_proof(&state, &caller)?;
    let RotateKeyRequest {
        key_id,
        grace_seconds,
        to_service_account_id,
    } = request;
    let rotation = lifecycle::rotate(
        &state,
        &caller,
        &key_id,
        grace_seconds,
        to_service_account_id,
    )
    .await?;
    respond_created();
    Ok(RotatedKey {
        key: rotation.successor.key,
        secret: rotation.successor.secret.reveal_once(),
        previous: rotation.previous,
    })
}

/// For anyone who finds keys where they should not be — a secret scanner, a person: every
/// valid key among `secrets` is revoked at once (with the keys it created), its owner is told
/// in the app, and the account's audit trail names the reporter's address. The answer is the
/// same `202` whatever the secrets were, so it tells nothing about them.
#[server(prefix = "/api", endpoint = "v1/keys/report-leak", input = Json, output = Json)]
pub async fn report_leak(#[server(flatten)] request: ReportLeakRequest) -> Result<Empty, ApiError> {
    use crate::domain::ErrorCode;
    use crate::server::keys::lifecycle;
    use crate::server::request::{app_state, client_address};
    use crate::server::respond::{respond_accepted, respond_retry_after};

    let state = app_state()?;
    if request.secrets.is_empty() || request.secrets.len() > 100 {
        return Err(ApiError::invalid_input(
            "secrets",
            "must hold 1 to 100 keys",
        ));
    }
    if let Err(wait) = state.throttles.leak_report(client_address(&state)).await {
        respond_retry_after(wait);
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            "Too many leak reports from this address. Wait a moment and send the rest.",
        ));
    }
    lifecycle::revoke_reported(&state, &request.secrets).await?;
    respond_accepted();
    Ok(Empty {})
}

/// Every key of the account, legacy account keys included (Admins only), newest first, a page
/// at a time.
#[server(prefix = "/api", endpoint = "v1/account-keys/list", input = Json, output = Json)]
pub async fn list_account_keys(
    #[server(flatten)] request: ListAccountKeysRequest,
) -> Result<KeyList, ApiError> {
    use crate::domain::{ids::UserId, Permission};
    use crate::server::caller::authorize;
    use crate::server::keys::lifecycle::{self, ListedOwner};
    use crate::server::paging::present;

    let (state, caller) = authorize(Permission::AccountKeysRead).await?;
    let ListAccountKeysRequest {
        cursor,
        limit,
        search,
        status,
        owner_user_id,
        service_account_id,
    } = request;
    let owner = present(&owner_user_id)
        .map(|id| UserId::parse("owner_user_id", id))
        .transpose()?;
    let service_account =
        crate::server::keys::rules::service_account_id("service_account_id", &service_account_id)?;
    let filters = ListKeysRequest {
        cursor,
        limit,
        search,
        status,
        service_account_id: None,
    };
    let owner = match (&owner, &service_account) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_input(
                "service_account_id",
                "filter by owner_user_id or by service_account_id, not both",
            ))
        }
        (Some(person), None) => ListedOwner::Person(person),
        (None, Some(service_account)) => ListedOwner::ServiceAccount(service_account),
        (None, None) => ListedOwner::Everyone,
    };
    lifecycle::list(&state, &caller, owner, filters, "account-keys/list").await
}

/// For a service behind keyward: is the key its client sent good, whose is it, and may it do
/// what the request needs? Asked with the service's own key (one granted `keys:verify`); the
/// shown key goes through the same check as a call to keyward's own API — and is counted,
/// rate-limited and, when refused, recorded in the trail the same way. Always 200: `code` says
/// what was found. Another account's keys are `unknown`.
#[server(prefix = "/api", endpoint = "v1/keys/verify", input = Json, output = Json)]
pub async fn verify_key(
    #[server(flatten)] request: VerifyKeyRequest,
) -> Result<KeyVerdict, ApiError> {
    use crate::domain::{Permission, PermissionName};
    use crate::server::caller::authorize;
    use crate::server::keys::verify::{verify, Asked};
    use crate::server::request::RequestHead;
    use crate::server::respond::AnswerHeaders;

    let VerifyKeyRequest {
        secret,
        permission,
        client_address,
    } = request;
    let (state, caller) = authorize(Permission::KeysVerify).await?;
    let permission = crate::server::paging::present(&permission)
        .map(|name| {
            PermissionName::parse(name).ok_or_else(|| {
                ApiError::invalid_input(
                    "permission",
                    &format!("{name:?} is not a permission name (permissions/list has them all)"),
                )
            })
        })
        .transpose()?;
    if let (Some(PermissionName::Own(own)), Some(verifier)) = (&permission, &caller.key) {
        if !verifier
            .own_permissions
            .iter()
            .any(|(defined, _)| defined == own)
        {
            return Err(ApiError::invalid_input(
                "permission",
                &format!("{own} is not a permission of this account (permissions/define makes it)"),
            ));
        }
    }
    let client_address = crate::server::paging::present(&client_address)
        .map(|text| {
            text.parse::<std::net::IpAddr>().map_err(|_| {
                ApiError::invalid_input("client_address", "must be an IPv4 or IPv6 address")
            })
        })
        .transpose()?;
    let head = RequestHead {
        address: client_address,
        ..RequestHead::current(&state)?
    };
    let shown_to = serde_json::json!({
        "verifier_key_id": caller.key_id(),
        "verifier_key_name": caller.key.as_ref().map(|key| key.name.as_str()),
    });
    // The shown key's rate-limit headers are its own business: the body carries them, and the
    // answer's headers stay the verifier's.
    let mut shown_key_headers = AnswerHeaders::default();
    let verified = verify(
        &state,
        Asked {
            token: secret.trim(),
            permission: permission.as_ref(),
            head: &head,
            only_account: Some(caller.account_id()),
            shown_to,
        },
        &mut shown_key_headers,
    )
    .await?;
    Ok(KeyVerdict {
        permissions: verified
            .principal
            .as_ref()
            .map(|principal| principal.effective_permissions()),
        ..verified.verdict
    })
}
