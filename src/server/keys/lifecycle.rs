//! The key lifecycle as use cases: create, read, rename or re-guard, rotate, revoke, and revoke
//! on a leak report. Each takes the resolved caller, asks the policy about the key it touches
//! (`Principal::authorize_key`), makes its change in one store call, and says so when the change
//! alters how keys check out (`keys::changes::note_change`): the API boundary then has every
//! instance forget the account's kept keys before the caller hears the answer.

use crate::domain::{
    audit::AuditAction,
    ids::{KeyId, ServiceAccountId, UserId},
    inputs::KeyName,
    new_service_key_access,
    requests::{CreateKeyRequest, ListKeysRequest, UpdateKeyRequest},
    time::{days, now_millis, parse_rfc3339, rfc3339, Millis, DAY},
    views::{Key, KeyKind, KeyList, KeyStatus, ServiceAccountRef, Via},
    ApiError, ErrorCode, Grant, KeyChange, Role,
};
use crate::server::audit::{Actor, Event, Origin};
use crate::server::keys::changes::note_change;
use crate::server::keys::secret::KeySecret;
use crate::server::keys::{networks, rules};
use crate::server::stores::keys::{self as key_store, read, revoke::Revocation};
use crate::server::{stores, AppState, Principal};
use std::time::Duration;

/// The longest grace a rotation gives the old key.
const MOST_GRACE: Duration = DAY.saturating_mul(7);

/// A key that was just made, with its secret (shown once).
pub struct Made {
    pub key: Key,
    pub secret: KeySecret,
}

/// Whom a new key is for: the calling person's membership, or a service account.
enum NewOwner {
    Caller,
    ServiceAccount {
        service_account: ServiceAccountRef,
        role: Role,
    },
}

/// Who the new key belongs to, and whether the caller may make it: a key for a service account
/// is made by its custodians and Admins in a browser (`policy::new_service_key_access`), or by
/// one of its own keys whose grant names `keys:write` (checked when the caller was authorized).
async fn new_owner(
    state: &AppState,
    caller: &Principal,
    service_account_id: Option<String>,
) -> Result<NewOwner, ApiError> {
    let named = rules::service_account_id("service_account_id", &service_account_id)?;
    if let (Via::ServiceKey, Some(own)) = (caller.via, &caller.service_account) {
        if named.as_ref().is_some_and(|named| named != &own.id) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "service_account_id: a service key makes keys for its own service account only.",
            ));
        }
        return Ok(NewOwner::ServiceAccount {
            service_account: own.clone(),
            role: caller.role,
        });
    }
    let Some(id) = named else {
        return Ok(NewOwner::Caller);
    };
    let (service_account, role) =
        stores::service_accounts::find(&state.pool, caller.account_id(), &id)
            .await?
            .ok_or_else(|| ApiError::not_found("service_account"))?;
    let custodian = is_custodian(state, caller, &service_account.id).await?;
    let permission = new_service_key_access(caller.via, custodian)
        .map_err(|refusal| ApiError::new(ErrorCode::Forbidden, refusal.message()))?;
    caller.authorize(permission)?;
    Ok(NewOwner::ServiceAccount {
        service_account,
        role,
    })
}

/// Whether the calling person is a custodian of the service account.
async fn is_custodian(
    state: &AppState,
    caller: &Principal,
    service_account_id: &ServiceAccountId,
) -> Result<bool, ApiError> {
    let Some(person) = &caller.user else {
        return Ok(false);
    };
    Ok(stores::service_accounts::is_custodian(
        &state.pool,
        caller.account_id(),
        service_account_id,
        &person.id,
    )
    .await?)
}

/// The policy check for doing `change` to `key`, knowing whether the caller is a custodian of
/// the service account that owns it (asked only for a service key).
async fn authorize_key(
    state: &AppState,
    caller: &Principal,
    key: &Key,
    change: KeyChange,
) -> Result<(), ApiError> {
    let custodian = match &key.service_account {
        Some(service_account) => is_custodian(state, caller, &service_account.id).await?,
        None => false,
    };
    caller.authorize_key(key, change, custodian)
}

