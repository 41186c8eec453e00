//! A person's second factors: their authenticator (`totp_factors`) and recovery codes. Every
//! use of a code is one conditional `UPDATE`, so a code works once even when two requests
//! carry it at the same moment, on one instance or several.

use crate::domain::{ids::UserId, time::Millis};
use crate::server::audit::Event;
use crate::server::db::Pool;
use crate::server::stores::audit;
use sqlx::{Any, Transaction};

/// A person's authenticator, confirmed or waiting for its first code.
#[derive(sqlx::FromRow)]
pub struct TotpFactor {
    pub secret_salt: String,
    pub confirmed_at: Option<Millis>,
}

/// What a person has, as their settings show it.
pub struct FactorStatus {
    pub totp_confirmed_at: Option<Millis>,
    pub recovery_codes_left: i64,
}

pub async fn totp_of(pool: &Pool, user_id: &UserId) -> Result<Option<TotpFactor>, sqlx::Error> {
    sqlx::query_as("SELECT secret_salt, confirmed_at FROM totp_factors WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(pool)
        .await
}

/// How many second factors a person has: a confirmed authenticator app and their passkeys
/// (the person is `$1`).
const FACTOR_COUNT: &str = "SELECT (SELECT COUNT(*) FROM totp_factors \
                                 WHERE user_id = $1 AND confirmed_at IS NOT NULL) \
                              + (SELECT COUNT(*) FROM passkeys WHERE user_id = $1)";

/// Whether the person must prove a second factor to sign in: an authenticator app or a
/// passkey.
pub async fn has_factor(pool: &Pool, user_id: &UserId) -> Result<bool, sqlx::Error> {
    let (count,): (i64,) = sqlx::query_as(FACTOR_COUNT)
        .bind(user_id)
        .fetch_one(pool)
        .await?;
    Ok(count > 0)
}

/// What the person can prove a sign-in with, as `auth/login` names them: `totp` (an
/// authenticator app; recovery codes go with any factor) and `passkey`.
pub async fn methods(pool: &Pool, user_id: &UserId) -> Result<Vec<&'static str>, sqlx::Error> {
    let (totp, passkeys): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL), \
                (SELECT COUNT(*) FROM passkeys WHERE user_id = $1)",
    )
    .bind(user_id)
    .fetch_one(pool)
    .await?;
    Ok([(totp > 0, "totp"), (passkeys > 0, "passkey")]
        .into_iter()
        .filter_map(|(has, method)| has.then_some(method))
        .collect())
}

/// [`has_factor`], inside a transaction that is changing the factors.
pub async fn has_factor_in(
    transaction: &mut Transaction<'static, Any>,
    user_id: &UserId,
) -> Result<bool, sqlx::Error> {
    let (count,): (i64,) = sqlx::query_as(FACTOR_COUNT)
        .bind(user_id)
        .fetch_one(&mut **transaction)
        .await?;
    Ok(count > 0)
}

pub async fn status(pool: &Pool, user_id: &UserId) -> Result<FactorStatus, sqlx::Error> {
    let totp = totp_of(pool, user_id).await?;
    let (left,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(pool)
    .await?;
    Ok(FactorStatus {
        totp_confirmed_at: totp.and_then(|factor| factor.confirmed_at),
        recovery_codes_left: left,
    })
}

/// Starts (or starts over) an enrolment with a new salt. `false` when the person already has a
/// confirmed authenticator: it must be removed first, so a stolen session cannot swap it.
pub async fn begin_totp(
    pool: &Pool,
    user_id: &UserId,
    secret_salt: &str,
    now: Millis,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "INSERT INTO totp_factors (user_id, secret_salt, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET secret_salt = excluded.secret_salt, \
         created_at = excluded.created_at, last_used_step = 0 \
         WHERE totp_factors.confirmed_at IS NULL",
    )
    .bind(user_id)
    .bind(secret_salt)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Confirms the enrolment whose first code was for `step`, and gives the person their recovery
/// codes, in one transaction with its audit event. `false` when there was no enrolment waiting
/// for that salt (confirmed meanwhile, or started over).
pub async fn confirm_totp(
    pool: &Pool,
    user_id: &UserId,
    secret_salt: &str,
    step: i64,
    recovery_code_hashes: &[String],
    now: Millis,
    event: Event,
) -> Result<bool, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let confirmed = sqlx::query(
        "UPDATE totp_factors SET confirmed_at = $1, last_used_step = $2 \
         WHERE user_id = $3 AND secret_salt = $4 AND confirmed_at IS NULL",
    )
    .bind(now)
    .bind(step)
    .bind(user_id)
    .bind(secret_salt)
    .execute(&mut *transaction)
    .await?;
    if confirmed.rows_affected() != 1 {
        return Ok(false);
    }
    replace_codes(&mut transaction, user_id, recovery_code_hashes, now).await?;
    audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(true)
}

/// Takes the code of `step`: `true` once per step and only for a step later than the last one
/// taken, however many requests carry the code at once.
pub async fn use_totp_step(pool: &Pool, user_id: &UserId, step: i64) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE totp_factors SET last_used_step = $1 \
         WHERE user_id = $2 AND confirmed_at IS NOT NULL AND last_used_step < $1",
    )
    .bind(step)
    .bind(user_id)
    .execute(pool)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Spends a recovery code: `true` once, for a code the person holds and has not used.
pub async fn use_recovery_code(
    pool: &Pool,
    user_id: &UserId,
    code_hash: &str,
    now: Millis,
    event: Event,
) -> Result<bool, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let result = sqlx::query(
        "UPDATE recovery_codes SET used_at = $1 \
         WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(code_hash)
    .execute(&mut *transaction)
    .await?;
    if result.rows_affected() != 1 {
        return Ok(false);
    }
    audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(true)
}

/// Replaces every recovery code of the person (the old ones stop working).
pub async fn renew_recovery_codes(
    pool: &Pool,
    user_id: &UserId,
    recovery_code_hashes: &[String],
    now: Millis,
    event: Event,
) -> Result<(), sqlx::Error> {
    let mut transaction = pool.begin().await?;
    replace_codes(&mut transaction, user_id, recovery_code_hashes, now).await?;
    audit::append(&mut transaction, &event).await?;
    transaction.commit().await
}

/// Removes the authenticator, and the recovery codes unless a passkey is left: without either
/// the person signs in with a password only. `false` when they had no confirmed authenticator.
pub async fn remove_totp(pool: &Pool, user_id: &UserId, event: Event) -> Result<bool, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let removed =
        sqlx::query("DELETE FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL")
            .bind(user_id)
            .execute(&mut *transaction)
            .await?;
    if removed.rows_affected() != 1 {
        return Ok(false);
    }
    if !has_factor_in(&mut transaction, user_id).await? {
        drop_codes(&mut transaction, user_id).await?;
    }
    audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(true)
}

/// The person's recovery codes go (with their last second factor).
pub async fn drop_codes(
    transaction: &mut Transaction<'static, Any>,
    user_id: &UserId,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **transaction)
        .await?;
    Ok(())
}

/// The person's recovery codes become `hashes` (the old ones stop working).
pub async fn replace_codes(
    transaction: &mut Transaction<'static, Any>,
    user_id: &UserId,
    hashes: &[String],
    now: Millis,
) -> Result<(), sqlx::Error> {
    drop_codes(transaction, user_id).await?;
    for hash in hashes {
        sqlx::query(
            "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(user_id)
        .bind(hash)
        .bind(now)
        .execute(&mut **transaction)
        .await?;
    }
    Ok(())
}
