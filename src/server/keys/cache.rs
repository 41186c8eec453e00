//! The keys this instance has verified, kept in memory so that a key check needs no database
//! round trip — and the rule that makes that safe: a change to how a key checks out applies to
//! the very next request on *every* instance, as it did when every check read the database.
//!
//! - Every such change (a revocation, a rotation, a key's guards, a member's role or removal,
//!   the key policy: see [`changes_key_checks`]; a rename is not one) moves a deployment-wide
//!   counter in the database and records the account it changed, in the transaction that makes
//!   the change (`stores::audit::append`, by the event).
//! - The instance that made the change forgets that account's kept keys itself, after the
//!   commit and before it answers ([`KeyCache::forget_accounts`], called by the API boundary).
//! - Each instance reads the counter four times per *window* (`KEYWARD_KEY_CACHE_MS`, 500 ms
//!   by default). A reading sent at `t` lets it trust its cache until `t + window`; when the
//!   counter has moved, it reads which accounts changed since its last reading and forgets
//!   their keys (only theirs: a change in one account leaves every other account's keys kept).
//! - Where other instances can exist (PostgreSQL), the request that made the change answers once
//!   every other live instance has acknowledged that it forgot (see `peers`), and at the latest
//!   one window and a margin after its commit ([`KeyCache::settling_time`]). By then every
//!   instance has either read the moved counter or stopped trusting its cache: a reading that
//!   missed the change was sent before the commit, so the trust it gave ran out before the wait
//!   did. On SQLite one process serves the database, so its own forgetting is all there is.
//! - A row read while the cache forgot something (a *generation* ago) is not kept, so a row
//!   read before a change can never pass for one read after it.
//! - Only keys that exist are kept: an unknown secret always goes to the database, so a new key
//!   works at once and guessing fills nothing.
//! - An entry is read again after a minute, which bounds how long a change made with SQL behind
//!   keyward's back (or a rename, on the other instances) goes unseen.
//!
//! Every instance must run with the same window; `0` turns the cache (and the wait) off.

use crate::domain::ids::AccountId;
use crate::server::db::Pool;
use crate::server::keys::changes::Changes;
use crate::server::keys::peers::{Announced, Peers};
use crate::server::stores;
use crate::server::stores::keys::verification::KeyForVerification;
use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

/// What a writer waits beyond the window: the time between the commit and the start of its
/// wait is already on its side, this covers clocks that run at slightly different rates.
const MARGIN: Duration = Duration::from_millis(50);
/// How long a kept row may serve, whatever the counter says.
const MAX_AGE: Duration = Duration::from_secs(60);
/// Rows kept at most (a few hundred bytes each); beyond it the least used are dropped.
const CAPACITY: usize = 100_000;

pub struct KeyCache {
    /// `None`: off, every check reads the database.
    window: Option<Duration>,
    /// Whether other instances may share the database (PostgreSQL): then a writer waits.
    other_instances_possible: bool,
    entries: quick_cache::sync::Cache<String, Entry>,
    started: Instant,
    /// The counter as last read.
    epoch: AtomicU64,
    /// Moves each time kept keys are forgotten; a row read across a move is not kept.
    generation: AtomicU64,
    /// Until when (microseconds after `started`) that reading may be trusted; 0 before the
    /// first one.
    trusted_until: AtomicU64,
}

#[derive(Clone)]
struct Entry {
    filled: Instant,
    key: Arc<KeyForVerification>,
}