/// Makes a key for the caller's own membership, or for a service account. A key made with a
/// key is that key's child: never above its role, never outliving it, its guards and grant
/// within its parent's.
pub async fn create(
    state: &AppState,
    caller: &Principal,
    request: CreateKeyRequest,
) -> Result<Made, ApiError> {
    let CreateKeyRequest {
        name,
        role_cap,
        expires_at,
        allowed_cidrs,
        rate_limit_per_minute,
        permissions,
        check_ids,
        service_account_id,
    } = request;
    let name = KeyName::parse(&name)?;
    let new_owner = new_owner(state, caller, service_account_id).await?;
    let person = match &new_owner {
        NewOwner::Caller => Some(caller.person()?),
        NewOwner::ServiceAccount { .. } => None,
    };
    if role_cap.is_some_and(|cap| cap > caller.role) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "role_cap: a key cannot have a higher role than the one creating it.",
        ));
    }
    // A custodian below the service account's role makes keys no stronger than themselves.
    let role_cap = match &new_owner {
        NewOwner::ServiceAccount { role, .. } if role_cap.is_none() && caller.role < *role => {
            Some(caller.role)
        }
        _ => role_cap,
    };
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
        rules::key_guards(caller, allowed_cidrs, rate_limit_per_minute)?;
    let asked = Grant {
        permissions: rules::parse_permissions(permissions)?,
        check_ids: rules::parse_check_ids(check_ids)?,
    };
    rules::known_checks(&state.pool, caller.account_id(), &asked).await?;
    rules::known_own_permissions(&state.pool, caller.account_id(), &asked).await?;
    let grant = rules::child_grant(caller, asked)?;
    let policy = stores::accounts::key_policy(&state.pool, caller.account_id()).await?;
    rules::check_key_policy(&policy, now, expires_at)?;
    if matches!(new_owner, NewOwner::ServiceAccount { .. }) {
        rules::check_service_key_policy(&policy, expires_at, &allowed_cidrs)?;
    }
    state
        .config
        .ceilings
        .room_for_key(&state.pool, caller.account_id(), caller.key_id(), now)
        .await?;
    let secret = KeySecret::generate();
    let new_key = key_store::NewKey {
        id: &KeyId::generate(),
        account_id: caller.account_id(),
        owner: match (&new_owner, person) {
            (
                NewOwner::ServiceAccount {
                    service_account, ..
                },
                _,
            ) => key_store::Owner::Service(service_account),
            (NewOwner::Caller, Some(person)) => key_store::Owner::Person {
                user_id: &person.id,
                membership_id: caller.membership_id.as_ref(),
            },
            (NewOwner::Caller, None) => return Err(ApiError::forbidden()),
        },
        created_by_key_id: caller.key_id(),
        created_by_user: caller.person_in_browser(),
        name: name.as_str(),
        secret_hash: &state.key_hasher.hash(&secret),
        hint: &secret.hint(),
        role_cap,
        now,
        expires_at,
        allowed_cidrs: &allowed_cidrs,
        rate_limit_per_minute,
        grant: &grant,
    };
    // The new key acts with its cap, lowered to the role its owner has right now.
    let owner_role = match &new_owner {
        NewOwner::Caller => caller.role,
        NewOwner::ServiceAccount { role, .. } => *role,
    };
    let effective_role = role_cap.map_or(owner_role, |cap| cap.min(owner_role));
    let event = caller.audit(state, AuditAction::KeyCreated);
    let key = match key_store::insert(&state.pool, &new_key, event).await? {
        key_store::Inserted::Yes => new_key.view(person.cloned(), effective_role),
        key_store::Inserted::ParentRevoked => return Err(ApiError::unauthenticated()),
    };
    tracing::info!(key_id = %key.id, account_id = %caller.account_id(), "created a key");
    Ok(Made { key, secret })
}

