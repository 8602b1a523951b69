//! Password hashing: Argon2id with OWASP parameters, bcrypt hashes accepted for upgrade.
//!
//! Hashing is deliberately slow, so it runs on a few dedicated threads (one fewer than the
//! cores) that leave at least one core for everything else: a login storm queues here instead
//! of stalling other routes. Dedicated threads rather than tokio's blocking pool also bound the
//! memory: each Argon2 hash takes 19 MiB, and glibc's allocator keeps freed blocks that large in
//! the arena of the thread that used them (bench/run: 127 MB resident after a burst of logins,
//! against 186 MB when hashes ran on whichever blocking-pool thread was free).

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{Arc, Mutex, PoisonError, mpsc},
};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::{SaltString, rand_core::OsRng},
};
use tokio::sync::oneshot;

use crate::core::error::ApiError;

/// OWASP's recommended Argon2id configuration: 19 MiB, 2 iterations, 1 lane.
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;

/// The outcome of checking a password against a stored hash.
#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password, or no such user.
    No,
    Yes,
    /// Right password, but the hash is in an old format and should be replaced by this one.
    YesUpgrade(String),
}

type Job = Box<dyn FnOnce() + Send>;

/// Hashes and verifies passwords off the async executor with bounded concurrency.
#[derive(Clone)]
pub struct PasswordHasherPool {
    /// The queue of the hashing threads; they stop when the last clone of the pool is dropped.
    jobs: mpsc::Sender<Job>,
    /// A hash of a random password, verified against when the email is unknown so that the
    /// response time does not reveal who is registered.
    dummy_hash: Arc<str>,
}

impl PasswordHasherPool {
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = cores.saturating_sub(1).max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..threads {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name("password-hash".into())
                .spawn(move || {
                    loop {
                        // The lock is held only while taking a job, never while running one.
                        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        let Ok(job) = job else { break };
                        // A panicking job fails its own request (its reply is dropped), not
                        // the thread.
                        let _ = catch_unwind(AssertUnwindSafe(job));
                    }
                })
                .expect("spawning a password-hashing thread");
        }
        let dummy = uuid::Uuid::new_v4().to_string();
        Self {
            jobs,
            dummy_hash: hash_blocking(&dummy).into(),
        }
    }

    /// Hashes a new password with Argon2id.
    pub async fn hash(&self, password: &str) -> Result<String, ApiError> {
        let password = password.to_owned();
        self.run(move || hash_blocking(&password)).await
    }

    /// Checks `password` against `stored`; with no stored hash, does the same work and fails.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<Verified, ApiError> {
        let password = password.to_owned();
        let stored = stored.map(str::to_owned);
        let dummy = self.dummy_hash.clone();
        self.run(move || match stored {
            Some(stored) => verify_blocking(&password, &stored),
            None => {
                verify_argon2(&password, &dummy);
                Verified::No
            }
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (reply, result) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = reply.send(work());
            }))
            .map_err(|_| ApiError::internal("the password-hashing threads have stopped"))?;
        result
            .await
            .map_err(|_| ApiError::internal("a password-hashing job failed"))
    }
}

impl Default for PasswordHasherPool {
    fn default() -> Self {
        Self::new()
    }
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None).expect("valid Argon2 params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("Argon2 hashing with valid params cannot fail")
        .to_string()
}

fn verify_argon2(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .is_ok_and(|hash| argon2().verify_password(password.as_bytes(), &hash).is_ok())
}

fn verify_blocking(password: &str, stored: &str) -> Verified {
    if ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|p| stored.starts_with(p))
    {
        // bcrypt reads at most 72 bytes; longer inputs are refused by the crate, so a password
        // the Python stack accepted (it truncated) fails closed rather than open.
        return match bcrypt::verify(password, stored) {
            Ok(true) => Verified::YesUpgrade(hash_blocking(password)),
            _ => Verified::No,
        };
    }
    if verify_argon2(password, stored) {
        Verified::Yes
    } else {
        Verified::No
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_hash_verifies_and_rejects_wrong_password() {
        let hash = hash_blocking("correct horse battery");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(
            verify_blocking("correct horse battery", &hash),
            Verified::Yes
        );
        assert_eq!(verify_blocking("wrong horse battery", &hash), Verified::No);
    }

    #[test]
    fn bcrypt_hash_verifies_and_asks_for_upgrade() {
        let legacy = bcrypt::hash("legacy-password", 4).unwrap();
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let stored = format!("{prefix}{}", &legacy[4..]);
            match verify_blocking("legacy-password", &stored) {
                Verified::YesUpgrade(new_hash) => assert!(new_hash.starts_with("$argon2id$")),
                other => panic!("expected an upgrade for {prefix}, got {other:?}"),
            }
            assert_eq!(verify_blocking("not-the-password", &stored), Verified::No);
        }
    }

    #[test]
    fn garbage_hash_never_verifies() {
        assert_eq!(verify_blocking("anything", "not a hash"), Verified::No);
    }

    #[tokio::test]
    async fn unknown_user_fails_after_doing_the_work() {
        let pool = PasswordHasherPool::new();
        assert_eq!(pool.verify("whatever1", None).await.unwrap(), Verified::No);
    }

    #[tokio::test]
    async fn concurrent_jobs_all_answer_and_a_panic_spares_the_threads() {
        let pool = PasswordHasherPool::new();
        let failed = pool.run(|| -> u8 { panic!("boom") }).await;
        assert!(failed.is_err());
        let hashes = futures_util::future::join_all((0..4).map(|i| {
            let pool = pool.clone();
            async move { pool.hash(&format!("password-{i}")).await.unwrap() }
        }))
        .await;
        for (i, hash) in hashes.iter().enumerate() {
            assert_eq!(
                pool.verify(&format!("password-{i}"), Some(hash))
                    .await
                    .unwrap(),
                Verified::Yes
            );
        }
    }
}
