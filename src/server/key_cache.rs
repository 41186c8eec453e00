//! The keys this instance has verified, kept in memory so that a key check needs no database
//! round trip — and the rule that makes that safe: a change to how a key checks out applies to
//! the very next request on *every* instance, as it did when every check read the database.
//!
//! - Every such change (a revocation, a rotation, a key's guards, a member's role or removal,
//!   the key policy: see [`changes_key_checks`]) moves a counter in the database, in the
//!   transaction that makes the change (`stores::audit::append`, by the event's action).
//! - Each instance reads that counter four times per *window* (`KEYWARD_KEY_CACHE_MS`, 500 ms
//!   by default). A reading sent at `t` lets it trust its cache until `t + window`; when the
//!   counter has moved, the cache is forgotten.
//! - The request that made the change waits one window and a margin after its commit before
//!   it answers (the API boundary sleeps [`KeyCache::settling_time`]). By then every instance
//!   has either read the moved counter or stopped trusting its cache: a reading that missed the
//!   change was sent before the commit, so the trust it gave ran out before the wait did. No
//!   instance needs to know how many others there are, and nothing but the database is shared.
//! - A row is kept under the counter read *before* the row was, so a row read before a change
//!   can never pass for one read after it.
//! - Only keys that exist are kept: an unknown secret always goes to the database, so a new key
//!   works at once and guessing fills nothing.
//! - An entry is read again after a minute, which bounds how long a change made with SQL behind
//!   keyward's back goes unseen.
//!
//! Every instance must run with the same window; `0` turns the cache (and the wait) off.

