//! Rate-limit budgets kept in Redis (`KEYWARD_REDIS_URL`), so that several instances behind a
//! load balancer count as one: a guesser spreading sign-in attempts over three instances meets
//! the same limit as against one, and a key allowed 10 requests a minute gets 10 in all.
//!
//! Each budget is a GCRA cell (the algorithm governor uses in memory) updated by one Lua script,
//! atomically and with Redis's own clock, so the instances' clocks need not agree. A call that
//! cannot reach Redis within 250 ms is an `Err(Unavailable)`: the caller (`throttle`) then counts
//! in its own memory, so a Redis outage weakens sharing but never fails a request or lifts a
//! limit. After a failure Redis is left alone for a few seconds, so an outage costs one slow
//! request every few seconds, not every request.

use crate::server::config::RedisUrl;
use crate::server::config::REDIS_URL_VAR;
use redis::{aio::ConnectionManager, Script};
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// A Redis call that takes longer than this counts as failed, and the instance limits on its own:
/// a slow Redis must not slow every sign-in and every limited key.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);

/// After a failed call, how long the instance counts on its own before asking Redis again.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// Redis did not answer (in time); the caller limits in its own memory instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

impl RedisUrl {
    /// Scheme, host and port: what a log line may say about it.
    pub fn server(&self) -> String {
        crate::server::config::url_without_credentials(&self.0, "redis")
    }
}

/// Takes one request from a budget of `ARGV[2]` at once, refilled one per `ARGV[1]`
/// microseconds. Answers {allowed, remaining, wait µs, µs until the budget is whole}.
const TAKE: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next_tat = tat + interval
local allowed_at = next_tat - burst * interval
if now < allowed_at then
  local wait = allowed_at - now
  return {0, 0, wait, tat - now}
end
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
return {1, math.floor((now - allowed_at) / interval), 0, next_tat - now}
";

/// Gives one request back to the budget `KEYS[1]` refilled one per `ARGV[1]` microseconds (an
/// attempt that succeeded).
const GIVE_BACK: &str = r"
local interval = tonumber(ARGV[1])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat then return 0 end
tat = tat - interval
if tat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000))
end
return 1
";

/// Where a budget stands after one `take`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    pub allowed: bool,
    pub remaining: u32,
    /// When refused: until the next request is allowed.
    pub wait: Duration,
    /// Until the whole budget is back.
    pub until_whole: Duration,
}

/// A budget: `burst` at once, one more every `period`.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub burst: u32,
    pub period: Duration,
}

#[derive(Clone)]
pub struct SharedLimits {
    connection: ConnectionManager,
    prefix: Arc<str>,
    take: Arc<Script>,
    give_back: Arc<Script>,
    /// Unix milliseconds before which Redis is not asked (after a failure).
    paused_until: Arc<AtomicU64>,
    /// Unix milliseconds of the last "Redis did not answer" warning: an outage logs once a
    /// minute.
    last_warning: Arc<AtomicU64>,
}

impl SharedLimits {
    /// Connects, and fails if Redis does not answer: an operator who set the URL expects limits
    /// to be shared from the first request.
    pub async fn connect(url: &RedisUrl, prefix: &str) -> anyhow::Result<SharedLimits> {
        use anyhow::Context;
        let client = redis::Client::open(url.0.as_str())
            .with_context(|| format!("{REDIS_URL_VAR} ({}) is not a Redis URL", url.server()))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(RESPONSE_TIMEOUT)
            .set_number_of_retries(1)
            .set_max_delay(500);
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .with_context(|| format!("could not reach Redis at {}", url.server()))?;
        Ok(SharedLimits {
            connection,
            prefix: prefix.into(),
            take: Arc::new(Script::new(TAKE)),
            give_back: Arc::new(Script::new(GIVE_BACK)),
            paused_until: Arc::new(AtomicU64::new(0)),
            last_warning: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Takes one request from the budget named `name`.
    pub async fn take(&self, name: &str, budget: Budget) -> Result<Taken, Unavailable> {
        self.ask(self.run_take(name, budget)).await
    }

    /// Gives one request back to the budget named `name`.
    pub async fn give_back(&self, name: &str, budget: Budget) -> Result<(), Unavailable> {
        let mut invocation = self.give_back.prepare_invoke();
        invocation
            .key(format!("{}{name}", self.prefix))
            .arg(interval_micros(budget));
        let mut connection = self.connection.clone();
        self.ask(async move {
            let _: i64 = invocation.invoke_async(&mut connection).await?;
            Ok(())
        })
        .await
    }

    /// Runs one Redis call, unless Redis failed in the last few seconds; a failure or a call
    /// slower than `RESPONSE_TIMEOUT` pauses asking and is logged (once a minute).
    async fn ask<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Unavailable> {
        if unix_millis() < self.paused_until.load(Ordering::Relaxed) {
            return Err(Unavailable);
        }
        let error = match tokio::time::timeout(RESPONSE_TIMEOUT, call).await {
            Ok(Ok(answer)) => return Ok(answer),
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {} ms", RESPONSE_TIMEOUT.as_millis()),
        };
        let now = unix_millis();
        let pause = u64::try_from(PAUSE_AFTER_FAILURE.as_millis()).unwrap_or(u64::MAX);
        self.paused_until.store(now + pause, Ordering::Relaxed);
        let last = self.last_warning.load(Ordering::Relaxed);
        if now >= last + 60_000
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(%error, "Redis did not answer: this instance limits on its own until it does");
        }
        Err(Unavailable)
    }

    async fn run_take(&self, name: &str, budget: Budget) -> redis::RedisResult<Taken> {
        let mut invocation = self.take.prepare_invoke();
        invocation
            .key(format!("{}{name}", self.prefix))
            .arg(interval_micros(budget))
            .arg(budget.burst.max(1));
        let mut connection = self.connection.clone();
        let (allowed, remaining, wait, until_whole): (i64, i64, i64, i64) =
            invocation.invoke_async(&mut connection).await?;
        let micros = |value: i64| Duration::from_micros(u64::try_from(value).unwrap_or(0));
        Ok(Taken {
            allowed: allowed == 1,
            remaining: u32::try_from(remaining).unwrap_or(0),
            wait: micros(wait),
            until_whole: micros(until_whole),
        })
    }
}

fn interval_micros(budget: Budget) -> u64 {
    u64::try_from(budget.period.as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redis_url_is_logged_without_its_password() {
        let url = RedisUrl("redis://:hunter2@cache.internal:6380/2".to_string());
        assert_eq!(url.server(), "redis://cache.internal:6380");
        assert!(!format!("{url:?}").contains("hunter2"));
    }
}
