//! The audit trail's write side: what an event is made of, how it is chained, and the one way
//! it is stored — inside the transaction of the change it records (`stores::audit::append`).
//!
//! A server function builds its event from the caller ([`Principal::audit`]) and hands it to
//! the store that makes the change; the store appends it before committing. So a change cannot
//! commit without its event, nor an event without its change, and a store that changes
//! something cannot be called without an event to write.

use super::{
    clock::{now_millis, Millis},
    keys::{to_hex, KeyHasher},
    principal::{client_address, with_request},
    stores, AppState, Principal,
};
use crate::domain::{
    audit::{ActorType, AuditAction, Outcome},
    ids::{AccountId, KeyId, UserId},
    views::{User, Via},
};
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// Who acted.
#[derive(Clone, Debug)]
pub struct Actor {
    pub kind: ActorType,
    pub user: Option<User>,
    pub key_id: Option<KeyId>,
    pub key_name: Option<String>,
}

impl Actor {
    pub fn person(user: &User) -> Actor {
        Actor {
            kind: ActorType::User,
            user: Some(user.clone()),
            key_id: None,
            key_name: None,
        }
    }

    pub fn cli() -> Actor {
        Actor {
            kind: ActorType::Cli,
            user: None,
            key_id: None,
            key_name: None,
        }
    }

    pub fn anonymous() -> Actor {
        Actor {
            kind: ActorType::Anonymous,
            user: None,
            key_id: None,
            key_name: None,
        }
    }
}

/// What an event is about.
#[derive(Clone, Debug)]
pub struct Target {
    pub kind: &'static str,
    pub id: String,
    pub label: String,
}

impl Target {
    pub fn key(id: &KeyId, name: &str) -> Target {
        Target {
            kind: "key",
            id: id.to_string(),
            label: name.to_string(),
        }
    }

    pub fn user(id: &UserId, email: &str) -> Target {
        Target {
            kind: "user",
            id: id.to_string(),
            label: email.to_string(),
        }
    }

    pub fn new(kind: &'static str, id: impl ToString, label: &str) -> Target {
        Target {
            kind,
            id: id.to_string(),
            label: label.to_string(),
        }
    }
}

/// Where a request came from.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
}

/// Longer user agents are cut: the trail is evidence, not a place to store whatever a client
/// sends.
const MAX_USER_AGENT_CHARS: usize = 200;

impl Origin {
    /// The client address and user agent of the request being served.
    pub fn of_request(state: &AppState) -> Origin {
        let user_agent = with_request(|parts| {
            parts
                .headers
                .get(axum::http::header::USER_AGENT)
                .and_then(|value| value.to_str().ok())
                .map(|agent| agent.chars().take(MAX_USER_AGENT_CHARS).collect::<String>())
        })
        .ok()
        .flatten();
        Origin {
            client_address: client_address(state).map(|ip| ip.to_string()),
            user_agent,
        }
    }
}

/// One event, ready to be appended to its account's chain (with the key that chains it).
#[derive(Clone)]
pub struct Event {
    hasher: KeyHasher,
    pub account_id: AccountId,
    pub time: Millis,
    pub action: AuditAction,
    pub outcome: Outcome,
    pub actor: Actor,
    pub target: Option<Target>,
    pub details: Value,
    pub origin: Origin,
    /// For `key.updated`: whether the key's guards changed (a rename alone changes no key
    /// check, see `key_cache::changes_key_checks`).
    pub guards_changed: bool,
}

impl Event {
    pub fn new(
        hasher: &KeyHasher,
        account_id: &AccountId,
        action: AuditAction,
        actor: Actor,
        origin: Origin,
    ) -> Event {
        Event {
            hasher: hasher.clone(),
            account_id: account_id.clone(),
            time: now_millis(),
            action,
            outcome: Outcome::Success,
            actor,
            target: None,
            details: json!({}),
            origin,
            guards_changed: false,
        }
    }

    pub fn guards_changed(self, guards_changed: bool) -> Event {
        Event {
            guards_changed,
            ..self
        }
    }

    pub fn target(self, target: Target) -> Event {
        Event {
            target: Some(target),
            ..self
        }
    }

    /// Facts of the action; must be a JSON object.
    pub fn details(self, details: Value) -> Event {
        debug_assert!(details.is_object());
        Event { details, ..self }
    }

    pub fn failed(self) -> Event {
        Event {
            outcome: Outcome::Failure,
            ..self
        }
    }

    pub fn at(self, time: Millis) -> Event {
        Event { time, ..self }
    }

    /// The key this event's link in the chain is made with.
    pub fn chain_key(&self) -> &KeyHasher {
        &self.hasher
    }