/// Whose keys a list shows.
pub enum ListedOwner<'a> {
    Everyone,
    Person(&'a UserId),
    ServiceAccount(&'a ServiceAccountId),
}

/// `keys/list`: the caller's own keys — a service key's are its service account's — or, with
/// `service_account_id`, that service account's (its custodians and Admins).
pub async fn list_own(
    state: &AppState,
    caller: &Principal,
    request: ListKeysRequest,
) -> Result<KeyList, ApiError> {
    let named = rules::service_account_id("service_account_id", &request.service_account_id)?;
    let own_service_account = caller.service_account.as_ref().map(|own| own.id.clone());
    let service_account = match (named, own_service_account) {
        (Some(named), Some(own)) if named == own => Some(own),
        (None, Some(own)) => Some(own),
        (Some(named), _) => {
            stores::service_accounts::find(&state.pool, caller.account_id(), &named)
                .await?
                .ok_or_else(|| ApiError::not_found("service_account"))?;
            if !is_custodian(state, caller, &named).await? {
                caller.authorize(crate::domain::Permission::AccountKeysRead)?;
            }
            Some(named)
        }
        (None, None) => None,
    };
    let person;
    let owner = match &service_account {
        Some(id) => ListedOwner::ServiceAccount(id),
        None => {
            person = caller.person()?.id.clone();
            ListedOwner::Person(&person)
        }
    };
    list(state, caller, owner, request, "keys/list").await
}

/// One page of the account's keys, newest first: `owner`'s only. `list` names the operation,
/// whose cursors are its own.
pub async fn list(
    state: &AppState,
    caller: &Principal,
    owner: ListedOwner<'_>,
    filters: ListKeysRequest,
    list: &str,
) -> Result<KeyList, ApiError> {
    let ListKeysRequest {
        cursor,
        limit,
        search,
        status,
        service_account_id: _,
    } = filters;
    let mut query = rules::key_query(caller.account_id(), cursor, limit, search, status, list)?;
    match owner {
        ListedOwner::Everyone => {}
        ListedOwner::Person(person) => query.owner = Some(person),
        ListedOwner::ServiceAccount(service_account) => {
            query.service_account = Some(service_account)
        }
    }
    let (keys, next_cursor) = read::page(&state.pool, &query, now_millis()).await?;
    Ok(KeyList { keys, next_cursor })
}

/// A key of the caller's account that `change` may be done to by the caller; 404 when the
/// account has no such key.
async fn key_for(
    state: &AppState,
    caller: &Principal,
    key_id: &KeyId,
    change: KeyChange,
    now: Millis,
) -> Result<Key, ApiError> {
    let key = read::get(&state.pool, caller.account_id(), key_id, now)
        .await?
        .ok_or_else(|| ApiError::not_found("key"))?;
    authorize_key(state, caller, &key, change).await?;
    Ok(key)
}

/// One key with everything about it: the caller's own, or — for an Admin — any key of the
/// account.
pub async fn get(state: &AppState, caller: &Principal, key_id: &str) -> Result<Key, ApiError> {
    let key_id = KeyId::parse("key_id", key_id)?;
    key_for(state, caller, &key_id, KeyChange::Read, now_millis()).await
}

/// Revokes keys of the account (each with every key it created) in one transaction. When one of
/// them may not be revoked by the caller, none is. Returns their views after the revocation.
pub async fn revoke(
    state: &AppState,
    caller: &Principal,
    key_ids: &[KeyId],
) -> Result<Vec<Key>, ApiError> {
    let now = now_millis();
    let keys = read::get_all(&state.pool, caller.account_id(), key_ids, now)
        .await?
        .ok_or_else(|| ApiError::not_found("key"))?;
    // Up to 100 keys, often of one service account: its custodianship is asked once.
    let mut custodianships: Vec<(ServiceAccountId, bool)> = Vec::new();
    for key in &keys {
        let custodian = match &key.service_account {
            Some(owner) => match custodianships.iter().find(|(id, _)| id == &owner.id) {
                Some((_, custodian)) => *custodian,
                None => {
                    let custodian = is_custodian(state, caller, &owner.id).await?;
                    custodianships.push((owner.id.clone(), custodian));
                    custodian
                }
            },
            None => false,
        };
        caller.authorize_key(key, KeyChange::Revoke, custodian)?;
    }
    let revocations: Vec<_> = keys
        .iter()
        .map(|key| (key, caller.audit(state, AuditAction::KeyRevoked)))
        .collect();
    let stopped = key_store::revoke::revoke_all(
        &state.pool,
        revocations,
        caller.account_id(),
        Revocation::ByCaller,
        now,
    )
    .await?;
    if stopped > 0 {
        note_change(caller.account_id());
    }
    tracing::info!(keys = keys.len(), account_id = %caller.account_id(), stopped, "revoked keys");
    Ok(keys
        .into_iter()
        .map(|key| key_store::revoked_view(key, now))
        .collect())
}

/// Renames a key, changes its guards (allowed networks, requests a minute) or its grant; the
/// next request with the key sees the change. Narrowing a grant is a change any holder of the
/// key may make (a key may give up what it holds); widening one is a change of guards, made in
/// the app.
pub async fn update(
    state: &AppState,
    caller: &Principal,
    request: UpdateKeyRequest,
) -> Result<Key, ApiError> {
    let UpdateKeyRequest {
        key_id,
        name,
        allowed_cidrs,
        rate_limit_per_minute,
        permissions,
        check_ids,
    } = request;
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
    let permissions = permissions.map(rules::parse_permissions).transpose()?;
    let check_ids = check_ids.map(rules::parse_check_ids).transpose()?;
    let now = now_millis();
    let key = read::get(&state.pool, caller.account_id(), &key_id, now)
        .await?
        .ok_or_else(|| ApiError::not_found("key"))?;
    let old_grant = key.grant();
    let grant = (permissions.is_some() || check_ids.is_some()).then(|| Grant {
        permissions: permissions.unwrap_or_else(|| old_grant.permissions.clone()),
        check_ids: check_ids.unwrap_or_else(|| old_grant.check_ids.clone()),
    });
    let widens = grant
        .as_ref()
        .is_some_and(|grant| grant.excess_over(&old_grant).is_some());
    let change = if allowed_cidrs.is_some() || rate_limit_per_minute.is_some() || widens {
        KeyChange::Reguard
    } else if grant.is_some() {
        KeyChange::Narrow
    } else {
        KeyChange::Rename
    };
    authorize_key(state, caller, &key, change).await?;
    if let Some(grant) = &grant {
        rules::known_checks(&state.pool, caller.account_id(), grant).await?;
        rules::known_own_permissions(&state.pool, caller.account_id(), grant).await?;
    }
    let changes = key_store::KeyChanges {
        name: name.as_ref().map(KeyName::as_str),
        allowed_cidrs: allowed_cidrs.as_deref(),
        rate_limit_per_minute,
        grant: grant.as_ref(),
    };
    let reguards = change != KeyChange::Rename;
    let event = caller.audit(state, AuditAction::KeyUpdated);
    match key_store::update(&state.pool, &key, caller.account_id(), &changes, event).await? {
        key_store::Updated::Yes => {}
        key_store::Updated::NoSuchKey => return Err(ApiError::not_found("key")),
        key_store::Updated::GrantChanged => return Err(ApiError::conflict(
            "This key's permissions changed while this request ran. Read the key again and retry.",
        )),
    }
    if reguards {
        note_change(caller.account_id());
    }
    read::get(&state.pool, caller.account_id(), &key_id, now)
        .await?
        .ok_or_else(|| ApiError::not_found("key"))
}

/// A rotation's outcome: the successor with its secret, and the old key as it stands now.
pub struct Rotation {
    pub successor: Made,
    pub previous: Key,
}

/// Replaces a key without downtime: the successor copies the old key's owner, name, cap,
/// guards, grant and lifetime; the old key keeps working for `grace_seconds`, then stops (with
/// every key it created). A key is rotated once. Rotated through itself, the successor is bound to the old
/// key: revoked with it, and never living longer than it was going to.
///
/// With `to_service_account_id` it is a hand-over (an Admin off-boarding a person): the
/// successor belongs to the service account and is shown to the Admin, and the old secret acts
/// for the service account too until its grace ends — never for the person again.
pub async fn rotate(
    state: &AppState,
    caller: &Principal,
    key_id: &str,
    grace_seconds: i64,
    to_service_account_id: Option<String>,
) -> Result<Rotation, ApiError> {
    let key_id = KeyId::parse("key_id", key_id)?;
    let grace = u64::try_from(grace_seconds)
        .ok()
        .map(Duration::from_secs)
        .filter(|grace| *grace <= MOST_GRACE)
        .ok_or_else(|| ApiError::invalid_input("grace_seconds", "must be 0 to 604800 (7 days)"))?;
    let to_service_account_id =
        rules::service_account_id("to_service_account_id", &to_service_account_id)?;
    let now = now_millis();
    let change = if to_service_account_id.is_some() {
        KeyChange::HandOver
    } else {
        KeyChange::Rotate
    };
    let old = key_for(state, caller, &key_id, change, now).await?;
    let to_service_account = match &to_service_account_id {
        Some(id) => Some(
            stores::service_accounts::find(&state.pool, caller.account_id(), id)
                .await?
                .ok_or_else(|| ApiError::not_found("service_account"))?
                .0,
        ),
        None => None,
    };
    if to_service_account.is_some() && old.created_by_key_id.is_some() {
        return Err(ApiError::conflict(
            "This key was made by another key: hand over the key above it in its line instead.",
        ));
    }
    // A rotation hands its caller the new secret: a custodian below the service account's role
    // must not receive one that acts above them (as a key they create is capped at their role).
    if old.kind == KeyKind::Service && old.effective_role > caller.role {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "This key acts above your role: its new secret would too. An Admin rotates it.",
        ));
    }
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
    let expires_at = successor_expiry(state, caller, &old, through_itself, now).await?;
    if to_service_account.is_some() || old.kind == KeyKind::Service {
        let policy = stores::accounts::key_policy(&state.pool, caller.account_id()).await?;
        let allowed_cidrs = networks::parse("allowed_cidrs", &old.allowed_cidrs)?;
        rules::check_service_key_policy(&policy, expires_at, &allowed_cidrs)?;
    }
    let secret = KeySecret::generate();
    let successor = key_store::Successor {
        id: &KeyId::generate(),
        secret_hash: &state.key_hasher.hash(&secret),
        hint: &secret.hint(),
        now,
        expires_at,
        created_by_user: caller.person_in_browser().map(|user| &user.id),
        to_service_account: to_service_account.as_ref(),
    };
    let event = caller.audit(state, AuditAction::KeyRotated);
    match key_store::rotate(
        &state.pool,
        &old,
        caller.account_id(),
        &successor,
        through_itself,
        now.after(grace),
        event,
    )
    .await?
    {
        key_store::Rotated::Yes => note_change(caller.account_id()),
        key_store::Rotated::NoLonger => {
            return Err(ApiError::conflict(
                "This key was rotated or revoked while this request ran.",
            ))
        }
    }
    let key = read::get(&state.pool, caller.account_id(), successor.id, now)
        .await?
        .ok_or_else(ApiError::internal)?;
    let previous = read::get(&state.pool, caller.account_id(), &old.id, now)
        .await?
        .ok_or_else(ApiError::internal)?;
    tracing::info!(key_id = %old.id, successor = %key.id, account_id = %caller.account_id(), "rotated a key");
    Ok(Rotation {
        successor: Made { key, secret },
        previous,
    })
}

