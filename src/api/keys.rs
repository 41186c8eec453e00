use crate::domain::{
    requests::{
        CreateKeyRequest, GetKeyRequest, ListAccountKeysRequest, ListKeysRequest,
        ReportLeakRequest, RevokeKeyRequest, RotateKeyRequest, UpdateKeyRequest,
    },
    views::{CreatedKey, Empty, KeyList, OneKey, RevokedKeys, RotatedKey},
    ApiError,
};
use leptos::prelude::*;
use server_fn::codec::Json;

/// Creates a key for the caller's own membership. The secret is in this response and nowhere
/// else, ever: only its keyed hash is stored. A key made with a key is that key's child: never
/// above its role, never outliving it.
#[server(prefix = "/api", endpoint = "v1/keys/create", input = Json, output = Json)]
pub async fn create_key(
    #[server(flatten)] request: CreateKeyRequest,
) -> Result<CreatedKey, ApiError> {
    use crate::domain::time::{now_millis, parse_rfc3339, rfc3339};
    use crate::domain::{audit::AuditAction, ids::KeyId, inputs::KeyName, Action, ErrorCode};
    use crate::server::caller::authorize;
    use crate::server::keys::secret::KeySecret;
    use crate::server::respond::respond_created;
    use crate::server::{keys, stores};

    let CreateKeyRequest {
        name,
        role_cap,
        expires_at,
        allowed_cidrs,
        rate_limit_per_minute,
    } = request;
    let (state, caller) = authorize(Action::ChangeOwnKeys).await?;
    let owner = caller.person()?;
    let name = KeyName::parse(&name)?;
    if role_cap.is_some_and(|cap| cap > caller.role) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "role_cap: a key cannot have a higher role than the one creating it.",
        ));
    }
    let now = now_millis();
    let requested_expiry = match expires_at
        .as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty())
    {
        Some(text) => {
            let at = parse_rfc3339("expires_at", text)?;
            if at <= now {
                return Err(ApiError::invalid_input(
                    "expires_at",
                    "must be in the future",
                ));
            }
            Some(at)
        }
        None => None,
    };
    let (role_cap, expires_at) = match &caller.key {
        None => (role_cap, requested_expiry),
        // A child passes its parent's limits on: without a cap of its own, it would follow the
        // owner's full role; without an expiry, it would outlive its parent.
        Some(parent) => {
            let cap = Some(role_cap.unwrap_or(caller.role).min(caller.role));
            let expiry = match (requested_expiry, parent.expires_at) {
                (Some(asked), Some(limit)) if asked > limit => {
                    return Err(ApiError::invalid_input(
                        "expires_at",
                        &format!(
                            "must not be later than the expiry of the key creating it ({})",
                            rfc3339(limit)
                        ),
                    ));
                }
                (Some(asked), _) => Some(asked),
                (None, limit) => limit,
            };
            (cap, expiry)
        }
    };
    let (allowed_cidrs, rate_limit_per_minute) =
        keys::rules::key_guards(&caller, allowed_cidrs, rate_limit_per_minute)?;
    let policy = stores::accounts::key_policy(&state.pool, caller.account_id()).await?;
    keys::rules::check_key_policy(&policy, now, expires_at)?;
    state
        .config
        .ceilings
        .room_for_key(&state.pool, caller.account_id(), caller.key_id(), now)
        .await?;
    let secret = KeySecret::generate();
    let new_key = stores::keys::NewKey {
        id: &KeyId::generate(),
        account_id: caller.account_id(),
        user_id: Some(&owner.id),
        membership_id: caller.membership_id.as_ref(),
        created_by_key_id: caller.key_id(),
        name: name.as_str(),
        secret_hash: &state.key_hasher.hash(&secret),
        hint: &secret.hint(),
        role_cap,
        now,
        expires_at,
        allowed_cidrs: &allowed_cidrs,
        rate_limit_per_minute,
    };
    // The new key acts with its cap, lowered to the role its owner has right now.
    let effective_role = role_cap.map_or(caller.role, |cap| cap.min(caller.role));
    let event = caller.audit(&state, AuditAction::KeyCreated);
    let key = match stores::keys::insert(&state.pool, &new_key, event).await? {
        stores::keys::Inserted::Yes => new_key.view(owner.clone(), effective_role),
        stores::keys::Inserted::ParentRevoked => return Err(ApiError::unauthenticated()),
    };
    tracing::info!(key_id = %key.id, account_id = %caller.account_id(), "created a key");
    respond_created();
    Ok(CreatedKey {
        key,
        secret: secret.reveal_once(),
    })
}

