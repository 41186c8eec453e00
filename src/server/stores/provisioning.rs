//! Members as an identity provider sees them through SCIM: a person of one account with their
//! email (`userName`), the provider's names for them, and whether they are active. Every
//! change takes the account's lock, writes its audit event in its transaction and, when key
//! checks read what it changed (a suspension, a reactivation), moves the key-check counter.

use crate::domain::time::Millis;
use crate::domain::{
    audit::AuditAction,
    ids::{AccountId, MembershipId, UserId},
    Role,
};
use crate::server::audit::{Event, Target};
use crate::server::db::{is_unique_violation, Pool};
use crate::server::stores::accounts::{admin_count, lock_account, MembershipChangeError};
use serde_json::json;
use sqlx::{Any, Executor};

/// One member of an account, as SCIM shows them.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ProvisionedMember {
    pub user_id: UserId,
    pub email: String,
    pub role: Role,
    pub joined_at: Millis,
    pub suspended_at: Option<Millis>,
    pub external_id: Option<String>,
    pub display_name: Option<String>,
}

impl ProvisionedMember {
    pub fn active(&self) -> bool {
        self.suspended_at.is_none()
    }
}

const COLUMNS: &str = "SELECT u.id AS user_id, u.email AS email, m.role AS role, \
        m.joined_at AS joined_at, m.suspended_at AS suspended_at, \
        m.external_id AS external_id, m.display_name AS display_name \
     FROM memberships m JOIN users u ON u.id = m.user_id";

/// The member of `account_id` who is `user_id`, suspended or not.
pub async fn member<'e>(
    executor: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    user_id: &UserId,
) -> Result<Option<ProvisionedMember>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{COLUMNS} WHERE m.account_id = $1 AND m.user_id = $2"
    ))
    .bind(account_id)
    .bind(user_id)
    .fetch_optional(executor)
    .await
}

/// The members of `account_id` in the order they joined, from the `offset`-th on (at most
/// `limit`), only the one with `email` when given; and how many there are in all.
pub async fn page(
    pool: &Pool,
    account_id: &AccountId,
    email: Option<&str>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<ProvisionedMember>, u64), sqlx::Error> {
    let matching = "m.account_id = $1 AND ($2 = '' OR u.email = $2)";
    let email = email.unwrap_or_default();
    let (total,): (i64,) = sqlx::query_as(&format!(
        "SELECT COUNT(*) FROM memberships m JOIN users u ON u.id = m.user_id WHERE {matching}"
    ))
    .bind(account_id)
    .bind(email)
    .fetch_one(pool)
    .await?;
    let members = sqlx::query_as(&format!(
        "{COLUMNS} WHERE {matching} ORDER BY m.joined_at, u.email LIMIT {limit} OFFSET {offset}"
    ))
    .bind(account_id)
    .bind(email)
    .fetch_all(pool)
    .await?;
    Ok((members, u64::try_from(total).unwrap_or_default()))
}

/// A member to create, as the identity provider describes them.
pub struct NewMember<'a> {
    pub email: &'a str,
    pub role: Role,
    pub active: bool,
    pub external_id: Option<&'a str>,
    pub display_name: Option<&'a str>,
}

/// Why a member could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// A member of the account already has this email.
    #[error("a member of this account has this userName already")]
    Taken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Adds a person to the account: the login with this email if one exists, else a new login
/// without a password (it signs in through the identity provider). `event` is the
/// `member.joined` event to write.
pub async fn create(
    pool: &Pool,
    account_id: &AccountId,
    new: &NewMember<'_>,
    now: Millis,
    event: Event,
) -> Result<ProvisionedMember, CreateError> {
    let result = create_locked(pool, account_id, new, now, event).await;
    match result {
        // Two creations of one new email at once: the second one's login insert collides.
        Err(CreateError::Database(error)) if is_unique_violation(&error) => Err(CreateError::Taken),
        other => other,
    }
}

