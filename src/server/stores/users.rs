use crate::domain::views::User;
use crate::server::db::Pool;
use sqlx::{Any, Executor};

/// A user with the password hash: server-only, never `Serialize`.
#[derive(sqlx::FromRow)]
pub struct UserWithPassword {
    pub id: String,
    pub email: String,
    pub password_hash: String,
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
    id: &str,
    email: &str,
    password_hash: &str,
    now: i64,
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
    sqlx::query_as("SELECT id, email, password_hash FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(pool)
        .await
}

pub async fn find(pool: &Pool, user_id: &str) -> Result<Option<UserWithPassword>, sqlx::Error> {
    sqlx::query_as("SELECT id, email, password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(pool)
        .await
}
