//! Password hashing: argon2id with the OWASP-recommended parameters (19 MiB, 2 passes,
//! 1 lane — the `argon2` crate's defaults), run on a pool of its own, one thread fewer than the
//! machine has cores and at the lowest CPU priority, so a storm of sign-ins can neither stall
//! the async executor, nor exhaust memory, nor take the CPU from key-authenticated traffic.

use argon2::{
    password_hash::{
        rand_core::OsRng, PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString,
    },
    Argon2,
};
use std::sync::Arc;
use tokio::sync::{oneshot, Semaphore};

/// How many argon2 computations run at once: one core fewer than the machine has (but at least
/// one), so a storm of sign-ins — argon2 is made to be expensive — always leaves a core for
/// key-authenticated traffic, which costs a fraction of a millisecond a request.
pub fn hashing_slots(cores: usize) -> usize {
    cores.saturating_sub(1).max(1)
}

#[derive(Clone)]
pub struct Passwords {
    /// Admission: a request waits here, so one that is cancelled while waiting costs nothing.
    permits: Arc<Semaphore>,
    /// The threads that hash, as many as there are permits.
    pool: Arc<rayon::ThreadPool>,
    /// Verified against when the email is unknown, so that "no such user" takes as long as
    /// "wrong password".
    dummy_hash: Arc<String>,
}

impl Passwords {
    pub fn new() -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let slots = hashing_slots(cores);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(slots)
            .thread_name(|n| format!("argon2-{n}"))
            .start_handler(|_| lower_this_threads_priority())
            .build()?;
        let dummy_hash = hash_blocking(&crate::domain::random::random_base62(24))?;
        Ok(Passwords {
            permits: Arc::new(Semaphore::new(slots)),
            pool: Arc::new(pool),
            dummy_hash: Arc::new(dummy_hash),
        })
    }

    /// Runs `work` on the hashing pool once a place is free.
    async fn on_pool<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self.permits.acquire().await?;
        let (answer, answered) = oneshot::channel();
        self.pool.spawn(move || {
            let _ = answer.send(work());
        });
        Ok(answered.await?)
    }

    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let password = password.to_string();
        self.on_pool(move || hash_blocking(&password)).await?
    }

    /// Verifies `password` against `stored`, or against a dummy hash when there is no user, so
    /// both paths cost one argon2 verification.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> anyhow::Result<bool> {
        let known_user = stored.is_some();
        let hash = stored.map_or_else(|| self.dummy_hash.as_ref().clone(), str::to_string);
        let password = password.to_string();
        let matches = self
            .on_pool(move || {
                let parsed =
                    PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
                Ok::<_, anyhow::Error>(
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok(),
                )
            })
            .await??;
        Ok(known_user && matches)
    }
}

/// The calling thread runs only on CPU time nothing else wants (Linux's `SCHED_IDLE`), and at
/// nice 19 should that policy be refused: when key traffic wants the CPU, it gets it at once,
/// and sign-ins wait. They are people, who barely notice 100 ms; programs with keys would.
/// (At nice 19 alone, a hashing thread still kept its core until the scheduler's next tick:
/// key calls' p99 went from 1.0–1.3 to 2.7–3.1 ms during a sign-in storm.)
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: setpriority reads its three integer arguments only. On Linux, PRIO_PROCESS
        // with `who` = 0 names the calling thread (the nice value is per thread there).
        let niced = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) } == 0;
        let parameters = libc::sched_param { sched_priority: 0 };
        // SAFETY: `parameters` outlives the call, which only reads it; pid 0 is the calling
        // thread.
        let idle = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &parameters) } == 0;
        if !(niced && idle) {
            tracing::debug!(
                niced,
                idle,
                "could not lower the priority of a hashing thread"
            );
        }
    }
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_leaves_a_core_for_everything_else() {
        assert_eq!(hashing_slots(1), 1);
        assert_eq!(hashing_slots(2), 1);
        assert_eq!(hashing_slots(8), 7);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_runs_at_the_lowest_priority() {
        let passwords = Passwords::new().unwrap();
        // SAFETY: getpriority and sched_getscheduler read their arguments only; 0 is the
        // calling thread.
        let (nice, policy) = passwords
            .on_pool(|| unsafe {
                (
                    libc::getpriority(libc::PRIO_PROCESS, 0),
                    libc::sched_getscheduler(0),
                )
            })
            .await
            .unwrap();
        assert_eq!(nice, 19);
        assert_eq!(policy, libc::SCHED_IDLE);
        // The executor's own threads keep the normal policy. SAFETY: as above.
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, libc::SCHED_OTHER);
    }

    #[tokio::test]
    async fn verifies_the_right_password_only() {
        let passwords = Passwords::new().unwrap();
        let hash = passwords.hash("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(passwords
            .verify("correct horse battery", Some(&hash))
            .await
            .unwrap());
        assert!(!passwords
            .verify("wrong horse battery", Some(&hash))
            .await
            .unwrap());
        assert!(!passwords
            .verify("correct horse battery", None)
            .await
            .unwrap());
    }
}
