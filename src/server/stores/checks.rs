use crate::domain::{
    ids::{AccountId, CheckId},
    views::{Check, CheckKind},
};
use crate::server::{db::Pool, ids::rfc3339};

#[derive(sqlx::FromRow)]
struct CheckRow {
    id: CheckId,
    name: String,
    kind: CheckKind,
    url: String,
    frequency_minutes: i64,
    activated: i64,
    created_at: i64,
    updated_at: i64,
}

impl CheckRow {
    fn view(self) -> Check {
        Check {
            id: self.id,
            name: self.name,
            kind: self.kind,
            url: self.url,
            frequency_minutes: u32::try_from(self.frequency_minutes).unwrap_or_default(),
            activated: self.activated != 0,
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
        }
    }
}

/// The fields of a check, validated by the caller.
pub struct CheckFields {
    pub name: String,
    pub kind: CheckKind,
    pub url: String,
    pub frequency_minutes: u32,
    pub activated: bool,
}

const COLUMNS: &str =
    "SELECT id, name, kind, url, frequency_minutes, activated, created_at, updated_at FROM checks";

pub async fn list(pool: &Pool, account_id: &AccountId) -> Result<Vec<Check>, sqlx::Error> {
    let rows: Vec<CheckRow> = sqlx::query_as(&format!(
        "{COLUMNS} WHERE account_id = $1 ORDER BY name, id"
    ))
    .bind(account_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(CheckRow::view).collect())
}

pub async fn get(
    pool: &Pool,
    account_id: &AccountId,
    check_id: &CheckId,
) -> Result<Option<Check>, sqlx::Error> {
    let row: Option<CheckRow> =
        sqlx::query_as(&format!("{COLUMNS} WHERE account_id = $1 AND id = $2"))
            .bind(account_id)
            .bind(check_id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(CheckRow::view))
}

pub async fn insert(
    pool: &Pool,
    account_id: &AccountId,
    id: &CheckId,
    fields: &CheckFields,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO checks (id, account_id, name, kind, url, frequency_minutes, activated, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(id)
    .bind(account_id)
    .bind(&fields.name)
    .bind(fields.kind)
    .bind(&fields.url)
    .bind(i64::from(fields.frequency_minutes))
    .bind(i64::from(fields.activated))
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Replaces the fields of a check of this account; `false` when there is no such check.
pub async fn update(
    pool: &Pool,
    account_id: &AccountId,
    id: &CheckId,
    fields: &CheckFields,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE checks SET name = $1, kind = $2, url = $3, frequency_minutes = $4, activated = $5, updated_at = $6 \
         WHERE account_id = $7 AND id = $8",
    )
    .bind(&fields.name)
    .bind(fields.kind)
    .bind(&fields.url)
    .bind(i64::from(fields.frequency_minutes))
    .bind(i64::from(fields.activated))
    .bind(now)
    .bind(account_id)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn delete(
    pool: &Pool,
    account_id: &AccountId,
    id: &CheckId,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("DELETE FROM checks WHERE account_id = $1 AND id = $2")
        .bind(account_id)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(result.rows_affected() == 1)
}
