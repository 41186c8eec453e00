//! A person's passkeys (`passkeys`): the credential webauthn-rs verified, kept as JSON (a public
//! key and a counter, no secret). Adding the first factor gives the person recovery codes, and
//! removing the last one takes them away, in the same transaction (`second_factors` does the
//! same for the authenticator app).

use crate::domain::{ids::UserId, time::Millis};
use crate::server::audit::Event;
use crate::server::db::{is_unique_violation, Pool};
use crate::server::stores::{audit, second_factors};
use webauthn_rs::prelude::Passkey;

/// A stored passkey.
#[derive(Clone)]
pub struct StoredPasskey {
    pub id: String,
    pub name: String,
    pub user_handle: String,
    pub credential: Passkey,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
}

#[derive(sqlx::FromRow)]
struct PasskeyRow {
    id: String,
    user_id: UserId,
    name: String,
    user_handle: String,
    credential: String,
    created_at: Millis,
    last_used_at: Option<Millis>,
}

impl PasskeyRow {
    /// `None` for a row webauthn-rs can no longer read (it is left alone, and logged).
    fn stored(self) -> Option<(UserId, StoredPasskey)> {
        match serde_json::from_str(&self.credential) {
            Ok(credential) => Some((
                self.user_id,
                StoredPasskey {
                    id: self.id,
                    name: self.name,
                    user_handle: self.user_handle,
                    credential,
                    created_at: self.created_at,
                    last_used_at: self.last_used_at,
                },
            )),
            Err(error) => {
                tracing::error!(passkey = %self.id, %error, "a stored passkey cannot be read");
                None
            }
        }
    }
}

const COLUMNS: &str =
    "SELECT id, user_id, name, user_handle, credential, created_at, last_used_at FROM passkeys";

/// The person's passkeys, oldest first.
pub async fn of_user(pool: &Pool, user_id: &UserId) -> Result<Vec<StoredPasskey>, sqlx::Error> {
    let rows: Vec<PasskeyRow> = sqlx::query_as(&format!(
        "{COLUMNS} WHERE user_id = $1 ORDER BY created_at, id"
    ))
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(PasskeyRow::stored)
        .map(|(_, passkey)| passkey)
        .collect())
}

/// The passkey with this credential id, and whose it is.
pub async fn by_credential_key(
    pool: &Pool,
    credential_key: &str,
) -> Result<Option<(UserId, StoredPasskey)>, sqlx::Error> {
    let row: Option<PasskeyRow> = sqlx::query_as(&format!("{COLUMNS} WHERE credential_key = $1"))
        .bind(credential_key)
        .fetch_optional(pool)
        .await?;
    Ok(row.and_then(PasskeyRow::stored))
}

/// A passkey to add.
pub struct NewPasskey<'a> {
    pub id: &'a str,
    pub user_id: &'a UserId,
    pub name: &'a str,
    pub credential_key: &'a str,
    pub user_handle: &'a str,
    pub credential: &'a Passkey,
    pub now: Millis,
}

/// What adding a passkey did.
pub enum Added {
    /// Added; with the hashes stored as the person's recovery codes when it was their first
    /// second factor.
    Added { first_factor: bool },
    /// This credential is registered already (to this person or another).
    Taken,
}

/// Adds a passkey, with its audit event; when it is the person's first second factor,
/// `recovery_code_hashes` become their recovery codes in the same transaction.
pub async fn add(
    pool: &Pool,
    passkey: NewPasskey<'_>,
    recovery_code_hashes: &[String],
    event: Event,
) -> Result<Added, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let first_factor = !second_factors::has_factor_in(&mut transaction, passkey.user_id).await?;
    let credential = serde_json::to_string(passkey.credential)
        .map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
    let inserted = sqlx::query(
        "INSERT INTO passkeys (id, user_id, name, credential_key, user_handle, credential, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(passkey.id)
    .bind(passkey.user_id)
    .bind(passkey.name)
    .bind(passkey.credential_key)
    .bind(passkey.user_handle)
    .bind(credential)
    .bind(passkey.now)
    .execute(&mut *transaction)
    .await;
    match inserted {
        Err(error) if is_unique_violation(&error) => return Ok(Added::Taken),
        other => other?,
    };
    if first_factor {
        second_factors::replace_codes(
            &mut transaction,
            passkey.user_id,
            recovery_code_hashes,
            passkey.now,
        )
        .await?;
    }
    audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(Added::Added { first_factor })
}

/// Keeps a passkey's credential as it is after a use (its counter), and when it was used.
pub async fn record_use(
    pool: &Pool,
    id: &str,
    credential: &Passkey,
    now: Millis,
) -> Result<(), sqlx::Error> {
    let credential =
        serde_json::to_string(credential).map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
    sqlx::query("UPDATE passkeys SET credential = $1, last_used_at = $2 WHERE id = $3")
        .bind(credential)
        .bind(now)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Removes one of the person's passkeys, with its audit event; the recovery codes go with the
/// last second factor. `false` when the person has no such passkey.
pub async fn remove(
    pool: &Pool,
    user_id: &UserId,
    id: &str,
    event: Event,
) -> Result<bool, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let removed = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(&mut *transaction)
        .await?;
    if removed.rows_affected() != 1 {
        return Ok(false);
    }
    if !second_factors::has_factor_in(&mut transaction, user_id).await? {
        second_factors::drop_codes(&mut transaction, user_id).await?;
    }
    audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(true)
}
