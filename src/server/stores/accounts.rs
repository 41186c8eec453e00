use crate::domain::time::Millis;
use crate::domain::time::{now_millis, rfc3339};
use crate::domain::{
    ids::{AccountId, MembershipId, UserId},
    views::{Account, AccountMembership, KeyPolicy, Member, User},
    Role,
};
use crate::server::audit::{Event, Target};
use crate::server::db::Pool;
use crate::server::paging;
use crate::server::stores::conditions::Conditions;
use serde_json::json;
use sqlx::{Any, Executor, Transaction};

#[derive(sqlx::FromRow)]
struct MembershipRecord {
    id: MembershipId,
    account_id: AccountId,
    account_name: String,
    role: Role,
    /// 1 when the account requires a second factor and the person has none.
    must_set_up_second_factor: i64,
    /// 1 when the account requires single sign-on and the membership has no break-glass
    /// password sign-in.
    needs_sso: i64,
}

/// A person's membership in an account, with the id keys are bound to.
#[derive(Clone, Debug)]
pub struct Membership {
    pub id: MembershipId,
    pub account: Account,
    pub role: Role,
    /// The account requires a second factor (`require_second_factor`) and the person has
    /// none: signed in to it, they may only set one up.
    pub must_set_up_second_factor: bool,
    /// The account requires single sign-on (`require_sso`) and this membership may not use a
    /// password instead (`keyward admin break-glass`): only a session that came through the
    /// identity provider acts in it.
    pub needs_sso: bool,
}

impl Membership {
    /// Whether a session signed in this way may act in this membership's account.
    pub fn admits(&self, via_sso: bool) -> bool {
        via_sso || !self.needs_sso
    }
}

impl Membership {
    pub fn view(self) -> AccountMembership {
        AccountMembership {
            account: self.account,
            role: self.role,
        }
    }
}

#[derive(sqlx::FromRow)]
struct MemberRecord {
    user_id: UserId,
    email: String,
    role: Role,
    joined_at: Millis,
    totp_factors: i64,
    passkeys: i64,
    suspended_at: Option<Millis>,
    display_name: Option<String>,
}

impl MemberRecord {
    fn view(self) -> Member {
        Member {
            user: User {
                id: self.user_id,
                email: self.email,
            },
            role: self.role,
            joined_at: rfc3339(self.joined_at),
            second_factors: [
                (self.totp_factors > 0).then_some(SECOND_FACTOR_TOTP),
                (self.passkeys > 0).then_some(SECOND_FACTOR_PASSKEY),
            ]
            .into_iter()
            .flatten()
            .map(str::to_string)
            .collect(),
            suspended: self.suspended_at.is_some(),
            display_name: self.display_name,
        }
    }
}

/// Stores an account with the start of its audit chain: no account exists without one.
async fn insert_account(
    transaction: &mut Transaction<'static, Any>,
    id: &AccountId,
    name: &str,
    now: Millis,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(name)
        .bind(now)
        .execute(&mut **transaction)
        .await?;
    sqlx::query("INSERT INTO audit_heads (account_id, seq, hash) VALUES ($1, 0, '')")
        .bind(id)
        .execute(&mut **transaction)
        .await?;
    Ok(())
}

/// A new account with its first Admin, a new login.
pub struct NewAccount<'a> {
    pub user_id: &'a UserId,
    pub account_id: &'a AccountId,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub account_name: &'a str,
}

/// Creates a user and a new account in which they are Admin, in one transaction with the
/// account's first audit event: how both sign-up and `keyward admin create` start an account.
/// A taken email is a unique violation.
pub async fn create_with_admin(
    pool: &Pool,
    new: &NewAccount<'_>,
    event: Event,
) -> Result<(), sqlx::Error> {
    let now = now_millis();
    let mut transaction = pool.begin().await?;
    crate::server::stores::users::insert(
        &mut *transaction,
        new.user_id,
        new.email,
        new.password_hash,
        now,
    )
    .await?;
    insert_account(&mut transaction, new.account_id, new.account_name, now).await?;
    crate::server::stores::memberships::insert_membership(
        &mut *transaction,
        new.account_id,
        new.user_id,
        Role::Admin,
        now,
    )
    .await?;
    let event = event.target(Target::new(
        crate::domain::audit::TargetKind::Account,
        new.account_id,
        new.account_name,
    ));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(())
}

