//! Last-used time and address of keys, collected in memory and written in batches, so that
//! verifying a key never writes to the database (DESIGN.md: at most a minute behind).

use super::db::Pool;
use crate::domain::ids::KeyId;
use crate::server::clock::Millis;
use std::{collections::HashMap, sync::Arc, sync::Mutex};

#[derive(Clone, Default)]
pub struct KeyUsage {
    pending: Arc<Mutex<HashMap<KeyId, Use>>>,
}

struct Use {
    at_millis: Millis,
    ip: Option<String>,
}

impl KeyUsage {
    pub fn record(&self, key_id: &KeyId, at_millis: Millis, ip: Option<String>) {
        let mut pending = self.pending.lock().expect("usage lock poisoned");
        pending.insert(key_id.clone(), Use { at_millis, ip });
    }

    /// Writes what was collected since the last flush. A key used many times in between costs
    /// one update. When the write fails, the batch goes back to be written next time (a newer
    /// use collected meanwhile wins).
    pub async fn flush(&self, pool: &Pool) -> Result<usize, sqlx::Error> {
        let batch: Vec<(KeyId, Use)> = {
            let mut pending = self.pending.lock().expect("usage lock poisoned");
            pending.drain().collect()
        };
        let count = batch.len();
        if count == 0 {
            return Ok(0);
        }
        if let Err(error) = write(pool, &batch).await {
            let mut pending = self.pending.lock().expect("usage lock poisoned");
            for (key_id, usage) in batch {
                let newer = pending
                    .get(&key_id)
                    .is_some_and(|collected| collected.at_millis >= usage.at_millis);
                if !newer {
                    pending.insert(key_id, usage);
                }
            }
            return Err(error);
        }
        Ok(count)
    }

    /// How many keys have uses waiting to be written.
    pub fn pending_count(&self) -> usize {
        self.pending.lock().expect("usage lock poisoned").len()
    }
}

async fn write(pool: &Pool, batch: &[(KeyId, Use)]) -> Result<(), sqlx::Error> {
    let mut transaction = pool.begin().await?;
    for (key_id, usage) in batch {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $1, last_used_ip = $2 \
             WHERE id = $3 AND (last_used_at IS NULL OR last_used_at < $1)",
        )
        .bind(usage.at_millis)
        .bind(usage.ip.as_deref())
        .bind(key_id)
        .execute(&mut *transaction)
        .await?;
    }
    transaction.commit().await
}
