//! Browser sessions: `tower-sessions` with its sqlx stores. The store crate has one store per
//! engine, so [`SessionBackend`] picks the one that matches the configured database, and
//! [`HashedSessionStore`] keeps only a keyed hash of each session id in it.

use crate::domain::time::Millis;
use crate::domain::{
    ids::{AccountId, UserId},
    ApiError,
};
use crate::server::db::EnginePool;
use crate::server::keys::secret::KeyHasher;
use async_trait::async_trait;
use std::time::Duration;
use tower_sessions::{
    cookie::SameSite,
    session::{Id, Record},
    session_store, Expiry, SessionManagerLayer, SessionStore,
};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

/// The session key under which the signed-in user and current account are kept.
pub const SESSION_USER: &str = "keyward.user";

/// A session ends after this long without use…
const IDLE_LIFETIME_DAYS: i64 = 14;
/// …and after this long in any case, however busy: a stolen cookie cannot be kept alive forever.
pub const ABSOLUTE_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SessionUser {
    pub user_id: UserId,
    pub account_id: AccountId,
    /// When the person signed in. Sessions from before this field existed read as the epoch,
    /// i.e. over: their people sign in once more.
    #[serde(default)]
    pub signed_in_at: Millis,
    /// When the person last proved who they are in this session (a password, a code): sensitive
    /// actions ask for a proof this recent (`signin::step_up`). Older sessions read the epoch.
    #[serde(default)]
    pub proved_at: Millis,
    /// The person signed in through the identity provider (single sign-on): only such a session
    /// acts in an account that requires it.
    #[serde(default)]
    pub via_sso: bool,
}

impl SessionUser {
    /// Whether the session still stands: younger than the absolute lifetime and started after
    /// the person's sessions were last ended (a password change).
    pub fn is_current(&self, now: Millis, sessions_valid_after: Millis) -> bool {
        self.signed_in_at >= sessions_valid_after
            && now.since(self.signed_in_at) < ABSOLUTE_LIFETIME
    }
}

/// Signs the browser in. The session id is renewed so that an id planted before sign-in
/// (session fixation) is worthless afterwards. A request that carries a bearer key never gets
/// a session, whatever it proved: a key must not become a browser login. `via_sso`: the person
/// came through the identity provider.
pub async fn start(
    user_id: &UserId,
    account_id: &AccountId,
    now: Millis,
    via_sso: bool,
) -> Result<(), ApiError> {
    if crate::server::request::is_bearer_request() {
        return Ok(());
    }
    let session = crate::server::request::session().await?;
    start_in(&session, user_id, account_id, now, via_sso).await
}

/// [`start`] in a given session: for a route that is not a server function (the single
/// sign-on callback), which has the session but no bearer key to worry about.
pub async fn start_in(
    session: &tower_sessions::Session,
    user_id: &UserId,
    account_id: &AccountId,
    now: Millis,
    via_sso: bool,
) -> Result<(), ApiError> {
    session.cycle_id().await?;
    let user = SessionUser {
        user_id: user_id.clone(),
        account_id: account_id.clone(),
        signed_in_at: now,
        proved_at: now,
        via_sso,
    };
    session.remove_value(PENDING_SIGN_IN).await?;
    session.insert(SESSION_USER, user).await?;
    Ok(())
}

/// Signs in a person who has proved who they are (a password, a password and a second factor,
/// a passkey alone, or the identity provider: `via_sso`): the `session.signed_in` event in the
/// account they land in, saying how in `details`, then the session. The answer every sign-in
/// gives.
pub async fn sign_in(
    state: &crate::server::AppState,
    person: crate::domain::views::User,
    membership: crate::server::stores::accounts::Membership,
    details: Option<serde_json::Value>,
    via_sso: bool,
) -> Result<crate::domain::views::SignedIn, ApiError> {
    let origin = crate::server::audit::Origin::of_request(state);
    record_sign_in(state, &person, &membership, details, origin).await?;
    start(
        &person.id,
        &membership.account.id,
        crate::domain::time::now_millis(),
        via_sso,
    )
    .await?;
    Ok(crate::domain::views::SignedIn {
        user: person,
        account: membership.account,
        role: membership.role,
    })
}

/// The `session.signed_in` event of a sign-in, in the account it lands in.
pub async fn record_sign_in(
    state: &crate::server::AppState,
    person: &crate::domain::views::User,
    membership: &crate::server::stores::accounts::Membership,
    details: Option<serde_json::Value>,
    origin: crate::server::audit::Origin,
) -> Result<(), ApiError> {
    use crate::server::audit::{Actor, Event};
    let event = Event::new(
        &state.key_hasher,
        &membership.account.id,
        crate::domain::audit::AuditAction::SessionSignedIn,
        Actor::person(person),
        origin,
    );
    let event = match details {
        Some(details) => event.details(details),
        None => event,
    };
    crate::server::stores::audit::append_alone(&state.pool, &event).await?;
    Ok(())
}

/// The session key of a sign-in that proved the password and waits for the second factor.
pub const PENDING_SIGN_IN: &str = "keyward.pending_sign_in";

/// How long a proved password waits for its second factor.
pub const PENDING_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// A sign-in halfway: the password is proved, the second factor is not. Nothing reads it but
/// `auth/second-factor`: the caller of every other operation is resolved from
/// [`SESSION_USER`] only, which a pending sign-in does not set.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PendingSignIn {
    pub user_id: UserId,
    pub password_proved_at: Millis,
}

