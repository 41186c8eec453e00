//! Repeated failures written once a minute with a count, so a flood cannot fill the trail.

use crate::domain::{audit::AuditAction, ids::AccountId};
use crate::server::audit::Event;
use crate::server::{stores, AppState};
use serde_json::json;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// Repeated failures — a revoked key a CI job keeps sending, a password being guessed — are
/// recorded at most once per minute per (account, action, target, reason), with a count, so a
/// flood cannot fill the table. The first one is written at once (that is how a leak shows
/// itself); later ones within the minute are counted and written when the minute is over, by
/// [`Repeats::flush`] on the background task.
#[derive(Clone, Default)]
pub struct Repeats {
    seen: Arc<Mutex<HashMap<RepeatKey, Repeat>>>,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct RepeatKey {
    account_id: AccountId,
    action: AuditAction,
    target_id: String,
    reason: String,
}

struct Repeat {
    last_written: Instant,
    /// Occurrences since the last write, and the newest of them (written as the summary).
    uncounted: u64,
    latest: Option<Event>,
}

pub const REPEAT_WINDOW: Duration = Duration::from_secs(60);

impl Repeats {
    /// Records a failure event (its `details` must carry `reason`), or counts it if one like it
    /// was written less than a minute ago.
    pub async fn record(&self, state: &AppState, event: Event) {
        let key = RepeatKey {
            account_id: event.account_id.clone(),
            action: event.action,
            target_id: event
                .target
                .as_ref()
                .map(|target| target.id.clone())
                .unwrap_or_default(),
            reason: event.details["reason"].as_str().unwrap_or("").to_string(),
        };
        let count = {
            let mut seen = self.seen.lock().expect("audit repeats lock poisoned");
            let now = Instant::now();
            match seen.get_mut(&key) {
                Some(repeat) if now.duration_since(repeat.last_written) < REPEAT_WINDOW => {
                    repeat.uncounted += 1;
                    repeat.latest = Some(event);
                    return;
                }
                Some(repeat) => {
                    let count = repeat.uncounted + 1;
                    repeat.uncounted = 0;
                    repeat.latest = None;
                    repeat.last_written = now;
                    count
                }
                None => {
                    seen.insert(
                        key,
                        Repeat {
                            last_written: now,
                            uncounted: 0,
                            latest: None,
                        },
                    );
                    1
                }
            }
        };
        write_counted(state, event, count).await;
    }

    /// How many repeats are counted but not written yet.
    pub fn uncounted(&self) -> u64 {
        let seen = self.seen.lock().expect("audit repeats lock poisoned");
        seen.values().map(|repeat| repeat.uncounted).sum()
    }

    /// Writes the counts of repeats whose minute is over, and forgets quiet entries. With
    /// `everything`, writes every count now (at shutdown, and in tests).
    pub async fn flush(&self, state: &AppState, everything: bool) {
        let due: Vec<(Event, u64)> = {
            let mut seen = self.seen.lock().expect("audit repeats lock poisoned");
            let now = Instant::now();
            let mut due = Vec::new();
            seen.retain(|_, repeat| {
                let over = now.duration_since(repeat.last_written) >= REPEAT_WINDOW;
                if repeat.uncounted > 0 && (over || everything) {
                    if let Some(event) = repeat.latest.take() {
                        due.push((event, repeat.uncounted));
                    }
                    repeat.uncounted = 0;
                    repeat.last_written = now;
                    return true;
                }
                !over
            });
            due
        };
        for (event, count) in due {
            write_counted(state, event, count).await;
        }
    }
}

async fn write_counted(state: &AppState, mut event: Event, count: u64) {
    event.details["count"] = json!(count);
    if let Err(error) = stores::audit::append_alone(&state.pool, &event).await {
        // Refusing the request stays right; only its record is missing, and the log says so.
        tracing::warn!(%error, action = event.action.as_str(), account_id = %event.account_id, "could not record an audit event");
    }
}