impl KeyCache {
    pub fn new(window: Option<Duration>, other_instances_possible: bool) -> Self {
        let window = window.filter(|window| !window.is_zero());
        KeyCache {
            window,
            other_instances_possible,
            entries: quick_cache::sync::Cache::new(if window.is_some() { CAPACITY } else { 1 }),
            started: Instant::now(),
            epoch: AtomicU64::new(0),
            generation: AtomicU64::new(0),
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
        let generation_before_read = self.generation.load(Ordering::SeqCst);
        let Some(key) =
            stores::keys::verification::find_for_verification(pool, &secret_hash).await?
        else {
            return Ok(None);
        };
        let key = Arc::new(key);
        if self.window.is_some() {
            self.keep(
                generation_before_read,
                secret_hash,
                key.clone(),
                Instant::now(),
            );
        }
        Ok(Some(key))
    }

    /// Whether the key with this hash is kept, trusted now or not: what was forgotten is not.
    /// (Whether it would serve also depends on the latest reading being fresh, which a loaded
    /// machine can delay.)
    pub fn keeps(&self, secret_hash: &str) -> bool {
        self.entries.get(secret_hash).is_some()
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
        let entry = self.entries.get(secret_hash)?;
        (now.saturating_duration_since(entry.filled) < MAX_AGE).then_some(entry.key)
    }

    /// Keeps a row read after `generation` was sampled — unless something was forgotten since,
    /// checked before and after the insert: a forgetting that ran in between either comes
    /// after the insert (and removes it) or is seen by the second check.
    fn keep(
        &self,
        generation: u64,
        secret_hash: String,
        key: Arc<KeyForVerification>,
        now: Instant,
    ) {
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        let entry = Entry { filled: now, key };
        self.entries.insert(secret_hash.clone(), entry);
        if self.generation.load(Ordering::SeqCst) != generation {
            self.entries.remove(&secret_hash);
        }
    }

    /// Forgets the kept keys of these accounts: after this instance changed them (before it
    /// answers), or when a reading says another instance did.
    pub fn forget_accounts(&self, accounts: &HashSet<AccountId>) {
        if self.window.is_none() || accounts.is_empty() {
            return;
        }
        // First the generation, then the entries: see `keep`.
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries
            .retain(|_, entry| !accounts.contains(&entry.key.account_id));
    }

    /// Takes a reading of the counter that was sent at `sent`, with the accounts changed since
    /// the last one.
    fn record_reading(&self, sent: Instant, epoch: u64, changed: &HashSet<AccountId>) {
        if self.window.is_none() {
            return;
        }
        self.forget_accounts(changed);
        self.epoch.store(epoch, Ordering::SeqCst);
        self.trusted_until.store(
            self.micros(sent + self.window.unwrap_or_default()),
            Ordering::Release,
        );
    }

    fn micros(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.started).as_micros()).unwrap_or(u64::MAX)
    }

    /// Reads the counter four times a window, for as long as the server runs — and, where other
    /// instances may share the database, writes this instance's heartbeat first in each tick
    /// (see `peers`). A tick that fails or comes late gives no trust: checks then read the
    /// database until one succeeds.
    pub async fn keep_reading(&self, pool: &Pool, peers: Option<&Peers>) {
        let Some(window) = self.window else {
            return;
        };
        let mut ticks = tokio::time::interval(window / 4);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            ticks.tick().await;
            let sent = Instant::now();
            let heartbeat = match peers {
                Some(peers) => peers.heartbeat(pool).await,
                None => Ok(()),
            };
            let reading = match heartbeat {
                Ok(()) => self.read_changes(pool).await,
                Err(error) => Err(error),
            };
            match reading {
                Ok((epoch, changed)) => {
                    self.record_reading(sent, epoch, &changed);
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

    /// Makes a request that changed these key checks answer only once no other instance can
    /// still trust what it kept from before: at once on SQLite and when no other instance is
    /// live, as soon as every live one has acknowledged, and after the settling time otherwise.
    pub async fn settle(&self, pool: &Pool, peers: Option<&Peers>, changes: &Changes) {
        let wait = self.settling_time();
        if wait.is_zero() {
            return;
        }
        let Some(peers) = peers else {
            tokio::time::sleep(wait).await;
            return;
        };
        match peers.announce(pool, &changes.accounts, wait).await {
            Ok(Announced::Alone) => {}
            Ok(Announced::Waiting { change, heard }) => {
                if tokio::time::timeout(wait, heard).await.is_err() {
                    peers.stop_waiting(change);
                    tracing::debug!("a live instance did not acknowledge a key change in time");
                }
            }
            Err(error) => {
                tracing::warn!(%error, "could not announce a key change; waiting a cache window instead");
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// The counter, and when it has moved since the last reading, the accounts changed since:
    /// every account whose last change is after that reading (a change counted in the counter
    /// has committed, since each takes the counter's row lock until its commit).
    async fn read_changes(&self, pool: &Pool) -> Result<(u64, HashSet<AccountId>), sqlx::Error> {
        let epoch = stores::key_checks::check_epoch(pool).await?;
        if self.trusted_until.load(Ordering::Acquire) == 0 {
            // The first reading: whatever was kept before it (trusted by nothing yet) goes,
            // rather than asking for every account that ever changed.
            self.generation.fetch_add(1, Ordering::SeqCst);
            self.entries.clear();
            return Ok((epoch, HashSet::new()));
        }
        let last = self.epoch.load(Ordering::SeqCst);
        if epoch == last {
            return Ok((epoch, HashSet::new()));
        }
        let changed = stores::key_checks::accounts_changed_after(pool, last).await?;
        Ok((epoch, changed.into_iter().collect()))
    }

    /// How long a request that changed how keys check out waits after its commit, so that no
    /// other instance still trusts what it kept from before; nothing where there are none.
    pub fn settling_time(&self) -> Duration {
        match self.window {
            Some(window) if self.other_instances_possible => window + MARGIN,
            _ => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::Millis;
    use crate::domain::{ids::KeyId, views::KeyKind};

    fn a_key_of(account_id: &AccountId) -> Arc<KeyForVerification> {
        Arc::new(KeyForVerification {
            id: KeyId::generate(),
            account_id: account_id.clone(),
            account_name: "Acme".to_string(),
            name: "ci".to_string(),
            user_id: None,
            email: None,
            kind: KeyKind::LegacyAccount,
            service_account_id: None,
            service_account_name: None,
            role_cap: None,
            owner_role: None,
            owner_suspended: 0,
            membership_id: None,
            expires_at: None,
            revoked_at: None,
            created_at: Millis::from_i64(0),
            max_key_lifetime_days: None,
            own_permission_roles: String::new(),
            allowed_cidrs: String::new(),
            rate_limit_per_minute: None,
            permissions: None,
            check_ids: None,
            created_by_key_id: None,
            bound_to_key_id: None,
            ancestors: Vec::new(),
            line_grant: crate::domain::Grant::default(),
            own_permissions: Arc::from([]),
        })
    }

    fn a_key() -> Arc<KeyForVerification> {
        a_key_of(&AccountId::generate())
    }

    fn accounts(ids: &[&AccountId]) -> HashSet<AccountId> {
        ids.iter().map(|id| (*id).clone()).collect()
    }

    const WINDOW: Duration = Duration::from_millis(500);

    #[test]
    fn a_kept_key_serves_only_while_a_reading_is_trusted() {
        let cache = KeyCache::new(Some(WINDOW), true);
        let start = cache.started;
        cache.keep(0, "h".to_string(), a_key(), start);
        // No reading yet: nothing is trusted.
        assert!(cache.get("h", start).is_none());
        cache.record_reading(start, 0, &HashSet::new());
        assert!(cache.get("h", start + WINDOW / 2).is_some());
        // The trust a reading gives runs out one window after it was sent.
        assert!(cache.get("h", start + WINDOW).is_none());
        cache.record_reading(start + WINDOW, 0, &HashSet::new());
        assert!(cache.get("h", start + WINDOW + WINDOW / 2).is_some());
        assert!(cache.get("other", start + WINDOW / 2).is_none());
    }

    #[test]
    fn a_change_forgets_the_keys_of_its_account_and_no_other() {
        let cache = KeyCache::new(Some(WINDOW), true);
        let start = cache.started;
        let (changed, untouched) = (AccountId::generate(), AccountId::generate());
        cache.record_reading(start, 7, &HashSet::new());
        cache.keep(0, "changed".to_string(), a_key_of(&changed), start);
        cache.keep(0, "untouched".to_string(), a_key_of(&untouched), start);
        cache.record_reading(start + WINDOW / 4, 8, &accounts(&[&changed]));
        assert!(cache.get("changed", start + WINDOW / 2).is_none());
        assert!(cache.get("untouched", start + WINDOW / 2).is_some());
        // The instance that made a change forgets it itself, without a reading.
        cache.forget_accounts(&accounts(&[&untouched]));
        assert!(cache.get("untouched", start + WINDOW / 2).is_none());
    }

    #[test]
    fn a_row_read_before_a_forgetting_is_not_kept_after_it() {
        // A check samples the generation, reads the row; the change commits and its instance
        // forgets the account; the check then keeps its row, sampled before: it is dropped.
        let cache = KeyCache::new(Some(WINDOW), false);
        let start = cache.started;
        let account = AccountId::generate();
        cache.record_reading(start, 7, &HashSet::new());
        let sampled = cache.generation.load(Ordering::SeqCst);
        cache.forget_accounts(&accounts(&[&account]));
        cache.keep(sampled, "h".to_string(), a_key_of(&account), start);
        assert!(cache.get("h", start + WINDOW / 2).is_none());
        // Sampled after the forgetting: kept.
        let sampled = cache.generation.load(Ordering::SeqCst);
        cache.keep(sampled, "h".to_string(), a_key_of(&account), start);
        assert!(cache.get("h", start + WINDOW / 2).is_some());
    }

    #[test]
    fn a_kept_key_is_read_again_after_a_minute_whatever_the_counter_says() {
        let cache = KeyCache::new(Some(WINDOW), true);
        let start = cache.started;
        cache.keep(0, "h".to_string(), a_key(), start);
        let later = start + MAX_AGE;
        cache.record_reading(later, 7, &HashSet::new());
        assert!(cache.get("h", later).is_none());
    }

    #[test]
    fn off_keeps_nothing_and_only_shared_databases_wait() {
        for window in [None, Some(Duration::ZERO)] {
            let cache = KeyCache::new(window, true);
            let start = cache.started;
            cache.record_reading(start, 7, &HashSet::new());
            cache.keep(0, "h".to_string(), a_key(), start);
            assert!(cache.get("h", start).is_none());
            assert_eq!(cache.settling_time(), Duration::ZERO);
        }
        assert_eq!(
            KeyCache::new(Some(WINDOW), true).settling_time(),
            WINDOW + MARGIN
        );
        // One process serves a SQLite database: its own forgetting is all there is.
        assert_eq!(
            KeyCache::new(Some(WINDOW), false).settling_time(),
            Duration::ZERO
        );
    }
}
