//! Browser sessions: `tower-sessions` with its sqlx stores. The store crate has one store per
//! engine, so [`SessionBackend`] picks the one that matches the configured database.

use super::db::EnginePool;
use async_trait::async_trait;
use tower_sessions::{
    cookie::SameSite,
    session::{Id, Record},
    session_store, Expiry, SessionManagerLayer, SessionStore,
};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

/// The session key under which the signed-in user and current account are kept.
pub const SESSION_USER: &str = "keyward.user";

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SessionUser {
    pub user_id: String,
    pub account_id: String,
}

#[derive(Clone, Debug)]
pub enum SessionBackend {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl SessionBackend {
    pub async fn new(engine_pool: &EnginePool) -> anyhow::Result<Self> {
        Ok(match engine_pool {
            EnginePool::Sqlite(pool) => {
                let store = SqliteStore::new(pool.clone());
                store.migrate().await?;
                SessionBackend::Sqlite(store)
            }
            EnginePool::Postgres(pool) => {
                let store = PostgresStore::new(pool.clone());
                store.migrate().await?;
                SessionBackend::Postgres(store)
            }
        })
    }

    pub fn layer(self, secure: bool) -> SessionManagerLayer<SessionBackend> {
        SessionManagerLayer::new(self)
            .with_name("keyward_session")
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_secure(secure)
            .with_expiry(Expiry::OnInactivity(
                tower_sessions::cookie::time::Duration::days(14),
            ))
    }

    /// Deletes expired sessions; run periodically.
    pub async fn delete_expired(&self) -> session_store::Result<()> {
        use tower_sessions::ExpiredDeletion;
        match self {
            SessionBackend::Sqlite(store) => store.delete_expired().await,
            SessionBackend::Postgres(store) => store.delete_expired().await,
        }
    }
}

#[async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            SessionBackend::Sqlite(store) => store.create(record).await,
            SessionBackend::Postgres(store) => store.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            SessionBackend::Sqlite(store) => store.save(record).await,
            SessionBackend::Postgres(store) => store.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            SessionBackend::Sqlite(store) => store.load(id).await,
            SessionBackend::Postgres(store) => store.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            SessionBackend::Sqlite(store) => store.delete(id).await,
            SessionBackend::Postgres(store) => store.delete(id).await,
        }
    }
}