    /// The same event in another account (a failed sign-in is told to every account of the
    /// person).
    pub fn in_account(&self, account_id: &AccountId) -> Event {
        Event {
            account_id: account_id.clone(),
            ..self.clone()
        }
    }
}

impl Principal {
    /// An event of `action` done by this caller, from this request.
    pub fn audit(&self, state: &AppState, action: AuditAction) -> Event {
        let kind = match self.via {
            Via::Session => ActorType::User,
            Via::UserKey => ActorType::UserKey,
            Via::AccountKey => ActorType::AccountKey,
        };
        let actor = Actor {
            kind,
            user: self.user.clone(),
            key_id: self.key.as_ref().map(|key| key.id.clone()),
            key_name: self.key.as_ref().map(|key| key.name.clone()),
        };
        Event::new(
            &state.key_hasher,
            self.account_id(),
            action,
            actor,
            Origin::of_request(state),
        )
    }
}

/// The fields of a stored event, in the order the chain hashes them.
pub struct ChainedFields<'a> {
    pub id: &'a str,
    pub account_id: &'a str,
    pub seq: i64,
    pub time: i64,
    pub action: &'a str,
    pub outcome: &'a str,
    pub actor_type: &'a str,
    pub actor_user_id: Option<&'a str>,
    pub actor_email: Option<&'a str>,
    pub actor_key_id: Option<&'a str>,
    pub actor_key_name: Option<&'a str>,
    pub target_type: Option<&'a str>,
    pub target_id: Option<&'a str>,
    pub target_label: Option<&'a str>,
    pub details: &'a str,
    pub client_address: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub prev_hash: &'a str,
}

impl ChainedFields<'_> {
    /// The link: a keyed hash (HMAC with the deployment's pepper) of every field and of the
    /// previous link. Without the pepper, which is not in the database, someone who can write
    /// to the database cannot forge a consistent chain after editing an event.
    pub fn hash(&self, hasher: &KeyHasher) -> String {
        // A JSON array is an unambiguous encoding: no field can run into the next.
        let encoded = json!([
            self.id,
            self.account_id,
            self.seq,
            self.time,
            self.action,
            self.outcome,
            self.actor_type,
            self.actor_user_id,
            self.actor_email,
            self.actor_key_id,
            self.actor_key_name,
            self.target_type,
            self.target_id,
            self.target_label,
            self.details,
            self.client_address,
            self.user_agent,
            self.prev_hash,
        ])
        .to_string();
        to_hex(&hasher.hash_bytes(b"audit-chain", encoded.as_bytes()))
    }
}

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

/// The first place where a chain does not hold, in words that name the event.
#[derive(Debug, PartialEq, Eq)]
pub struct BrokenLink {
    pub account_id: AccountId,
    pub event_id: Option<String>,
    pub seq: i64,
    pub problem: String,
}

/// What `keyward audit verify` found.
#[derive(Debug, Default)]
pub struct Verification {
    pub accounts: usize,
    pub events: u64,
    pub broken: Vec<BrokenLink>,
}

/// What the chains are checked against beyond themselves (see `checkpoints`).
#[derive(Default)]
pub struct VerifyAgainst {
    /// The checkpoints written outside the database, when there are any.
    pub anchor: Option<super::checkpoints::Anchor>,
    /// Events written at or after this may not have been deleted by retention.
    pub retention_cutoff: Option<Millis>,
}