/// The caller's own keys in the current account, newest first, a page at a time; revoked and
/// expired ones included unless `status` says otherwise.
#[server(prefix = "/api", endpoint = "v1/keys/list", input = Json, output = Json)]
pub async fn list_keys(#[server(flatten)] request: ListKeysRequest) -> Result<KeyList, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::Action;
    use crate::server::caller::authorize;
    use crate::server::keys::rules::key_query;
    use crate::server::stores;

    let (state, caller) = authorize(Action::ListOwnKeys).await?;
    let owner = caller.person()?;
    let ListKeysRequest {
        cursor,
        limit,
        search,
        status,
    } = request;
    let mut query = key_query(
        caller.account_id(),
        cursor,
        limit,
        search,
        status,
        "keys/list",
    )?;
    query.owner = Some(&owner.id);
    let (keys, next_cursor) = stores::keys::read::page(&state.pool, &query, now_millis()).await?;
    Ok(KeyList { keys, next_cursor })
}

/// One key with everything about it: the caller's own, or — for an Admin — any key of the
/// account.
#[server(prefix = "/api", endpoint = "v1/keys/get", input = Json, output = Json)]
pub async fn get_key(#[server(flatten)] request: GetKeyRequest) -> Result<OneKey, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::{ids::KeyId, Action, KeyChange};
    use crate::server::caller::authorize;
    use crate::server::keys::rules::action_on_key;
    use crate::server::stores;

    let (state, caller) = authorize(Action::Read).await?;
    let key_id = KeyId::parse("key_id", &request.key_id)?;
    let key = stores::keys::read::get(&state.pool, caller.account_id(), &key_id, now_millis())
        .await?
        .ok_or_else(|| ApiError::not_found("key"))?;
    caller.authorize(action_on_key(&caller, &key, KeyChange::Read))?;
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
    use crate::domain::time::now_millis;
    use crate::domain::{audit::AuditAction, ids::*, Action, KeyChange};
    use crate::server::caller::authorize;
    use crate::server::keys::rules::action_on_key;
    use crate::server::stores;

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
    let (state, caller) = authorize(Action::Read).await?;
    let mut parsed: Vec<KeyId> = Vec::with_capacity(ids.len());
    for id in &ids {
        let id = KeyId::parse(field, id)?;
        if !parsed.contains(&id) {
            parsed.push(id);
        }
    }
    let now = now_millis();
    let keys = stores::keys::read::get_all(&state.pool, caller.account_id(), &parsed, now)
        .await?
        .ok_or_else(|| ApiError::not_found("key"))?;
    for key in &keys {
        caller.authorize(action_on_key(&caller, key, KeyChange::Revoke))?;
    }
    let revocations: Vec<_> = keys
        .iter()
        .map(|key| (key, caller.audit(&state, AuditAction::KeyRevoked)))
        .collect();
    let stopped =
        stores::keys::revoke::revoke_all(&state.pool, revocations, caller.account_id(), now)
            .await?;
    let keys: Vec<_> = keys
        .into_iter()
        .map(|key| stores::keys::revoked_view(key, now))
        .collect();
    tracing::info!(keys = keys.len(), account_id = %caller.account_id(), stopped, "revoked keys");
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
    use crate::domain::time::now_millis;
    use crate::domain::{
        audit::AuditAction, ids::KeyId, inputs::KeyName, Action, ErrorCode, KeyChange,
    };
    use crate::server::caller::authorize;
    use crate::server::keys::networks;
    use crate::server::keys::rules::action_on_key;
    use crate::server::stores;

    let UpdateKeyRequest {
        key_id,
        name,
        allowed_cidrs,
        rate_limit_per_minute,
    } = request;
    let (state, caller) = authorize(Action::Read).await?;
    let key_id = KeyId::parse("key_id", &key_id)?;
    let name = name.as_deref().map(KeyName::parse).transpose()?;
    let allowed_cidrs = allowed_cidrs
        .map(|entries| networks::parse("allowed_cidrs", &entries))
        .transpose()?;
    let rate_limit_per_minute = rate_limit_per_minute
        .map(|limit| {
            limit
                .map(|limit| networks::parse_rate_limit("rate_limit_per_minute", limit))
                .transpose()
        })
        .transpose()?;
    let now = now_millis();
    let key = stores::keys::read::get(&state.pool, caller.account_id(), &key_id, now)
        .await?
        .ok_or_else(|| ApiError::not_found("key"))?;
    caller.authorize(action_on_key(&caller, &key, KeyChange::Update))?;
    if caller.key.is_some() && (allowed_cidrs.is_some() || rate_limit_per_minute.is_some()) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "Networks and rate limits are changed in the app: a key cannot change the guards of keys.",
        ));
    }
    let changes = stores::keys::KeyChanges {
        name: name.as_ref().map(KeyName::as_str),
        allowed_cidrs: allowed_cidrs.as_deref(),
        rate_limit_per_minute,
    };
    let event = caller.audit(&state, AuditAction::KeyUpdated);
    if !stores::keys::update(&state.pool, &key, caller.account_id(), &changes, event).await? {
        return Err(ApiError::not_found("key"));
    }
    let key = stores::keys::read::get(&state.pool, caller.account_id(), &key_id, now)
        .await?
        .ok_or_else(|| ApiError::not_found("key"))?;
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
    use crate::domain::time::{now_millis, parse_rfc3339};
    use crate::domain::{
        audit::AuditAction,
        ids::KeyId,
        views::{KeyKind, KeyStatus},
        Action, ErrorCode, KeyChange,
    };
    use crate::server::caller::authorize;
    use crate::server::keys::rules::action_on_key;
    use crate::server::keys::secret::KeySecret;
    use crate::server::respond::respond_created;
    use crate::server::{keys, stores};
    use std::time::Duration;

    let RotateKeyRequest {
        key_id,
        grace_seconds,
    } = request;
    let (state, caller) = authorize(Action::Read).await?;
    let key_id = KeyId::parse("key_id", &key_id)?;
    let grace = u64::try_from(grace_seconds)
        .ok()
        .filter(|seconds| *seconds <= crate::domain::time::DAY.as_secs() * 7)
        .map(Duration::from_secs)
        .ok_or_else(|| ApiError::invalid_input("grace_seconds", "must be 0 to 604800 (7 days)"))?;
    let now = now_millis();
    let old = stores::keys::read::get(&state.pool, caller.account_id(), &key_id, now)
        .await?
        .ok_or_else(|| ApiError::not_found("key"))?;
    if caller.key.is_some() && caller.key_id() != Some(&old.id) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "Through a key, only the key itself can be rotated. Rotate other keys in the app.",
        ));
    }
    caller.authorize(action_on_key(&caller, &old, KeyChange::Rotate))?;
    // A rotation hands its caller a secret that acts as the key's owner: only the owner may
    // hold one. An Admin revokes or narrows another person's key instead.
    if old.kind == KeyKind::User && !keys::rules::is_own_key(&caller, &old) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "Only the key's owner can rotate it: its new secret would act as them. Revoke or narrow the key instead, and ask its owner to rotate it.",
        ));
    }
    // Rotated through itself, the successor is bound to the old key: revoked with it, and
    // never living longer than it was going to.
    let through_itself = caller.key_id() == Some(&old.id);
    if old.kind == KeyKind::LegacyAccount {
        return Err(ApiError::conflict(
            "Legacy account keys cannot be rotated: create a user key for the integration and revoke this one.",
        ));
    }
    if old.rotated_to.is_some() {
        return Err(ApiError::conflict("This key was already rotated."));
    }
    if old.status != KeyStatus::Active {
        return Err(ApiError::conflict(
            "Only an active key can be rotated; this one is revoked or expired.",
        ));
    }
    // The successor lives as long as the old key was meant to, counted from now — but never
    // past the key that created the old one, nor past the account's maximum lifetime.
    let parse = |text: &Option<String>| {
        text.as_deref()
            .map(|at| parse_rfc3339("expires_at", at))
            .transpose()
    };
    let created_at = parse_rfc3339("created_at", &old.created_at)?;
    let old_expiry = parse(&old.expires_at)?;
    let mut expires_at = if through_itself {
        old_expiry
    } else {
        old_expiry.map(|at| now.after(at.since(created_at)))
    };
    if let Some(parent_id) = &old.created_by_key_id {
        let parent =
            stores::keys::read::get(&state.pool, caller.account_id(), parent_id, now).await?;
        if let Some(limit) = parent
            .as_ref()
            .map(|parent| parse(&parent.expires_at))
            .transpose()?
            .flatten()
        {
            expires_at = Some(expires_at.map_or(limit, |at| at.min(limit)));
        }
    }
    let policy = stores::accounts::key_policy(&state.pool, caller.account_id()).await?;
    if let Some(days) = policy.max_key_lifetime_days {
        let latest = now.after(crate::domain::time::days(u64::from(days)));
        expires_at = Some(expires_at.map_or(latest, |at| at.min(latest)));
    }
    keys::rules::check_key_policy(&policy, now, expires_at)?;

    let secret = KeySecret::generate();
    let successor = stores::keys::NewKey {
        id: &KeyId::generate(),
        account_id: caller.account_id(),
        user_id: None,
        membership_id: None,
        created_by_key_id: old.created_by_key_id.as_ref(),
        name: &old.name,
        secret_hash: &state.key_hasher.hash(&secret),
        hint: &secret.hint(),
        role_cap: old.role_cap,
        now,
        expires_at,
        // Copied from the old key by the store.
        allowed_cidrs: &[],
        rate_limit_per_minute: None,
    };
    let old_stops_at = now.after(grace);
    let event = caller.audit(&state, AuditAction::KeyRotated);
    match stores::keys::rotate(
        &state.pool,
        &old,
        caller.account_id(),
        &successor,
        through_itself,
        old_stops_at,
        event,
    )
    .await?
    {
        stores::keys::Rotated::Yes => {}
        stores::keys::Rotated::NoLonger => {
            return Err(ApiError::conflict(
                "This key was rotated or revoked while this request ran.",
            ))
        }
    }
    let key = stores::keys::read::get(&state.pool, caller.account_id(), successor.id, now)
        .await?
        .ok_or_else(ApiError::internal)?;
    let previous = stores::keys::read::get(&state.pool, caller.account_id(), &old.id, now)
        .await?
        .ok_or_else(ApiError::internal)?;
    tracing::info!(key_id = %old.id, successor = %key.id, account_id = %caller.account_id(), "rotated a key");
    respond_created();
    Ok(RotatedKey {
        key,
        secret: secret.reveal_once(),
        previous,
    })
}

