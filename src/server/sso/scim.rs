//! Provisioning from an identity provider (SCIM 2.0): the account's token, and what each
//! change to a member does. `host::scim` speaks the protocol; this is what it asks for.
//!
//! A SCIM token is a principal of its own, for provisioning only: it is refused by every
//! `/api/v1` operation (it is no key), and it reaches the members of its own account only — a
//! member of another account is "not found", like any id it has no right to see.
//!
//! Switching a person off (`active: false`) suspends their membership: it stays, with its role
//! and its keys, but the key check and the session's membership query both read the suspension,
//! so their sessions in the account and every key of the membership stop on the next request,
//! on every instance (the change moves the key-check counter, and the request answers once the
//! other instances acknowledged it, as a revocation does). Switching them on brings all of it
//! back. Deleting them is `members/remove`: keys revoked, for good.

use crate::domain::random::random_base62;
use crate::domain::time::now_millis;
use crate::domain::{audit::AuditAction, ids::AccountId, ids::UserId, inputs::Email, Role};
use crate::server::audit::{Actor, Event, Origin};
use crate::server::keys::secret::{to_hex, KeyHasher};
use crate::server::stores::accounts::MembershipChangeError;
use crate::server::stores::provisioning::{
    CreateError, MemberChange, NewMember, ProvisionedMember,
};
use crate::server::{stores, AppState};

/// How every SCIM token begins (secret scanners can tell it from a key).
pub const TOKEN_PREFIX: &str = "kwscim_";
const TOKEN_RANDOM_LEN: usize = 40;

/// A SCIM token as the Admin holds it: like a key's secret, not `Debug`, shown once.
pub struct ScimToken(String);

impl ScimToken {
    pub fn generate() -> ScimToken {
        ScimToken(format!("{TOKEN_PREFIX}{}", random_base62(TOKEN_RANDOM_LEN)))
    }

    /// The keyed hash the database keeps (apart from keys' and sessions' by its purpose).
    pub fn hash(&self, hasher: &KeyHasher) -> String {
        token_hash(hasher, &self.0)
    }

    /// What the UI shows of it later: `kwscim_…` and its last four characters.
    pub fn hint(&self) -> String {
        // Base62 after an ASCII prefix: every character is one byte.
        format!("{TOKEN_PREFIX}…{}", &self.0[self.0.len() - 4..])
    }

    pub fn reveal_once(self) -> String {
        self.0
    }
}

/// The keyed hash of a presented token.
pub fn token_hash(hasher: &KeyHasher, token: &str) -> String {
    to_hex(&hasher.hash_bytes(b"scim-token", token.as_bytes()))
}

/// Who is provisioning: the account a valid token belongs to.
#[derive(Clone, Debug)]
pub struct ScimCaller {
    pub account_id: AccountId,
    /// The role members created through this token get.
    pub default_role: Role,
}

/// The account `token` provisions, if it is a current SCIM token.
pub async fn authenticate(
    state: &AppState,
    token: &str,
) -> Result<Option<ScimCaller>, sqlx::Error> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 200 {
        return Ok(None);
    }
    let Some(owner) =
        stores::scim_tokens::owner(&state.pool, &token_hash(&state.key_hasher, token)).await?
    else {
        return Ok(None);
    };
    let now = now_millis();
    if owner
        .last_used_at
        .is_none_or(|used| now.since(used) > std::time::Duration::from_secs(60))
    {
        stores::scim_tokens::used(&state.pool, &owner.account_id, now).await?;
    }
    Ok(Some(ScimCaller {
        account_id: owner.account_id,
        default_role: owner.default_role,
    }))
}

/// Why a provisioning request was refused, as SCIM says it (`host::scim` picks the status and
/// `scimType`).
#[derive(Debug)]
pub enum Refusal {
    /// A field's value is not acceptable (`scimType: invalidValue`).
    InvalidValue(String),
    /// The request would change what may not change (`userName`: `mutability`).
    Immutable(String),
    /// A member of the account has this `userName` already (`uniqueness`, 409).
    Taken,
    /// No member of this account has this id (404).
    NotFound,
    /// It would leave the account without an Admin who can act (409).
    LastAdmin,
    Database(sqlx::Error),
}

impl From<sqlx::Error> for Refusal {
    fn from(error: sqlx::Error) -> Self {
        Refusal::Database(error)
    }
}

impl From<MembershipChangeError> for Refusal {
    fn from(error: MembershipChangeError) -> Self {
        match error {
            MembershipChangeError::NoSuchMember => Refusal::NotFound,
            MembershipChangeError::LastAdmin => Refusal::LastAdmin,
            MembershipChangeError::Database(error) => Refusal::Database(error),
        }
    }
}

