//! Verifying the chain: every event hashed again and linked to the one before it, per account, and
//! — when checkpoints are given — every account's chain held against the heads recorded earlier, so a
//! trail cut short or rewritten from some point on is found.

use crate::domain::ids::AccountId;
use crate::domain::time::Millis;
use crate::server::keys::secret::KeyHasher;
use crate::server::stores;

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
    pub anchor: Option<crate::server::audit::checkpoints::Anchor>,
    /// Events written at or after this may not have been deleted by retention.
    pub retention_cutoff: Option<Millis>,
}

/// Walks every account's chain — every account in `accounts`, with or without a head — from
/// its oldest stored event (older ones may have been pruned by retention) to its head,
/// recomputing each link, and holds it against the checkpoints. Reports, per account, the first
/// event that was edited, removed, inserted or reordered.
pub async fn verify(
    pool: &crate::server::db::Pool,
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
                let found = crate::server::audit::checkpoints::check_account(
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