use super::{db::Pool, stores, stores::keys::KeyForVerification};
use crate::domain::audit::AuditAction;
use std::{
    cell::Cell,
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

pub const KEY_CACHE_VAR: &str = "KEYWARD_KEY_CACHE_MS";
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(500);
/// What a writer waits beyond the window: the time between the commit and the start of its
/// wait is already on its side, this covers clocks that run at slightly different rates.
const MARGIN: Duration = Duration::from_millis(50);
/// How long a kept row may serve, whatever the counter says.
const MAX_AGE: Duration = Duration::from_secs(60);
/// Rows kept at most (a few hundred bytes each); beyond it the least used are dropped.
const CAPACITY: usize = 100_000;

/// Whether an event's change can alter how a key checks out. Every action has an answer here:
/// a new action does not compile until someone has decided.
pub fn changes_key_checks(action: AuditAction) -> bool {
    use AuditAction::*;
    match action {
        // What a key check reads: the key's revocation, expiry, guards and name, its owner's
        // role in the membership it was made in, the account's key policy.
        KeyRevoked | KeyRotated | KeyUpdated | KeyLeakReported | MemberRoleChanged
        | MemberRemoved | MemberLeft | PolicyChanged => true,
        // New rows (a key that is not cached yet, a membership no existing key is bound to)
        // and changes to nothing a key check reads.
        AccountCreated | MemberInvited | InviteWithdrawn | MemberJoined | KeyCreated
        | KeyRejected | LegacyKeysImported | SessionSignedIn | SessionSignInFailed
        | SessionSignedOut | PasswordChanged | CheckCreated | CheckUpdated | CheckDeleted => false,
    }
}

pub struct KeyCache {
    /// `None`: off, every check reads the database.
    window: Option<Duration>,
    entries: quick_cache::sync::Cache<String, Entry>,
    started: Instant,
    /// The counter as last read.
    epoch: AtomicU64,
    /// Until when (microseconds after `started`) that reading may be trusted; 0 before the
    /// first one. Stored after `epoch`, and read before it.
    trusted_until: AtomicU64,
}

#[derive(Clone)]
struct Entry {
    epoch: u64,
    filled: Instant,
    key: Arc<KeyForVerification>,
}

impl KeyCache {
    pub fn new(window: Option<Duration>) -> Self {
        let window = window.filter(|window| !window.is_zero());
        KeyCache {
            window,
            entries: quick_cache::sync::Cache::new(if window.is_some() { CAPACITY } else { 1 }),
            started: Instant::now(),
            epoch: AtomicU64::new(0),
            trusted_until: AtomicU64::new(0),
        }
    }

    /// The key whose secret has this keyed hash: kept, when that may be trusted now, else read
    /// from the database (and kept).
    pub async fn find(
        &self,
        pool: &Pool,
        secret_hash: String,
    ) -> Result<Option<Arc<KeyForVerification>>, sqlx::Error> {
        if let Some(key) = self.get(&secret_hash, Instant::now()) {
            return Ok(Some(key));
        }
        let epoch_before_read = self.epoch.load(Ordering::Acquire);
        let Some(key) = stores::keys::find_for_verification(pool, &secret_hash).await? else {
            return Ok(None);
        };
        let key = Arc::new(key);
        if self.window.is_some() {
            self.keep(epoch_before_read, secret_hash, key.clone(), Instant::now());
        }
        Ok(Some(key))
    }

    /// Whether a check of the key with this hash would be answered from memory now.
    pub fn serves(&self, secret_hash: &str) -> bool {
        self.get(secret_hash, Instant::now()).is_some()
    }

    fn get(&self, secret_hash: &str, now: Instant) -> Option<Arc<KeyForVerification>> {
        self.window?;
        if self.micros(now) >= self.trusted_until.load(Ordering::Acquire) {
            return None;
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let entry = self.entries.get(secret_hash)?;
        let fresh = entry.epoch == epoch && now.saturating_duration_since(entry.filled) < MAX_AGE;
        fresh.then_some(entry.key)
    }

    fn keep(&self, epoch: u64, secret_hash: String, key: Arc<KeyForVerification>, now: Instant) {
        let entry = Entry {
            epoch,
            filled: now,
            key,
        };
        self.entries.insert(secret_hash, entry);
    }

    /// Takes a reading of the counter that was sent at `sent`.
    fn record_reading(&self, sent: Instant, epoch: u64) {
        let Some(window) = self.window else {
            return;
        };
        if self.epoch.swap(epoch, Ordering::AcqRel) != epoch {
            // The tags already exclude the old rows; this gives their memory back.
            self.entries.clear();
        }
        self.trusted_until
            .store(self.micros(sent + window), Ordering::Release);
    }

    fn micros(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.started).as_micros()).unwrap_or(u64::MAX)
    }

    /// Reads the counter four times a window, for as long as the server runs. A reading that
    /// fails or comes late gives no trust: checks then read the database until one succeeds.
    pub async fn keep_reading(&self, pool: &Pool) {
        let Some(window) = self.window else {
            return;
        };
        let mut ticks = tokio::time::interval(window / 4);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            ticks.tick().await;
            let sent = Instant::now();
            match stores::keys::check_epoch(pool).await {
                Ok(epoch) => {
                    self.record_reading(sent, epoch);
                    if std::mem::take(&mut failing) {
                        tracing::info!("reading the key-check counter again; keys are cached");
                    }
                }
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(%error, "could not read the key-check counter; every key check reads the database until it can");
                }
                Err(_) => {}
            }
        }
    }

    /// How long a request that changed how keys check out waits after its commit, so that no
    /// instance still trusts what it kept from before.
    pub fn settling_time(&self) -> Duration {
        self.window.map_or(Duration::ZERO, |window| window + MARGIN)
    }
}

tokio::task_local! {
    /// Whether the request running in this task has changed how a key checks out.
    static CHANGED: Cell<bool>;
}

/// Marks the current request as one that changed how a key checks out (its transaction moved
/// the counter), so that it waits before answering. Outside a request (the command line) there
/// is nothing to mark: other instances see the change within a window.
pub fn note_change() {
    if CHANGED.try_with(|changed| changed.set(true)).is_err() {
        tracing::debug!("a key-check change outside a request");
    }
}

