//! Which keys' owners are due an email about its expiry, and the claim that sends each one once.

use crate::domain::ids::KeyId;
use crate::domain::time::Millis;
use crate::server::db::Pool;
use crate::server::stores::keys::read::EXPIRY_WARNING;

/// A key whose owner is told about its expiry.
#[derive(sqlx::FromRow)]
pub struct ExpiringKey {
    pub id: KeyId,
    pub name: String,
    pub hint: String,
    pub email: String,
    pub account_name: String,
    pub expires_at: Millis,
}

/// The emails a key's owner gets about its expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// 7 days before.
    ExpiresSoon,
    /// When it has expired (told within 7 days after; older expiries are not news).
    Expired,
}

impl Notice {
    fn column(self) -> &'static str {
        match self {
            Notice::ExpiresSoon => "expiry_notice_sent_at",
            Notice::Expired => "expired_notice_sent_at",
        }
    }
}

/// Keys of current members whose owner has not yet had `notice`: not revoked, not rotated
/// away (their end is a grace period someone chose), at most 500 a round.
pub async fn due_for_notice(
    pool: &Pool,
    notice: Notice,
    now: Millis,
) -> Result<Vec<ExpiringKey>, sqlx::Error> {
    let (from, to) = match notice {
        Notice::ExpiresSoon => (now, now.after(EXPIRY_WARNING)),
        Notice::Expired => (now.before(EXPIRY_WARNING), now),
    };
    let column = notice.column();
    sqlx::query_as(&format!(
        "SELECT k.id, k.name, k.hint, u.email, a.name AS account_name, k.expires_at \
         FROM api_keys k \
         JOIN users u ON u.id = k.user_id \
         JOIN accounts a ON a.id = k.account_id \
         JOIN memberships m ON m.id = k.membership_id \
         WHERE k.expires_at > $1 AND k.expires_at <= $2 AND k.revoked_at IS NULL \
           AND k.rotated_to IS NULL AND k.{column} IS NULL \
         ORDER BY k.expires_at LIMIT 500"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}

/// Marks `notice` as sent for a key; `false` when another round (or instance) already did.
pub async fn claim_notice(
    pool: &Pool,
    notice: Notice,
    key_id: &KeyId,
    now: Millis,
) -> Result<bool, sqlx::Error> {
    let column = notice.column();
    let claimed = sqlx::query(&format!(
        "UPDATE api_keys SET {column} = $1 WHERE id = $2 AND {column} IS NULL"
    ))
    .bind(now)
    .bind(key_id)
    .execute(pool)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Undoes a claim whose email could not be sent, so the next round tries again.
pub async fn release_notice(
    pool: &Pool,
    notice: Notice,
    key_id: &KeyId,
) -> Result<(), sqlx::Error> {
    let column = notice.column();
    sqlx::query(&format!(
        "UPDATE api_keys SET {column} = NULL WHERE id = $1"
    ))
    .bind(key_id)
    .execute(pool)
    .await?;
    Ok(())
}
