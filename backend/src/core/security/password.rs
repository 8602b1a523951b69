//! Password hashing: Argon2id with OWASP parameters, bcrypt hashes accepted for upgrade.
//!
//! Hashing is deliberately slow, so it runs on the blocking thread pool behind a semaphore that
//! leaves at least one core for everything else: a login storm queues here instead of stalling
//! other routes.

use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
    password_hash::{SaltString, rand_core::OsRng},
};
use tokio::sync::Semaphore;

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

/// Hashes and verifies passwords off the async executor with bounded concurrency.
#[derive(Clone)]
pub struct PasswordHasherPool {
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when the email is unknown so that the
    /// response time does not reveal who is registered.
    dummy_hash: Arc<str>,
}

impl PasswordHasherPool {
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let permits = cores.saturating_sub(1).max(1);
        let dummy = uuid::Uuid::new_v4().to_string();
        Self {
            permits: Arc::new(Semaphore::new(permits)),
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
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(ApiError::internal)
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

fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|p| stored.starts_with(p))
}

fn verify_blocking(password: &str, stored: &str) -> Verified {
    if is_bcrypt(stored) {
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
}