impl PendingSignIn {
    /// Whether it may still be completed: younger than [`PENDING_LIFETIME`] and proved after
    /// the person's sessions were last ended (a password change meanwhile voids it).
    pub fn is_current(&self, now: Millis, sessions_valid_after: Millis) -> bool {
        self.password_proved_at >= sessions_valid_after
            && now.since(self.password_proved_at) < PENDING_LIFETIME
    }
}

/// Keeps a proved password waiting for its second factor. The browser is signed out of any
/// earlier sign-in, and the id renewed, as for a full sign-in.
pub async fn start_pending(user_id: &UserId, now: Millis) -> Result<(), ApiError> {
    if crate::server::request::is_bearer_request() {
        return Ok(());
    }
    let session = crate::server::request::session().await?;
    session.cycle_id().await?;
    session.remove_value(SESSION_USER).await?;
    let pending = PendingSignIn {
        user_id: user_id.clone(),
        password_proved_at: now,
    };
    session.insert(PENDING_SIGN_IN, pending).await?;
    Ok(())
}

/// Whether this request's session came through the identity provider (single sign-on).
pub async fn came_through_sso() -> Result<bool, ApiError> {
    if crate::server::request::is_bearer_request() {
        return Ok(false);
    }
    let session = crate::server::request::session().await?;
    Ok(session
        .get::<SessionUser>(SESSION_USER)
        .await?
        .is_some_and(|signed_in| signed_in.via_sso))
}

/// Records a fresh proof in the signed-in session (a step-up).
pub async fn mark_proved(session: &tower_sessions::Session, now: Millis) -> Result<(), ApiError> {
    let signed_in: SessionUser = session
        .get(SESSION_USER)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    let proved = SessionUser {
        proved_at: now,
        ..signed_in
    };
    session.insert(SESSION_USER, proved).await?;
    Ok(())
}

/// Makes `account_id` the signed-in person's current account in this session (switching, or
/// moving on after being removed from the current one). The sign-in time stays as it was.
pub async fn move_to_account(
    session: &tower_sessions::Session,
    account_id: &AccountId,
) -> Result<(), ApiError> {
    let signed_in: SessionUser = session
        .get(SESSION_USER)
        .await?
        .ok_or_else(ApiError::unauthenticated)?;
    let moved = SessionUser {
        account_id: account_id.clone(),
        ..signed_in
    };
    session.insert(SESSION_USER, moved).await?;
    Ok(())
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

/// Stores each session under a keyed hash of its id, as keys and invite tokens are stored:
/// whoever reads the database (a backup, a replica) finds no cookie value that would sign them
/// in, and without the pepper cannot compute one.
#[derive(Clone)]
pub struct HashedSessionStore {
    inner: SessionBackend,
    hasher: KeyHasher,
}

impl std::fmt::Debug for HashedSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashedSessionStore")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl HashedSessionStore {
    pub fn new(inner: SessionBackend, hasher: KeyHasher) -> Self {
        HashedSessionStore { inner, hasher }
    }

    pub fn backend(&self) -> &SessionBackend {
        &self.inner
    }

    /// The id under which the session with cookie id `id` is stored.
    pub fn stored_id(&self, id: &Id) -> Id {
        let digest = self.hasher.hash_bytes(b"session", &id.0.to_le_bytes());
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        Id(i128::from_le_bytes(first))
    }

    fn stored(&self, record: &Record) -> Record {
        Record {
            id: self.stored_id(&record.id),
            ..record.clone()
        }
    }

    /// The session cookie: `Path=/`, no `Domain` (the layer's defaults), `HttpOnly`,
    /// `SameSite=Lax`, and `Secure` with the `__Host-` prefix over https.
    pub fn layer(self, secure: bool) -> SessionManagerLayer<HashedSessionStore> {
        SessionManagerLayer::new(self)
            .with_name(cookie_name(secure))
            .with_path("/")
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_secure(secure)
            .with_expiry(Expiry::OnInactivity(
                tower_sessions::cookie::time::Duration::days(IDLE_LIFETIME_DAYS),
            ))
    }
}

/// The session cookie's name. Over https it carries the `__Host-` prefix: browsers then accept
/// it only when `Secure`, for `Path=/` and without a `Domain`, so no other site under the same
/// parent domain (and no plain-http page) can plant or overwrite it.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-keyward_session"
    } else {
        "keyward_session"
    }
}

#[async_trait]
impl SessionStore for HashedSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A collision of 128-bit random ids is as good as impossible; pick another anyway.
        while self
            .inner
            .load(&self.stored_id(&record.id))
            .await?
            .is_some()
        {
            record.id = Id::default();
        }
        self.inner.save(&self.stored(record)).await
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.inner.save(&self.stored(record)).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let record = self.inner.load(&self.stored_id(id)).await?;
        Ok(record.map(|record| Record { id: *id, ..record }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.inner.delete(&self.stored_id(id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_after_their_absolute_lifetime_and_after_a_password_change() {
        let session = SessionUser {
            user_id: UserId::parse("user_id", "usr_a").unwrap(),
            account_id: AccountId::parse("account_id", "acc_a").unwrap(),
            signed_in_at: Millis::from_i64(1_000),
            proved_at: Millis::from_i64(1_000),
            via_sso: false,
        };
        let at = Millis::from_i64;
        let end = at(1_000).after(ABSOLUTE_LIFETIME);
        assert!(session.is_current(at(1_000), Millis::EPOCH));
        assert!(session.is_current(end.before(Duration::from_millis(1)), Millis::EPOCH));
        assert!(!session.is_current(end, Millis::EPOCH));
        assert!(
            session.is_current(at(2_000), at(1_000)),
            "the session that changed it"
        );
        assert!(
            !session.is_current(at(2_000), at(1_001)),
            "older sessions end"
        );
    }
}
