//! The audit trail's anchor outside the database.
//!
//! Each account's chain proves that no stored event was edited, and that none is missing
//! *between* two stored ones. It cannot prove, from the database alone, that nothing is missing
//! at its ends: someone with write access to the database can delete the newest events and set
//! the chain's head back, delete a recent stretch at the start (so that it looks like
//! retention), or delete an account's whole trail with its head.
//!
//! So every minute the server writes a *checkpoint*: each chain head that moved since the last
//! one (account, number, hash, and the time of that event), signed with a key derived from the
//! pepper, appended as JSON lines to `audit-checkpoints.jsonl` in the data directory (and a
//! one-line digest to the server log). The database holds neither the file nor the pepper.
//! `keyward audit verify` then also checks every checkpointed point against the database:
//!
//! - a point at or after an account's first stored event must be stored with the same hash (the
//!   newest end cannot be cut off, nor the chain rewritten);
//! - a point before it must be older than the retention period: retention deletes only what is
//!   older, so a deleted stretch of younger events is deletion, not retention;
//! - an account that a checkpoint saw must still exist.
//!
//! What happened after the last checkpoint (at most a minute) is not covered, nor is an attacker
//! who can also write the data directory — keep a copy of the file (or of the log) elsewhere.

use crate::domain::ids::AccountId;
use crate::domain::time::{now_millis, rfc3339, Millis};
use crate::server::db::Pool;
use crate::server::keys::secret::{to_hex, KeyHasher};
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, HashMap},
    io::Write,
    path::{Path, PathBuf},
};

pub const FILE_NAME: &str = "audit-checkpoints.jsonl";
/// Heads per line, so that no line grows without bound.
const HEADS_PER_LINE: usize = 1_000;
const PURPOSE: &[u8] = b"audit-checkpoint";

/// One account's chain head as a checkpoint saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub account_id: AccountId,
    pub seq: i64,
    pub hash: String,
    /// When that event was written (milliseconds since the epoch).
    pub time: i64,
}

#[derive(Serialize, Deserialize)]
struct Line {
    /// When the checkpoint was written.
    at: i64,
    heads: Vec<Head>,
    /// The keyed hash of `at` and `heads`.
    mac: String,
}

fn mac_of(hasher: &KeyHasher, at: i64, heads: &[Head]) -> String {
    let encoded = serde_json::to_string(&(at, heads)).unwrap_or_default();
    to_hex(&hasher.hash_bytes(PURPOSE, encoded.as_bytes()))
}

pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// Writes checkpoints for one server: remembers what it wrote last, so each line holds only
/// the heads that moved.
pub struct Writer {
    path: PathBuf,
    written: HashMap<AccountId, i64>,
}

impl Writer {
    pub fn new(data_dir: &Path) -> Writer {
        Writer {
            path: path_in(data_dir),
            written: HashMap::new(),
        }
    }

    /// Appends the heads that moved since the last call; returns how many it wrote.
    pub async fn write(&mut self, pool: &Pool, hasher: &KeyHasher) -> anyhow::Result<usize> {
        let heads = current_heads(pool).await?;
        let moved: Vec<Head> = heads
            .into_iter()
            .filter(|head| self.written.get(&head.account_id) != Some(&head.seq))
            .collect();
        if moved.is_empty() {
            return Ok(0);
        }
        let at = now_millis().as_i64();
        let mut text = String::new();
        for chunk in moved.chunks(HEADS_PER_LINE) {
            let line = Line {
                at,
                heads: chunk.to_vec(),
                mac: mac_of(hasher, at, chunk),
            };
            text.push_str(&serde_json::to_string(&line)?);
            text.push('\n');
            tracing::info!(
                accounts = chunk.len(),
                digest = &line.mac[..16],
                "audit checkpoint written"
            );
        }
        let path = self.path.clone();
        // One write of whole lines in append mode: several instances sharing a data directory
        // add lines, never mix them.
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            file.write_all(text.as_bytes())?;
            file.sync_data()
        })
        .await??;
        let count = moved.len();
        for head in moved {
            self.written.insert(head.account_id, head.seq);
        }
        Ok(count)
    }
}

/// Every chain head with the time of its event (heads at 0, of accounts with no event yet,
/// are left out).
async fn current_heads(pool: &Pool) -> Result<Vec<Head>, sqlx::Error> {
    let rows: Vec<(AccountId, i64, String, i64)> = sqlx::query_as(
        "SELECT h.account_id, h.seq, h.hash, e.time FROM audit_heads h \
         JOIN audit_events e ON e.account_id = h.account_id AND e.seq = h.seq \
         WHERE h.seq > 0",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(account_id, seq, hash, time)| Head {
            account_id,
            seq,
            hash,
            time,
        })
        .collect())
}

/// Every point the checkpoints saw, per account, by number.
#[derive(Debug, Default)]
pub struct Anchor {
    pub points: HashMap<AccountId, BTreeMap<i64, Head>>,
    pub lines: usize,
}

