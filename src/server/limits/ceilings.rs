//! Per-account ceilings: how much one account may hold, so that one sign-up cannot fill the
//! database (every key, check and invite is a row, and an invite may be an email). Each has a
//! default that no real team comes near and a variable to raise it. A ceiling is checked before
//! the insert, outside its transaction: requests racing at the very edge may pass it by a few,
//! which bounds growth all the same.

use crate::domain::time::Millis;
use crate::domain::{
    ids::{AccountId, KeyId},
    ApiError,
};
use crate::server::config::Ceilings;
use crate::server::db::Pool;

use crate::server::config::{
    MAX_CHECKS_VAR as CHECKS_VAR, MAX_CHILDREN_VAR as CHILDREN_VAR, MAX_KEYS_VAR as KEYS_VAR,
    MAX_PENDING_INVITES_VAR as PENDING_INVITES_VAR,
};

impl Ceilings {
    /// Whether the account (and, for a child, its parent key) has room for one more key.
    pub async fn room_for_key(
        &self,
        pool: &Pool,
        account_id: &AccountId,
        parent: Option<&KeyId>,
        now: Millis,
    ) -> Result<(), ApiError> {
        let (active,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM api_keys WHERE account_id = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(account_id)
        .bind(now)
        .fetch_one(pool)
        .await?;
        if active >= i64::from(self.keys_per_account) {
            return Err(ApiError::conflict(format!(
                "This account has {active} active keys, the most it may hold ({KEYS_VAR}). Revoke keys it no longer needs."
            )));
        }
        if let Some(parent) = parent {
            let (children,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM api_keys WHERE created_by_key_id = $1 AND revoked_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > $2)",
            )
            .bind(parent)
            .bind(now)
            .fetch_one(pool)
            .await?;
            if children >= i64::from(self.children_per_key) {
                return Err(ApiError::conflict(format!(
                    "This key has made {children} active keys, the most one key may ({CHILDREN_VAR}). Revoke some of them first."
                )));
            }
        }
        Ok(())
    }

    pub async fn room_for_check(
        &self,
        pool: &Pool,
        account_id: &AccountId,
    ) -> Result<(), ApiError> {
        let (checks,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM checks WHERE account_id = $1")
            .bind(account_id)
            .fetch_one(pool)
            .await?;
        if checks >= i64::from(self.checks_per_account) {
            return Err(ApiError::conflict(format!(
                "This account has {checks} checks, the most it may hold ({CHECKS_VAR}). Delete checks it no longer needs."
            )));
        }
        Ok(())
    }

    pub async fn room_for_invite(
        &self,
        pool: &Pool,
        account_id: &AccountId,
        now: Millis,
    ) -> Result<(), ApiError> {
        let (pending,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM invites WHERE account_id = $1 AND accepted_at IS NULL \
             AND withdrawn_at IS NULL AND expires_at > $2",
        )
        .bind(account_id)
        .bind(now)
        .fetch_one(pool)
        .await?;
        if pending >= i64::from(self.pending_invites_per_account) {
            return Err(ApiError::conflict(format!(
                "This account has {pending} pending invites, the most it may hold ({PENDING_INVITES_VAR}). Withdraw some first."
            )));
        }
        Ok(())
    }
}
