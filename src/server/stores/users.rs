use crate::domain::time::Millis;
use crate::domain::{ids::UserId, views::User};
use crate::server::audit::Event;
use crate::server::db::Pool;
use sqlx::{Any, Executor};

/// A user with the password hash: server-only, never `Serialize`.
#[derive(sqlx::FromRow)]
pub struct UserWithPassword {
    pub id: UserId,
    pub email: String,
    pub password_hash: String,
    /// Sessions that started before this time are over (see `SessionUser::is_current`).
    pub sessions_valid_after: Millis,
}

impl UserWithPassword {
    pub fn view(&self) -> User {
        User {
            id: self.id.clone(),
            email: self.email.clone(),
        }
    }
}

pub async fn insert<'e>(
    executor: impl Executor<'e, Database = Any>,
    id: &UserId,
    email: &str,
    password_hash: &str,
    now: Millis,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(email)
        .bind(password_hash)
        .bind(now)
        .execute(executor)
        .await?;
    Ok(())
}

pub async fn find_by_email(
    pool: &Pool,
    email: &str,
) -> Result<Option<UserWithPassword>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, email, password_hash, sessions_valid_after FROM users WHERE email = $1",
    )
    .bind(email)
    .fetch_optional(pool)
    .await
}

pub async fn find(pool: &Pool, user_id: &UserId) -> Result<Option<UserWithPassword>, sqlx::Error> {
    sqlx::query_as("SELECT id, email, password_hash, sessions_valid_after FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(pool)
        .await
}

/// Replaces a person's password and ends every session they started before `now`.
pub async fn change_password(
    pool: &Pool,
    user_id: &UserId,
    password_hash: &str,
    now: Millis,
    event: Event,
) -> Result<(), sqlx::Error> {
    let mut transaction = pool.begin().await?;
    sqlx::query("UPDATE users SET password_hash = $1, sessions_valid_after = $2 WHERE id = $3")
        .bind(password_hash)
        .bind(now)
        .bind(user_id)
        .execute(&mut *transaction)
        .await?;
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await
}