/// Reads a checkpoint file; a line whose signature does not match is an error naming it (the
/// file was edited, or written with another pepper). `None` when there is no file.
pub fn load(path: &Path, hasher: &KeyHasher) -> anyhow::Result<Option<Anchor>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let mut anchor = Anchor::default();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(line).map_err(|error| {
            anyhow::anyhow!(
                "{}: line {} is not a checkpoint: {error}",
                path.display(),
                number + 1
            )
        })?;
        if mac_of(hasher, parsed.at, &parsed.heads) != parsed.mac {
            anyhow::bail!(
                "{}: line {} does not carry keyward's signature (edited, or written with another pepper)",
                path.display(),
                number + 1
            );
        }
        anchor.lines += 1;
        for head in parsed.heads {
            anchor
                .points
                .entry(head.account_id.clone())
                .or_default()
                .insert(head.seq, head);
        }
    }
    Ok(Some(anchor))
}

/// What the checkpoints say of one account's stored chain: `first_kept` (the lowest stored
/// number, `None` when nothing is stored), `head_seq` (the head row's), and a lookup of stored
/// hashes by number. `None` when they agree; else the problem.
pub fn check_account(
    points: &BTreeMap<i64, Head>,
    first_kept: Option<i64>,
    head_seq: i64,
    stored_hash: impl Fn(i64) -> Option<String>,
    retention_cutoff: Millis,
) -> Option<(i64, String)> {
    let newest = points.values().next_back()?;
    if newest.seq > head_seq {
        return Some((
            head_seq,
            format!(
                "the newest events after {head_seq} are missing: a checkpoint saw event {} (written {})",
                newest.seq,
                rfc3339(Millis::from_i64(newest.time))
            ),
        ));
    }
    for point in points.values() {
        let kept = first_kept.is_some_and(|first| point.seq >= first);
        if kept {
            if stored_hash(point.seq).as_deref() != Some(point.hash.as_str()) {
                return Some((
                    point.seq,
                    "differs from what a checkpoint saw: the chain was rewritten from here"
                        .to_string(),
                ));
            }
        } else if point.time >= retention_cutoff.as_i64() {
            return Some((
                point.seq,
                format!(
                    "was deleted, but it was written {} — within the retention period, so not by retention",
                    rfc3339(Millis::from_i64(point.time))
                ),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(account: &AccountId, seq: i64, time: i64) -> (i64, Head) {
        (
            seq,
            Head {
                account_id: account.clone(),
                seq,
                hash: format!("h{seq}"),
                time,
            },
        )
    }

    #[test]
    fn retention_is_told_from_deletion_by_the_age_of_what_is_gone() {
        let account = AccountId::generate();
        let cutoff = Millis::from_i64(1_000);
        let points: BTreeMap<_, _> = [point(&account, 3, 500), point(&account, 8, 2_000)]
            .into_iter()
            .collect();
        let stored = |seq: i64| Some(format!("h{seq}"));
        // 1..5 pruned: event 3 was old enough.
        assert_eq!(check_account(&points, Some(6), 9, stored, cutoff), None);
        // 1..8 gone: event 8 was young.
        let problem = check_account(&points, Some(9), 9, stored, cutoff).unwrap();
        assert_eq!(problem.0, 8);
        assert!(problem.1.contains("retention"), "{}", problem.1);
        // The head set back below what a checkpoint saw.
        let problem = check_account(&points, Some(1), 7, stored, cutoff).unwrap();
        assert!(problem.1.contains("newest events after 7"), "{}", problem.1);
        // A rewritten event.
        let problem = check_account(&points, Some(1), 9, |_| Some("x".into()), cutoff).unwrap();
        assert_eq!(problem.0, 3);
        // Everything gone (no stored event), the head kept.
        assert!(check_account(&points, None, 9, stored, cutoff).is_some());
    }

    #[test]
    fn a_checkpoint_file_that_was_edited_is_refused() {
        let hasher = KeyHasher::new(b"pepper-one-pepper-one-pepper-one");
        let account = AccountId::generate();
        let heads = vec![point(&account, 4, 10).1];
        let line = Line {
            at: 20,
            mac: mac_of(&hasher, 20, &heads),
            heads,
        };
        let directory = std::env::temp_dir().join(format!("keyward-checkpoint-{}", account));
        std::fs::create_dir_all(&directory).unwrap();
        let path = path_in(&directory);
        let text = serde_json::to_string(&line).unwrap();
        std::fs::write(&path, format!("{text}\n")).unwrap();
        let anchor = load(&path, &hasher).unwrap().unwrap();
        assert_eq!(anchor.points[&account][&4].hash, "h4");
        std::fs::write(&path, text.replace("\"seq\":4", "\"seq\":2")).unwrap();
        assert!(load(&path, &hasher).is_err());
        assert!(load(&directory.join("none"), &hasher).unwrap().is_none());
    }
}