/// A membership with its account, as sign-in and every signed-in request read it (a suspended
/// membership is never read this way: nothing acts through it), with two answers of the
/// account's policy:
/// - whether the person must set up a second factor first: the account requires one and they
///   have neither a confirmed authenticator nor a passkey (two indexed lookups, only in such
///   accounts, in the query that resolves every signed-in request anyway);
/// - whether only single sign-on admits them: the account requires it and the membership has
///   no break-glass password sign-in.
const MEMBERSHIP_COLUMNS: &str = "SELECT m.id AS id, a.id AS account_id, a.name AS account_name, \
        m.role AS role, \
        CAST(CASE WHEN a.require_second_factor = 0 THEN 0 \
             WHEN EXISTS (SELECT 1 FROM totp_factors t \
                          WHERE t.user_id = m.user_id AND t.confirmed_at IS NOT NULL) THEN 0 \
             WHEN EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = m.user_id) THEN 0 \
             ELSE 1 END AS BIGINT) AS must_set_up_second_factor, \
        CAST(CASE WHEN a.require_sso <> 0 AND m.password_allowed = 0 THEN 1 ELSE 0 END AS BIGINT) \
            AS needs_sso \
     FROM memberships m JOIN accounts a ON a.id = m.account_id";

/// The caller's membership in one account (not suspended), read fresh on every request.
pub async fn membership(
    pool: &Pool,
    account_id: &AccountId,
    user_id: &UserId,
) -> Result<Option<Membership>, sqlx::Error> {
    let row: Option<MembershipRecord> = sqlx::query_as(&format!(
        "{MEMBERSHIP_COLUMNS} WHERE m.account_id = $1 AND m.user_id = $2 AND m.suspended_at IS NULL",
    ))
    .bind(account_id)
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(MembershipRecord::view))
}

/// Every account a user belongs to and is not suspended in, oldest membership first.
pub async fn memberships_of(pool: &Pool, user_id: &UserId) -> Result<Vec<Membership>, sqlx::Error> {
    let rows: Vec<MembershipRecord> = sqlx::query_as(&format!(
        "{MEMBERSHIP_COLUMNS} WHERE m.user_id = $1 AND m.suspended_at IS NULL \
         ORDER BY m.joined_at, a.name",
    ))
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(MembershipRecord::view).collect())
}

impl MembershipRecord {
    fn view(self) -> Membership {
        Membership {
            id: self.id,
            account: Account {
                id: self.account_id,
                name: self.account_name,
            },
            role: self.role,
            must_set_up_second_factor: self.must_set_up_second_factor != 0,
            needs_sso: self.needs_sso != 0,
        }
    }
}

/// The names `Member::second_factors` gives an authenticator app and passkeys.
pub const SECOND_FACTOR_TOTP: &str = "totp";
pub const SECOND_FACTOR_PASSKEY: &str = "passkey";

pub async fn account(pool: &Pool, account_id: &AccountId) -> Result<Option<Account>, sqlx::Error> {
    let row: Option<(AccountId, String)> =
        sqlx::query_as("SELECT id, name FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(id, name)| Account { id, name }))
}

const MEMBER_COLUMNS: &str =
    "SELECT u.id AS user_id, u.email AS email, m.role AS role, m.joined_at AS joined_at, \
            (SELECT COUNT(*) FROM totp_factors t \
             WHERE t.user_id = u.id AND t.confirmed_at IS NOT NULL) AS totp_factors, \
            (SELECT COUNT(*) FROM passkeys p WHERE p.user_id = u.id) AS passkeys, \
            m.suspended_at AS suspended_at, m.display_name AS display_name \
     FROM memberships m JOIN users u ON u.id = m.user_id";

/// One page of an account's members in the order they joined, and the cursor to the next one.
pub async fn members(
    pool: &Pool,
    account_id: &AccountId,
    after: Option<&(i64, String)>,
    limit: usize,
) -> Result<(Vec<Member>, Option<String>), sqlx::Error> {
    let mut conditions = Conditions::default();
    let account = conditions.text(account_id.as_str());
    conditions.and(format!("m.account_id = {account}"));
    if let Some((joined_at, email)) = after {
        let joined_at = conditions.number(*joined_at);
        let email = conditions.text(email.as_str());
        conditions.and(format!("(m.joined_at, u.email) > ({joined_at}, {email})"));
    }
    let sql = format!(
        "{MEMBER_COLUMNS} WHERE {} ORDER BY m.joined_at, u.email LIMIT {}",
        conditions.sql(),
        limit + 1
    );
    let rows: Vec<MemberRecord> = conditions
        .bind(sqlx::query_as(&sql))
        .fetch_all(pool)
        .await?;
    let (rows, next) = paging::split(rows, limit, |row| {
        (row.joined_at.as_i64(), row.email.clone())
    });
    Ok((rows.into_iter().map(MemberRecord::view).collect(), next))
}

pub async fn member<'e>(
    executor: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    user_id: &UserId,
) -> Result<Option<Member>, sqlx::Error> {
    let row: Option<MemberRecord> = sqlx::query_as(&format!(
        "{MEMBER_COLUMNS} WHERE m.account_id = $1 AND m.user_id = $2"
    ))
    .bind(account_id)
    .bind(user_id)
    .fetch_optional(executor)
    .await?;
    Ok(row.map(MemberRecord::view))
}