/// For anyone who finds keys where they should not be — a secret scanner, a person: every
/// valid key among `secrets` is revoked at once (with the keys it created), its owner is told
/// in the app, and the account's audit trail names the reporter's address. The answer is the
/// same `202` whatever the secrets were, so it tells nothing about them.
#[server(prefix = "/api", endpoint = "v1/keys/report-leak", input = Json, output = Json)]
pub async fn report_leak(#[server(flatten)] request: ReportLeakRequest) -> Result<Empty, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::{audit::AuditAction, views::KeyStatus, ErrorCode};
    use crate::server::audit::{Actor, Event, Origin};
    use crate::server::keys::secret::KeySecret;
    use crate::server::request::{app_state, client_address};
    use crate::server::respond::{respond_accepted, respond_retry_after};
    use crate::server::stores;

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
    // A report that revokes a key answers only once every instance has let go of it (see
    // `key_cache`); every other report answers as late, or the timing would tell what the
    // status does not.
    crate::server::keys::changes::note_wait();
    let origin = Origin::of_request(&state);
    for text in &request.secrets {
        let Some(secret) = KeySecret::parse(text.trim()) else {
            continue;
        };
        let hash = state.key_hasher.hash(&secret);
        let Some(found) =
            stores::keys::verification::find_for_verification(&state.pool, &hash).await?
        else {
            continue;
        };
        let now = now_millis();
        let Some(key) =
            stores::keys::read::get(&state.pool, &found.account_id, &found.id, now).await?
        else {
            continue;
        };
        // A key already dead changes nothing and records nothing.
        if key.status != KeyStatus::Active {
            continue;
        }
        let event = Event::new(
            &state.key_hasher,
            &found.account_id,
            AuditAction::KeyLeakReported,
            Actor::anonymous(),
            origin.clone(),
        );
        let stopped =
            stores::keys::revoke::revoke(&state.pool, &key, &found.account_id, now, event).await?;
        tracing::warn!(key_id = %key.id, account_id = %found.account_id, stopped, "revoked a key reported as leaked");
    }
    respond_accepted();
    Ok(Empty {})
}

/// Every key of the account, legacy account keys included (Admins only), newest first, a page
/// at a time.
#[server(prefix = "/api", endpoint = "v1/account-keys/list", input = Json, output = Json)]
pub async fn list_account_keys(
    #[server(flatten)] request: ListAccountKeysRequest,
) -> Result<KeyList, ApiError> {
    use crate::domain::time::now_millis;
    use crate::domain::{ids::UserId, Action};
    use crate::server::caller::authorize;
    use crate::server::keys::rules::key_query;
    use crate::server::paging::present;
    use crate::server::stores;

    let (state, caller) = authorize(Action::ManageAccountKeys).await?;
    let ListAccountKeysRequest {
        cursor,
        limit,
        search,
        status,
        owner_user_id,
    } = request;
    let owner = present(&owner_user_id)
        .map(|id| UserId::parse("owner_user_id", id))
        .transpose()?;
    let mut query = key_query(
        caller.account_id(),
        cursor,
        limit,
        search,
        status,
        "account-keys/list",
    )?;
    query.owner = owner.as_ref();
    let (keys, next_cursor) = stores::keys::read::page(&state.pool, &query, now_millis()).await?;
    Ok(KeyList { keys, next_cursor })
}