/// A person as the provider sends them in a creation or a replacement.
pub struct Person<'a> {
    /// SCIM `userName`: keyward's login is the email, so it must be one.
    pub user_name: &'a str,
    pub active: Option<bool>,
    pub external_id: Option<&'a str>,
    pub display_name: Option<&'a str>,
}

/// The provider's event: actor `scim`, from this request.
fn event(state: &AppState, caller: &ScimCaller, action: AuditAction, origin: &Origin) -> Event {
    Event::new(
        &state.key_hasher,
        &caller.account_id,
        action,
        Actor::scim(),
        origin.clone(),
    )
}

/// The email a `userName` stands for, or why not.
fn email_of(user_name: &str) -> Result<Email, Refusal> {
    Email::parse(user_name).map_err(|_| {
        Refusal::InvalidValue(
            "userName must be the person's email address: keyward signs people in by email"
                .to_string(),
        )
    })
}

/// A provider's free text (a name, an id of its own): at most 200 characters, no control
/// characters.
fn text(field: &str, value: Option<&str>) -> Result<Option<String>, Refusal> {
    let Some(value) = value.map(str::trim).filter(|value| !value.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > 200 || value.chars().any(char::is_control) {
        return Err(Refusal::InvalidValue(format!(
            "{field} must be at most 200 characters, without control characters"
        )));
    }
    Ok(Some(value.to_string()))
}

/// Adds the person to the caller's account with the token's role (the login with their email,
/// or a new login without a password).
pub async fn create(
    state: &AppState,
    caller: &ScimCaller,
    person: &Person<'_>,
    origin: &Origin,
) -> Result<ProvisionedMember, Refusal> {
    let email = email_of(person.user_name)?;
    let external_id = text("externalId", person.external_id)?;
    let display_name = text("displayName", person.display_name)?;
    let new = NewMember {
        email: email.as_str(),
        role: caller.default_role,
        active: person.active.unwrap_or(true),
        external_id: external_id.as_deref(),
        display_name: display_name.as_deref(),
    };
    let event = event(state, caller, AuditAction::MemberJoined, origin);
    stores::provisioning::create(&state.pool, &caller.account_id, &new, now_millis(), event)
        .await
        .map_err(|error| match error {
            CreateError::Taken => Refusal::Taken,
            CreateError::Database(error) => Refusal::Database(error),
        })
}

/// The member `user_id` of the caller's account.
pub async fn find(
    state: &AppState,
    caller: &ScimCaller,
    user_id: &UserId,
) -> Result<ProvisionedMember, Refusal> {
    stores::provisioning::member(&state.pool, &caller.account_id, user_id)
        .await?
        .ok_or(Refusal::NotFound)
}

/// Applies a replacement (`PUT`: the names as sent, absent ones cleared) or a patch (only what
/// it names). `user_name`, when sent, must be the member's email: logins are not renamed by a
/// provider, since one login may belong to several accounts.
pub async fn change(
    state: &AppState,
    caller: &ScimCaller,
    user_id: &UserId,
    user_name: Option<&str>,
    change: MemberChange,
    origin: &Origin,
) -> Result<ProvisionedMember, Refusal> {
    let current = find(state, caller, user_id).await?;
    if let Some(user_name) = user_name {
        if !user_name.trim().eq_ignore_ascii_case(&current.email) {
            return Err(Refusal::Immutable(
                "userName is the person's login email and cannot be changed here".to_string(),
            ));
        }
    }
    let change = MemberChange {
        active: change.active,
        external_id: match change.external_id {
            Some(value) => Some(text("externalId", value.as_deref())?),
            None => None,
        },
        display_name: match change.display_name {
            Some(value) => Some(text("displayName", value.as_deref())?),
            None => None,
        },
    };
    let base = event(state, caller, AuditAction::MemberUpdated, origin);
    let (member, key_checks_changed) = stores::provisioning::change(
        &state.pool,
        &caller.account_id,
        user_id,
        &change,
        now_millis(),
        base,
    )
    .await?;
    if key_checks_changed {
        crate::server::keys::changes::note_change(&caller.account_id);
    }
    Ok(member)
}

/// Removes the member from the account, as `members/remove` does: their keys of it are revoked
/// and their pending invites withdrawn.
pub async fn remove(
    state: &AppState,
    caller: &ScimCaller,
    user_id: &UserId,
    origin: &Origin,
) -> Result<(), Refusal> {
    find(state, caller, user_id).await?;
    let event = event(state, caller, AuditAction::MemberRemoved, origin);
    stores::accounts::remove(
        &state.pool,
        &caller.account_id,
        user_id,
        now_millis(),
        event,
    )
    .await?;
    crate::server::keys::changes::note_change(&caller.account_id);
    Ok(())
}