/// Walks every account's chain — every account in `accounts`, with or without a head — from
/// its oldest stored event (older ones may have been pruned by retention) to its head,
/// recomputing each link, and holds it against the checkpoints. Reports, per account, the first
/// event that was edited, removed, inserted or reordered.
pub async fn verify(
    pool: &super::db::Pool,
    hasher: &KeyHasher,
    against: &VerifyAgainst,
) -> Result<Verification, sqlx::Error> {
    const BATCH: i64 = 10_000;
    let mut verification = Verification::default();
    let accounts = stores::audit::heads(pool).await?;
    let known: std::collections::HashSet<&AccountId> =
        accounts.iter().map(|(account_id, _)| account_id).collect();
    if let Some(anchor) = &against.anchor {
        let mut gone: Vec<&AccountId> = anchor
            .points
            .keys()
            .filter(|account_id| !known.contains(account_id))
            .collect();
        gone.sort();
        for account_id in gone {
            verification.broken.push(BrokenLink {
                account_id: account_id.clone(),
                event_id: None,
                seq: 0,
                problem: "was deleted: a checkpoint saw this account's chain".to_string(),
            });
        }
    }
    for (account_id, head) in &accounts {
        verification.accounts += 1;
        let Some((head_seq, head_hash)) = head else {
            verification.broken.push(BrokenLink {
                account_id: account_id.clone(),
                event_id: None,
                seq: 0,
                problem: "has no chain head: its trail was deleted with it".to_string(),
            });
            continue;
        };
        let points = against
            .anchor
            .as_ref()
            .and_then(|anchor| anchor.points.get(account_id));
        // The stored hashes at checkpointed numbers, collected on the walk.
        let mut seen_at_points: std::collections::HashMap<i64, String> = Default::default();
        let mut first_kept = None;
        let mut previous: Option<(i64, String)> = None;
        let mut broken = None;
        'walk: loop {
            let after = previous.as_ref().map_or(0, |(seq, _)| *seq);
            let links = stores::audit::links(pool, hasher, account_id, after, BATCH).await?;
            if links.is_empty() {
                break;
            }
            for link in links {
                verification.events += 1;
                first_kept.get_or_insert(link.seq);
                if points.is_some_and(|points| points.contains_key(&link.seq)) {
                    seen_at_points.insert(link.seq, link.hash.clone());
                }
                let problem = match &previous {
                    Some((seq, _)) if link.seq != seq + 1 => Some(format!(
                        "events {} to {} are missing",
                        seq + 1,
                        link.seq - 1
                    )),
                    Some((_, hash)) if &link.prev_hash != hash => {
                        Some("does not link to the event before it".to_string())
                    }
                    None if link.seq == 1 && !link.prev_hash.is_empty() => {
                        Some("is the first event but links to an earlier one".to_string())
                    }
                    _ if link.computed != link.hash => Some(
                        "was changed after it was written (its hash does not match)".to_string(),
                    ),
                    _ => None,
                };
                if let Some(problem) = problem {
                    broken = Some(BrokenLink {
                        account_id: account_id.clone(),
                        event_id: Some(link.id),
                        seq: link.seq,
                        problem,
                    });
                    break 'walk;
                }
                previous = Some((link.seq, link.hash));
            }
        }
        if broken.is_none() {
            broken = match &previous {
                Some((seq, hash)) if seq != head_seq || hash != head_hash => Some(BrokenLink {
                    account_id: account_id.clone(),
                    event_id: None,
                    seq: *seq,
                    problem: format!("the newest events after {seq} are missing (the chain's head is at {head_seq})"),
                }),
                _ => None,
            };
        }
        if broken.is_none() {
            if let Some(points) = points {
                let cutoff = against.retention_cutoff.unwrap_or(Millis::from_i64(0));
                let found = super::checkpoints::check_account(
                    points,
                    first_kept,
                    *head_seq,
                    |seq| seen_at_points.get(&seq).cloned(),
                    cutoff,
                );
                broken = found.map(|(seq, problem)| BrokenLink {
                    account_id: account_id.clone(),
                    event_id: None,
                    seq,
                    problem: format!("event {seq} {problem}"),
                });
            }
        }
        verification.broken.extend(broken);
    }
    Ok(verification)
}

/// The filters and page size of `audit/list` (and of the export), checked field by field.
pub struct AuditQuery {
    pub filter: stores::audit::Filter,
    pub limit: usize,
}

impl AuditQuery {
    pub fn parse(
        request: &crate::domain::requests::AuditListRequest,
    ) -> Result<AuditQuery, crate::domain::ApiError> {
        use crate::domain::ApiError;
        let present = |value: &Option<String>| {
            value
                .as_deref()
                .map(str::trim)
                .filter(|text| !text.is_empty())
                .map(str::to_string)
        };
        let limit = super::paging::page_size(request.limit)?;
        let before_seq = match present(&request.cursor) {
            None => None,
            Some(text) => Some(text.parse::<i64>().ok().filter(|seq| *seq > 0).ok_or_else(
                || ApiError::invalid_input("cursor", "is not a cursor from audit/list"),
            )?),
        };
        let action = match present(&request.action) {
            None => None,
            Some(text) => Some(AuditAction::parse(&text).ok_or_else(|| {
                ApiError::invalid_input(
                    "action",
                    "is not an audit action (such as key.created or member.role_changed)",
                )
            })?),
        };
        let actor_user_id = present(&request.actor_user_id)
            .map(|id| UserId::parse("actor_user_id", &id))
            .transpose()?;
        let key_id = present(&request.key_id)
            .map(|id| KeyId::parse("key_id", &id))
            .transpose()?;
        let since = present(&request.since)
            .map(|text| super::clock::parse_rfc3339("since", &text))
            .transpose()?;
        let until = present(&request.until)
            .map(|text| super::clock::parse_rfc3339("until", &text))
            .transpose()?;
        Ok(AuditQuery {
            filter: stores::audit::Filter {
                action,
                actor_user_id,
                key_id,
                since,
                until,
                before_seq,
            },
            limit,
        })
    }
}