/// Runs a request, saying whether it changed how a key checks out.
pub async fn noting_changes<F: Future>(request: F) -> (F::Output, bool) {
    CHANGED
        .scope(Cell::new(false), async {
            let output = request.await;
            (output, CHANGED.with(Cell::get))
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        ids::{AccountId, KeyId},
        views::KeyKind,
    };
    use crate::server::clock::Millis;

    fn a_key() -> Arc<KeyForVerification> {
        Arc::new(KeyForVerification {
            id: KeyId::generate(),
            account_id: AccountId::generate(),
            account_name: "Acme".to_string(),
            name: "ci".to_string(),
            user_id: None,
            email: None,
            kind: KeyKind::LegacyAccount,
            role_cap: None,
            owner_role: None,
            membership_id: None,
            expires_at: None,
            revoked_at: None,
            created_at: Millis::from_i64(0),
            max_key_lifetime_days: None,
            allowed_cidrs: String::new(),
            rate_limit_per_minute: None,
        })
    }

    const WINDOW: Duration = Duration::from_millis(500);

    #[test]
    fn a_kept_key_serves_only_while_a_reading_of_the_same_counter_is_trusted() {
        let cache = KeyCache::new(Some(WINDOW));
        let start = cache.started;
        cache.keep(0, "h".to_string(), a_key(), start);
        // No reading yet: nothing is trusted.
        assert!(cache.get("h", start).is_none());
        cache.record_reading(start, 0);
        assert!(cache.get("h", start + WINDOW / 2).is_some());
        // The trust a reading gives runs out one window after it was sent.
        assert!(cache.get("h", start + WINDOW).is_none());
        cache.record_reading(start + WINDOW, 0);
        assert!(cache.get("h", start + WINDOW + WINDOW / 2).is_some());
        assert!(cache.get("other", start + WINDOW / 2).is_none());
    }

    #[test]
    fn a_moved_counter_forgets_every_kept_key() {
        let cache = KeyCache::new(Some(WINDOW));
        let start = cache.started;
        cache.record_reading(start, 7);
        cache.keep(7, "h".to_string(), a_key(), start);
        cache.record_reading(start + WINDOW / 4, 8);
        assert!(cache.get("h", start + WINDOW / 2).is_none());
    }

    #[test]
    fn a_row_read_before_a_change_is_not_kept_under_the_counter_after_it() {
        // A check samples the counter (7), reads the row; the change commits and a reading
        // brings 8; the check then keeps its row, tagged with the 7 it sampled first.
        let cache = KeyCache::new(Some(WINDOW));
        let start = cache.started;
        cache.record_reading(start, 7);
        let sampled = cache.epoch.load(Ordering::Acquire);
        cache.record_reading(start + WINDOW / 4, 8);
        cache.keep(sampled, "h".to_string(), a_key(), start + WINDOW / 4);
        assert!(cache.get("h", start + WINDOW / 2).is_none());
    }

    #[test]
    fn a_kept_key_is_read_again_after_a_minute_whatever_the_counter_says() {
        let cache = KeyCache::new(Some(WINDOW));
        let start = cache.started;
        cache.keep(7, "h".to_string(), a_key(), start);
        let later = start + MAX_AGE;
        cache.record_reading(later, 7);
        assert!(cache.get("h", later).is_none());
    }

    #[test]
    fn off_keeps_nothing_and_waits_for_nothing() {
        for window in [None, Some(Duration::ZERO)] {
            let cache = KeyCache::new(window);
            let start = cache.started;
            cache.record_reading(start, 7);
            cache.keep(7, "h".to_string(), a_key(), start);
            assert!(cache.get("h", start).is_none());
            assert_eq!(cache.settling_time(), Duration::ZERO);
        }
        assert_eq!(KeyCache::new(Some(WINDOW)).settling_time(), WINDOW + MARGIN);
    }

    #[test]
    fn exactly_the_changes_a_key_check_reads_move_the_counter() {
        let moving: Vec<_> = AuditAction::ALL
            .iter()
            .filter(|action| changes_key_checks(**action))
            .map(|action| action.as_str())
            .collect();
        assert_eq!(
            moving,
            [
                "member.role_changed",
                "member.removed",
                "member.left",
                "key.revoked",
                "key.rotated",
                "key.updated",
                "key.leak_reported",
                "policy.changed"
            ]
        );
    }

    #[tokio::test]
    async fn a_request_that_notes_a_change_is_told_and_others_are_not() {
        let (_, changed) = noting_changes(async { note_change() }).await;
        assert!(changed);
        let (_, changed) = noting_changes(async {}).await;
        assert!(!changed);
        // Outside a request, noting is harmless.
        note_change();
    }
}