/// Starts a transaction that holds the account's write lock, so that two concurrent changes
/// cannot both see "another Admin remains" and leave the account without one (or both see
/// room for one more of something). Touching the account row takes a row lock on PostgreSQL
/// and the database write lock on SQLite.
pub(crate) async fn lock_account(
    pool: &Pool,
    account_id: &AccountId,
) -> Result<Transaction<'static, Any>, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    sqlx::query("UPDATE accounts SET name = name WHERE id = $1")
        .bind(account_id)
        .execute(&mut *transaction)
        .await?;
    Ok(transaction)
}

/// The account's key policy.
pub async fn key_policy(pool: &Pool, account_id: &AccountId) -> Result<KeyPolicy, sqlx::Error> {
    let row: Option<PolicyRow> = sqlx::query_as(
        "SELECT max_key_lifetime_days, require_key_expiry, require_service_key_guard, \
                require_second_factor, require_sso FROM accounts WHERE id = $1",
    )
    .bind(account_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(policy_of).unwrap_or_default())
}

type PolicyRow = (Option<i64>, i64, i64, i64, i64);

fn policy_of(
    (max_days, require_expiry, require_guard, require_second_factor, require_sso): PolicyRow,
) -> KeyPolicy {
    KeyPolicy {
        max_key_lifetime_days: max_days.and_then(|days| u32::try_from(days).ok()),
        require_expiry: require_expiry != 0,
        require_service_key_guard: require_guard != 0,
        require_second_factor: require_second_factor != 0,
        require_sso: require_sso != 0,
    }
}

/// A change of the key policy: `None` keeps a field, `Some` sets it (`Some(None)` removes the
/// maximum).
pub struct KeyPolicyChange {
    pub max_key_lifetime_days: Option<Option<u32>>,
    pub require_expiry: Option<bool>,
    pub require_service_key_guard: Option<bool>,
    pub require_second_factor: Option<bool>,
    pub require_sso: Option<bool>,
}

/// Changes the key policy under the account's lock, with a `policy.changed` event saying what
/// it was and what it is now.
pub async fn set_key_policy(
    pool: &Pool,
    account_id: &AccountId,
    change: &KeyPolicyChange,
    event: Event,
) -> Result<KeyPolicy, sqlx::Error> {
    let mut transaction = lock_account(pool, account_id).await?;
    let row: PolicyRow = sqlx::query_as(
        "SELECT max_key_lifetime_days, require_key_expiry, require_service_key_guard, \
                require_second_factor, require_sso FROM accounts WHERE id = $1",
    )
    .bind(account_id)
    .fetch_one(&mut *transaction)
    .await?;
    let before = policy_of(row);
    let after = KeyPolicy {
        max_key_lifetime_days: change
            .max_key_lifetime_days
            .unwrap_or(before.max_key_lifetime_days),
        require_expiry: change.require_expiry.unwrap_or(before.require_expiry),
        require_service_key_guard: change
            .require_service_key_guard
            .unwrap_or(before.require_service_key_guard),
        require_second_factor: change
            .require_second_factor
            .unwrap_or(before.require_second_factor),
        require_sso: change.require_sso.unwrap_or(before.require_sso),
    };
    sqlx::query(
        "UPDATE accounts SET max_key_lifetime_days = $1, require_key_expiry = $2, \
                require_service_key_guard = $4, require_second_factor = $5, require_sso = $6 \
         WHERE id = $3",
    )
    .bind(after.max_key_lifetime_days.map(i64::from))
    .bind(i64::from(after.require_expiry))
    .bind(account_id)
    .bind(i64::from(after.require_service_key_guard))
    .bind(i64::from(after.require_second_factor))
    .bind(i64::from(after.require_sso))
    .execute(&mut *transaction)
    .await?;
    let event = event
        .target(Target::new(
            crate::domain::audit::TargetKind::Account,
            account_id,
            "",
        ))
        .details(json!({"from": before, "to": after}));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    // A key check reads this: every instance must forget the account's keys.
    crate::server::stores::key_checks::changed(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(after)
}

/// The Admins who can act: a suspended Admin administers nothing, so does not count as one left.
pub(crate) async fn admin_count(
    transaction: &mut Transaction<'static, Any>,
    account_id: &AccountId,
) -> Result<i64, sqlx::Error> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM memberships \
         WHERE account_id = $1 AND role = 'admin' AND suspended_at IS NULL",
    )
    .bind(account_id)
    .fetch_one(&mut **transaction)
    .await?;
    Ok(count)
}