async fn create_locked(
    pool: &Pool,
    account_id: &AccountId,
    new: &NewMember<'_>,
    now: Millis,
    event: Event,
) -> Result<ProvisionedMember, CreateError> {
    let mut transaction = lock_account(pool, account_id).await?;
    let existing: Option<(UserId,)> = sqlx::query_as("SELECT id FROM users WHERE email = $1")
        .bind(new.email)
        .fetch_optional(&mut *transaction)
        .await?;
    let user_id = match existing {
        Some((user_id,)) => {
            if member(&mut *transaction, account_id, &user_id)
                .await?
                .is_some()
            {
                return Err(CreateError::Taken);
            }
            user_id
        }
        None => {
            let user_id = UserId::generate();
            crate::server::stores::users::insert(&mut *transaction, &user_id, new.email, "", now)
                .await?;
            user_id
        }
    };
    sqlx::query(
        "INSERT INTO memberships (id, account_id, user_id, role, joined_at, suspended_at, \
                                  external_id, display_name) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(MembershipId::generate())
    .bind(account_id)
    .bind(&user_id)
    .bind(new.role)
    .bind(now)
    .bind((!new.active).then_some(now))
    .bind(new.external_id)
    .bind(new.display_name)
    .execute(&mut *transaction)
    .await?;
    let event = event
        .target(Target::user(&user_id, new.email))
        .details(json!({"role": new.role.as_str(), "active": new.active, "via": "scim"}));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    let created = member(&mut *transaction, account_id, &user_id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    transaction.commit().await?;
    Ok(created)
}

/// What a replacement or a patch changes about a member; `None` leaves a field as it is.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MemberChange {
    pub active: Option<bool>,
    pub external_id: Option<Option<String>>,
    pub display_name: Option<Option<String>>,
}

/// Applies `change` to the member in one transaction: a suspension (`active: false`) or a
/// reactivation with its event (`member.suspended`, `member.reactivated`) and the key-check
/// counter moved, and new names with `member.updated`. `event` is the base of each event (the
/// identity provider, this request). A change to what the member already is writes nothing.
/// Returns the member as they are now, and whether key checks changed.
pub async fn change(
    pool: &Pool,
    account_id: &AccountId,
    user_id: &UserId,
    change: &MemberChange,
    now: Millis,
    event: Event,
) -> Result<(ProvisionedMember, bool), MembershipChangeError> {
    let mut transaction = lock_account(pool, account_id).await?;
    let current = member(&mut *transaction, account_id, user_id)
        .await?
        .ok_or(MembershipChangeError::NoSuchMember)?;
    let target = Target::user(user_id, &current.email);
    let mut key_checks_changed = false;
    // Switching the membership off or on: `suspended_at` and its event.
    let switch = match change.active {
        Some(false) if current.active() => Some((Some(now), AuditAction::MemberSuspended)),
        Some(true) if !current.active() => Some((None, AuditAction::MemberReactivated)),
        _ => None,
    };
    if let Some((suspended_at, action)) = switch {
        // A suspended Admin administers nothing: the last one who can may not be switched off,
        // or nobody could manage the account (the provider answers with this 409).
        if suspended_at.is_some()
            && current.role == Role::Admin
            && admin_count(&mut transaction, account_id).await? <= 1
        {
            return Err(MembershipChangeError::LastAdmin);
        }
        sqlx::query(
            "UPDATE memberships SET suspended_at = $1 WHERE account_id = $2 AND user_id = $3",
        )
        .bind(suspended_at)
        .bind(account_id)
        .bind(user_id)
        .execute(&mut *transaction)
        .await?;
        let switched = event
            .clone()
            .of_action(action)
            .target(target.clone())
            .details(json!({"role": current.role.as_str()}));
        crate::server::stores::audit::append(&mut transaction, &switched).await?;
        crate::server::stores::key_checks::changed(&mut transaction, &switched).await?;
        key_checks_changed = true;
    }
    let external_id = change
        .external_id
        .clone()
        .unwrap_or_else(|| current.external_id.clone());
    let display_name = change
        .display_name
        .clone()
        .unwrap_or_else(|| current.display_name.clone());
    if external_id != current.external_id || display_name != current.display_name {
        sqlx::query(
            "UPDATE memberships SET external_id = $1, display_name = $2 \
             WHERE account_id = $3 AND user_id = $4",
        )
        .bind(&external_id)
        .bind(&display_name)
        .bind(account_id)
        .bind(user_id)
        .execute(&mut *transaction)
        .await?;
        let updated = event
            .of_action(AuditAction::MemberUpdated)
            .target(target)
            .details(json!({
                "external_id": {"from": current.external_id, "to": external_id},
                "display_name": {"from": current.display_name, "to": display_name},
            }));
        crate::server::stores::audit::append(&mut transaction, &updated).await?;
    }
    let now_member = member(&mut *transaction, account_id, user_id)
        .await?
        .ok_or(MembershipChangeError::NoSuchMember)?;
    transaction.commit().await?;
    Ok((now_member, key_checks_changed))
}
