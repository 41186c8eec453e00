use crate::domain::time::rfc3339;
use crate::domain::time::Millis;
use crate::domain::{
    ids::{AccountId, CheckId},
    inputs::{parse_check_kind, CheckName, CheckUrl, Frequency},
    requests::{CreateCheckRequest, UpdateCheckRequest},
    views::{Check, CheckKind},
    ApiError,
};
use crate::server::audit::{Event, Target};
use crate::server::db::Pool;
use crate::server::paging;
use crate::server::stores::conditions::Conditions;
use serde_json::json;

#[derive(sqlx::FromRow)]
struct CheckRecord {
    id: CheckId,
    name: String,
    kind: CheckKind,
    url: String,
    frequency_minutes: i64,
    activated: i64,
    created_at: Millis,
    updated_at: Millis,
}

impl CheckRecord {
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

/// The fields of a new check, each already validated.
pub struct CheckFields {
    pub name: CheckName,
    pub kind: CheckKind,
    pub url: CheckUrl,
    pub frequency: Frequency,
    pub activated: bool,
}

/// The fields to change on a check, each already validated; `None` keeps the stored value.
pub struct CheckChanges {
    pub name: Option<CheckName>,
    pub kind: Option<CheckKind>,
    pub url: Option<CheckUrl>,
    pub frequency: Option<Frequency>,
    pub activated: Option<bool>,
}

impl CheckChanges {
    /// The fields this change sets, as the audit trail lists them.
    pub fn names(&self) -> Vec<&'static str> {
        [
            ("name", self.name.is_some()),
            ("kind", self.kind.is_some()),
            ("url", self.url.is_some()),
            ("frequency_minutes", self.frequency.is_some()),
            ("activated", self.activated.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

impl CheckFields {
    /// Validates a new check, naming the first field that is not right.
    pub fn parse(request: CreateCheckRequest) -> Result<Self, ApiError> {
        Ok(CheckFields {
            name: CheckName::parse(&request.name)?,
            kind: parse_check_kind(&request.kind)?,
            url: CheckUrl::parse(&request.url)?,
            frequency: Frequency::parse(request.frequency_minutes)?,
            activated: request.activated,
        })
    }
}

impl CheckChanges {
    /// Validates the fields an update names; the others stay `None`.
    pub fn parse(request: UpdateCheckRequest) -> Result<Self, ApiError> {
        Ok(CheckChanges {
            name: request.name.as_deref().map(CheckName::parse).transpose()?,
            kind: request.kind.as_deref().map(parse_check_kind).transpose()?,
            url: request.url.as_deref().map(CheckUrl::parse).transpose()?,
            frequency: request
                .frequency_minutes
                .map(Frequency::parse)
                .transpose()?,
            activated: request.activated,
        })
    }
}

const COLUMNS: &str =
    "SELECT id, name, kind, url, frequency_minutes, activated, created_at, updated_at FROM checks";
const RETURNING: &str =
    "RETURNING id, name, kind, url, frequency_minutes, activated, created_at, updated_at";

/// One page of an account's checks by name, and the cursor to the next one: a walk down
/// `checks_by_account_name` from the last (name, id) seen, filtered by `search` (a `LIKE`
/// pattern for the lower-cased name or URL).
pub async fn page(
    pool: &Pool,
    account_id: &AccountId,
    only: Option<&[CheckId]>,
    search: Option<&str>,
    after: Option<&(String, CheckId)>,
    limit: usize,
) -> Result<(Vec<Check>, Option<String>), sqlx::Error> {
    let mut conditions = Conditions::default();
    let account = conditions.text(account_id.as_str());
    conditions.and(format!("account_id = {account}"));
    if let Some(only) = only {
        // A key restricted to some checks sees only those (none: an empty page).
        conditions.one_of("id", only.iter().map(CheckId::as_str));
    }
    if let Some(pattern) = search {
        let pattern = conditions.text(pattern);
        conditions.and(format!(
            "LOWER(name) LIKE {pattern} ESCAPE '\\' OR LOWER(url) LIKE {pattern} ESCAPE '\\'"
        ));
    }
    if let Some((name, id)) = after {
        let name = conditions.text(name.as_str());
        let id = conditions.text(id.as_str());
        conditions.and(format!("(name, id) > ({name}, {id})"));
    }
    let sql = format!(
        "{COLUMNS} WHERE {} ORDER BY name, id LIMIT {}",
        conditions.sql(),
        limit + 1
    );
    let rows: Vec<CheckRecord> = conditions
        .bind(sqlx::query_as(&sql))
        .fetch_all(pool)
        .await?;
    let (rows, next) = paging::split(rows, limit, |row| (row.name.clone(), row.id.clone()));
    Ok((rows.into_iter().map(CheckRecord::view).collect(), next))
}

/// The first of `check_ids` that is not a check of this account, if any.
pub async fn first_unknown(
    pool: &Pool,
    account_id: &AccountId,
    check_ids: &[CheckId],
) -> Result<Option<CheckId>, sqlx::Error> {
    if check_ids.is_empty() {
        return Ok(None);
    }
    let mut conditions = Conditions::default();
    let account = conditions.text(account_id.as_str());
    conditions.and(format!("account_id = {account}"));
    conditions.one_of("id", check_ids.iter().map(CheckId::as_str));
    let sql = format!("SELECT id FROM checks WHERE {}", conditions.sql());
    let found: Vec<(CheckId,)> = conditions
        .bind(sqlx::query_as(&sql))
        .fetch_all(pool)
        .await?;
    Ok(check_ids
        .iter()
        .find(|check_id| !found.iter().any(|(known,)| known == *check_id))
        .cloned())
}

pub async fn get(
    pool: &Pool,
    account_id: &AccountId,
    check_id: &CheckId,
) -> Result<Option<Check>, sqlx::Error> {
    let row: Option<CheckRecord> =
        sqlx::query_as(&format!("{COLUMNS} WHERE account_id = $1 AND id = $2"))
            .bind(account_id)
            .bind(check_id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(CheckRecord::view))
}

/// Stores a new check and returns it as stored.
pub async fn insert(
    pool: &Pool,
    account_id: &AccountId,
    id: &CheckId,
    fields: &CheckFields,
    now: Millis,
    event: Event,
) -> Result<Check, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let row: CheckRecord = sqlx::query_as(&format!(
        "INSERT INTO checks (id, account_id, name, kind, url, frequency_minutes, activated, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) {RETURNING}"
    ))
    .bind(id)
    .bind(account_id)
    .bind(fields.name.as_str())
    .bind(fields.kind)
    .bind(fields.url.as_str())
    .bind(i64::from(fields.frequency.minutes()))
    .bind(i64::from(fields.activated))
    .bind(now)
    .fetch_one(&mut *transaction)
    .await?;
    let event = event.target(Target::new(
        crate::domain::audit::TargetKind::Check,
        id,
        fields.name.as_str(),
    ));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(row.view())
}

/// Changes the given fields of a check of this account in one statement and returns it as
/// stored; `None` when there is no such check.
pub async fn update(
    pool: &Pool,
    account_id: &AccountId,
    id: &CheckId,
    changes: &CheckChanges,
    now: Millis,
    event: Event,
) -> Result<Option<Check>, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let row: Option<CheckRecord> = sqlx::query_as(&format!(
        "UPDATE checks SET name = COALESCE($1, name), kind = COALESCE($2, kind), \
                url = COALESCE($3, url), frequency_minutes = COALESCE($4, frequency_minutes), \
                activated = COALESCE($5, activated), updated_at = $6 \
         WHERE account_id = $7 AND id = $8 {RETURNING}"
    ))
    .bind(changes.name.as_ref().map(CheckName::as_str))
    .bind(changes.kind)
    .bind(changes.url.as_ref().map(CheckUrl::as_str))
    .bind(
        changes
            .frequency
            .map(|frequency| i64::from(frequency.minutes())),
    )
    .bind(changes.activated.map(i64::from))
    .bind(now)
    .bind(account_id)
    .bind(id)
    .fetch_optional(&mut *transaction)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let check = row.view();
    let event = event
        .target(Target::new(
            crate::domain::audit::TargetKind::Check,
            id,
            &check.name,
        ))
        .details(json!({"changed": changes.names()}));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(Some(check))
}

/// Deletes a check of this account; `false` when there is no such check.
pub async fn delete(
    pool: &Pool,
    account_id: &AccountId,
    id: &CheckId,
    event: Event,
) -> Result<bool, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let deleted: Option<(String,)> =
        sqlx::query_as("DELETE FROM checks WHERE account_id = $1 AND id = $2 RETURNING name")
            .bind(account_id)
            .bind(id)
            .fetch_optional(&mut *transaction)
            .await?;
    let Some((name,)) = deleted else {
        return Ok(false);
    };
    let event = event.target(Target::new(
        crate::domain::audit::TargetKind::Check,
        id,
        &name,
    ));
    crate::server::stores::audit::append(&mut transaction, &event).await?;
    transaction.commit().await?;
    Ok(true)
}
