//! Which keyward login an identity provider's subject is (see the migration: linked once, by a
//! verified email, then by the subject alone).

use crate::domain::ids::UserId;
use crate::domain::time::Millis;
use crate::server::audit::Event;
use crate::server::db::Pool;
use crate::server::stores::users::UserWithPassword;

/// The login `subject` of `issuer` is linked to, if any.
pub async fn linked_user(
    pool: &Pool,
    issuer: &str,
    subject: &str,
) -> Result<Option<UserWithPassword>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id, u.email, u.password_hash, u.sessions_valid_after \
         FROM sso_identities i JOIN users u ON u.id = i.user_id \
         WHERE i.issuer = $1 AND i.subject = $2",
    )
    .bind(issuer)
    .bind(subject)
    .fetch_optional(pool)
    .await
}

/// Links `subject` of `issuer` to `user_id`, with its `sso.linked` event. When two sign-ins of
/// one subject race, the first link stands and the second writes nothing.
pub async fn link(
    pool: &Pool,
    issuer: &str,
    subject: &str,
    user_id: &UserId,
    now: Millis,
    event: Event,
) -> Result<(), sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO sso_identities (issuer, subject, user_id, linked_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (issuer, subject) DO NOTHING",
    )
    .bind(issuer)
    .bind(subject)
    .bind(user_id)
    .bind(now)
    .execute(&mut *transaction)
    .await?
    .rows_affected();
    if inserted > 0 {
        crate::server::stores::audit::append(&mut transaction, &event).await?;
    }
    transaction.commit().await
}
