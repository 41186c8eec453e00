//! The database: one `sqlx::Any` pool that speaks SQLite (default) or PostgreSQL, and one
//! migration history that runs on both. Queries use `$1` placeholders, text ids and integer
//! millisecond times, which both engines accept through `Any`.

use crate::server::config::Config;
use anyhow::{Context, Result};
use sqlx::{
    any::AnyPoolOptions,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions},
    AnyPool, PgPool, SqlitePool,
};
use std::{str::FromStr, time::Duration};

pub type Pool = AnyPool;

/// The engine-specific pool the session store needs (its crate has one store per engine).
#[derive(Clone, Debug)]
pub enum EnginePool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

pub struct Database {
    pub pool: Pool,
    pub engine_pool: EnginePool,
}

pub async fn connect(config: &Config) -> Result<Database> {
    sqlx::any::install_default_drivers();
    let url = &config.database_url;
    let engine_pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        EnginePool::Postgres(
            PgPoolOptions::new()
                .max_connections(2)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await
                .context("connecting to PostgreSQL")?,
        )
    } else if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("creating the data directory {}", config.data_dir.display())
        })?;
        // WAL lets readers and the writer work at once; the setting is stored in the file, so
        // the `Any` pool below inherits it. Foreign keys are on by default in sqlx.
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        EnginePool::Sqlite(
            SqlitePoolOptions::new()
                .max_connections(2)
                .connect_with(options)
                .await
                .context("opening the SQLite database")?,
        )
    } else {
        anyhow::bail!("DATABASE_URL must start with sqlite:// or postgres://");
    };
    let is_sqlite = matches!(engine_pool, EnginePool::Sqlite(_));
    let pool = AnyPoolOptions::new()
        .max_connections(if is_sqlite { 8 } else { 16 })
        .acquire_timeout(Duration::from_secs(5))
        // sqlx pings a pooled connection before lending it, to find one the network or a
        // restarted PostgreSQL has cut. A SQLite connection is a file in this process and
        // cannot be cut that way, and each ping is one more trip to its thread and back on
        // every query, the key check's included.
        .test_before_acquire(!is_sqlite)
        .after_connect(|connection, _meta| {
            Box::pin(async move {
                // Each SQLite connection needs these; PostgreSQL has no such pragmas.
                if connection.backend_name() == "SQLite" {
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *connection)
                        .await?;
                    sqlx::query("PRAGMA busy_timeout = 5000")
                        .execute(&mut *connection)
                        .await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
        .context("connecting the query pool")?;
    sqlx::migrate!("./migrations")
        .run(&pool)
        .await
        .context("running the migrations")?;
    Ok(Database { pool, engine_pool })
}

/// Whether the database answers, for `/healthz`.
pub async fn is_healthy(pool: &Pool) -> bool {
    let probe = sqlx::query("SELECT 1").execute(pool);
    matches!(
        tokio::time::timeout(Duration::from_secs(2), probe).await,
        Ok(Ok(_))
    )
}

/// Stores an enum as its stable text spelling (`as_str` / `parse`): the one conversion between
/// the database and the type. A value the type does not know is a decoding error, never a
/// silent default (the columns' CHECK constraints make one impossible anyway).
macro_rules! stored_as_text {
    ($($type:ty),*) => {$(
        impl sqlx::Type<sqlx::Any> for $type {
            fn type_info() -> sqlx::any::AnyTypeInfo {
                <String as sqlx::Type<sqlx::Any>>::type_info()
            }

            fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
                <String as sqlx::Type<sqlx::Any>>::compatible(ty)
            }
        }

        impl<'q> sqlx::Encode<'q, sqlx::Any> for $type {
            fn encode_by_ref(
                &self,
                buf: &mut <sqlx::Any as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'q, sqlx::Any>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Any> for $type {
            fn decode(
                value: <sqlx::Any as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<'r, sqlx::Any>>::decode(value)?;
                <$type>::parse(text).ok_or_else(|| {
                    format!("{text:?} is not a stored {}", stringify!($type)).into()
                })
            }
        }
    )*};
}

stored_as_text!(
    crate::domain::Role,
    crate::domain::views::KeyKind,
    crate::domain::views::CheckKind
);

/// Whether a database error is the violation of a unique constraint (a duplicate email, say).
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}