/// Why a change of membership was refused.
#[derive(Debug, thiserror::Error)]
pub enum MembershipChangeError {
    #[error("no such member in this account")]
    NoSuchMember,
    /// The change would leave the account without an Admin.
    #[error("the account would have no Admin left")]
    LastAdmin,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub async fn set_role(
    pool: &Pool,
    account_id: &AccountId,
    user_id: &UserId,
    role: Role,
    event: Event,
) -> Result<Member, MembershipChangeError> {
    let mut transaction = lock_account(pool, account_id).await?;
    let current = member(&mut *transaction, account_id, user_id)
        .await?
        .ok_or(MembershipChangeError::NoSuchMember)?;
    if current.role == Role::Admin
        && role != Role::Admin
        && !current.suspended
        && admin_count(&mut transaction, account_id).await? <= 1
    {
        return Err(MembershipChangeError::LastAdmin);
    }
    sqlx::query("UPDATE memberships SET role = $1 WHERE account_id = $2 AND user_id = $3")
        .bind(role.as_str())
        .bind(account_id)
        .bind(user_id)
        .execute(&mut *transaction)
        .await?;
    let event = event
        .target(Target::user(user_id, &current.user.email))
        .details(json!({"from": current.role.as_str(), "to": role.as_str()}));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    // A key check reads this: every instance must forget the account's keys.
    crate::server::stores::key_checks::changed(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(Member { role, ..current })
}

/// Removes a member, revokes their keys in this account and withdraws the invites still
/// pending for their email, in one transaction: their keys stop working at once and stay dead
/// if the person is ever invited back, and no spare link lets them walk back in.
pub async fn remove(
    pool: &Pool,
    account_id: &AccountId,
    user_id: &UserId,
    now: Millis,
    event: Event,
) -> Result<(), MembershipChangeError> {
    let mut transaction = lock_account(pool, account_id).await?;
    let current = member(&mut *transaction, account_id, user_id)
        .await?
        .ok_or(MembershipChangeError::NoSuchMember)?;
    if current.role == Role::Admin
        && !current.suspended
        && admin_count(&mut transaction, account_id).await? <= 1
    {
        return Err(MembershipChangeError::LastAdmin);
    }
    sqlx::query("DELETE FROM memberships WHERE account_id = $1 AND user_id = $2")
        .bind(account_id)
        .bind(user_id)
        .execute(&mut *transaction)
        .await?;
    let keys_revoked = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE account_id = $2 AND user_id = $3 AND revoked_at IS NULL")
        .bind(now)
        .bind(account_id)
        .bind(user_id)
        .execute(&mut *transaction)
        .await?
        .rows_affected();
    crate::server::stores::invites::withdraw_pending_for(
        &mut *transaction,
        account_id,
        &current.user.email,
        now,
    )
    .await?;
    crate::server::stores::service_accounts::drop_custodian(&mut transaction, account_id, user_id)
        .await?;
    let event = event
        .target(Target::user(user_id, &current.user.email))
        .details(json!({"role": current.role.as_str(), "keys_revoked": keys_revoked}));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    // A key check reads this: every instance must forget the account's keys.
    crate::server::stores::key_checks::changed(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(())
}