/// The successor lives as long as the old key was meant to, counted from now (or exactly as
/// long, when the key rotates itself) — but never past the key that created the old one, nor
/// past the account's maximum lifetime.
async fn successor_expiry(
    state: &AppState,
    caller: &Principal,
    old: &Key,
    through_itself: bool,
    now: Millis,
) -> Result<Option<Millis>, ApiError> {
    let account_id = caller.account_id();
    let old_lifetime = read::lifetime(&state.pool, account_id, &old.id)
        .await?
        .ok_or_else(|| ApiError::not_found("key"))?;
    let mut expires_at = if through_itself {
        old_lifetime.expires_at
    } else {
        old_lifetime
            .expires_at
            .map(|at| now.after(at.since(old_lifetime.created_at)))
    };
    if let Some(parent_id) = &old.created_by_key_id {
        let parent = read::lifetime(&state.pool, account_id, parent_id).await?;
        if let Some(limit) = parent.and_then(|parent| parent.expires_at) {
            expires_at = Some(expires_at.map_or(limit, |at| at.min(limit)));
        }
    }
    let policy = stores::accounts::key_policy(&state.pool, caller.account_id()).await?;
    if let Some(lifetime) = policy.max_key_lifetime_days {
        let latest = now.after(days(u64::from(lifetime)));
        expires_at = Some(expires_at.map_or(latest, |at| at.min(latest)));
    }
    rules::check_key_policy(&policy, now, expires_at)?;
    Ok(expires_at)
}

/// Revokes every live key among `secrets` (with the keys it created), marked as leaked so its
/// owner is told why; the audit trail names the reporter's address. Says nothing about what it
/// found: a report that revokes nothing answers as late as one that does.
pub async fn revoke_reported(state: &AppState, secrets: &[String]) -> Result<(), ApiError> {
    // The wait comes first, whatever is found (see `keys::changes`).
    crate::server::keys::changes::note_wait();
    let origin = Origin::of_request(state);
    for text in secrets {
        let Some(secret) = KeySecret::parse(text.trim()) else {
            continue;
        };
        let hash = state.key_hasher.hash(&secret);
        let Some(found) =
            key_store::verification::find_for_verification(&state.pool, &hash).await?
        else {
            continue;
        };
        let now = now_millis();
        let Some(key) = read::get(&state.pool, &found.account_id, &found.id, now).await? else {
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
        let stopped = key_store::revoke::revoke(
            &state.pool,
            &key,
            &found.account_id,
            Revocation::LeakReport,
            now,
            event,
        )
        .await?;
        if stopped > 0 {
            note_change(&found.account_id);
        }
        tracing::warn!(key_id = %key.id, account_id = %found.account_id, stopped, "revoked a key reported as leaked");
    }
    Ok(())
}
