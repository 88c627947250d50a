//! Credentials checked in microseconds, the stored secret as strong as before:
//! - [`Cache`]: per account, an HMAC-SHA256 (under a key drawn at random when the process
//!   starts, never stored) of the password that last passed argon2, bound to the account's
//!   PHC string. A request whose password gives the same tag (compared in constant time) is
//!   admitted without argon2; anything else goes to argon2, and only a password argon2
//!   accepted is ever remembered. A changed hash never matches a tag made under the old one.
//! - [`Pool`]: argon2 verifications run on one dedicated thread per core, each reusing one
//!   work area, with at most [`MAX_WAITING`] waiting, so a flood of bad logins costs a
//!   bounded amount of CPU and memory (19 MiB per thread with the default parameters) and
//!   cannot starve the runtime or the carrier links.
//! - API tokens (`Authorization: Bearer <token>`): [`new_token`] makes a random 256-bit token;
//!   only its SHA-256 digest ([`token_digest`], `sha256:<hex>`) is configured.
//! - [`check_phc`]: what a configured password hash must be (argon2, bounded parameters).
//!
//! Written here on `ring` (already built for TLS): HMAC, SHA-256 and the random source.
//! Does not handle: which account a username names, rate limits (see [`super::auth`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::PasswordHash;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac};

/// Verifications that may wait for a place on the [`Pool`] before requests are refused.
pub const MAX_WAITING: usize = 256;

/// The verified-credential cache of one account; see the module docs.
pub(crate) struct Cache {
    key: hmac::Key,
    /// The tag of the password that last verified against the account's hash.
    last: Mutex<Option<hmac::Tag>>,
}

impl Cache {
    /// A cache with a fresh random key.
    pub(crate) fn new() -> Self {
        Self {
            key: hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new())
                .unwrap_or_else(|_| fallback_key()),
            last: Mutex::new(None),
        }
    }

    /// What is signed for `password` under `phc`: length-prefixed, so no two pairs give the
    /// same bytes.
    fn message(phc: &str, password: &str) -> Vec<u8> {
        let mut msg = Vec::with_capacity(8 + phc.len() + password.len());
        msg.extend_from_slice(&(phc.len() as u64).to_le_bytes());
        msg.extend_from_slice(phc.as_bytes());
        msg.extend_from_slice(password.as_bytes());
        msg
    }

    /// Whether `password` is the one that last verified against `phc` (constant time).
    pub(crate) fn admits(&self, phc: &str, password: &str) -> bool {
        let last = *self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.is_some_and(|tag| {
            hmac::verify(&self.key, &Self::message(phc, password), tag.as_ref()).is_ok()
        })
    }

    /// Remembers `password` as verified against `phc`: call only after argon2 accepted it.
    pub(crate) fn remember(&self, phc: &str, password: &str) {
        let tag = hmac::sign(&self.key, &Self::message(phc, password));
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(tag);
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cache(<redacted>)")
    }
}

/// A key from the thread-local hasher's randomness, for the (never seen) case where the
/// system random source fails: still unknown outside this process.
fn fallback_key() -> hmac::Key {
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&fastrand::u64(..).to_le_bytes());
    }
    hmac::Key::new(hmac::HMAC_SHA256, &bytes)
}

/// The argon2 verifiers: a fixed set of threads (one per core), each reusing one memory
/// buffer across verifications while jobs wait (freed when none does), so argon2's 19 MiB per
/// run is bounded by the number of threads and never spread over the blocking pool's threads
/// and their malloc arenas. Cheap to clone;
/// the threads end when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct Pool {
    jobs: Arc<Mutex<Option<std::sync::mpsc::Sender<Job>>>>,
    waiting: Arc<AtomicUsize>,
}

struct Job {
    phc: Arc<str>,
    password: String,
    reply: tokio::sync::oneshot::Sender<bool>,
}

/// The pool is saturated: the request is refused rather than queued without end.
#[derive(Debug)]
pub(crate) struct Saturated;

impl Pool {
    /// A pool of one verifier thread per core.
    pub(crate) fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self::with_size(cores)
    }

    pub(crate) fn with_size(size: usize) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let waiting = Arc::new(AtomicUsize::new(0));
        for i in 0..size.max(1) {
            let (rx, waiting) = (rx.clone(), waiting.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    let mut memory = Vec::new();
                    loop {
                        let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        let Ok(job) = job else { return };
                        waiting.fetch_sub(1, Ordering::SeqCst);
                        let ok = verify_with(&job.phc, &job.password, &mut memory);
                        let _ = job.reply.send(ok);
                        if waiting.load(Ordering::SeqCst) == 0 {
                            // Idle: give the 19 MiB back (mimalloc returns a block this size
                            // to the OS); a flood keeps it for the next job.
                            memory = Vec::new();
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(message = "Cannot start an argon2 verifier thread.", error = %e);
            }
        }
        Self {
            jobs: Arc::new(Mutex::new(Some(tx))),
            waiting,
        }
    }

    /// Whether `password` matches the PHC string `phc`, verified when a thread is free.
    ///
    /// # Errors
    /// [`Saturated`] when [`MAX_WAITING`] verifications already wait (or no thread runs).
    pub(crate) async fn verify(&self, phc: Arc<str>, password: String) -> Result<bool, Saturated> {
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Saturated);
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            phc,
            password,
            reply,
        };
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|tx| tx.send(job).is_ok());
        if !sent {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Saturated);
        }
        answer.await.map_err(|_| Saturated)
    }
}

/// Most argon2 memory (KiB) a configured hash may ask for: 256 MiB per verification.
pub const MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;
/// Most argon2 passes a configured hash may ask for.
pub const MAX_ARGON2_PASSES: u32 = 16;

/// Verifies `password` against `phc` with `memory` as argon2's work area (grown to the
/// hash's size and kept for the next call); the hashes are compared in constant time.
fn verify_with(phc: &str, password: &str, memory: &mut Vec<argon2::Block>) -> bool {
    use argon2::password_hash::Output;
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let version = match hash.version {
        None => argon2::Version::default(),
        Some(v) => match argon2::Version::try_from(v) {
            Ok(v) => v,
            Err(_) => return false,
        },
    };
    let Ok(params) = argon2::Params::try_from(&hash) else {
        return false;
    };
    if params.m_cost() > MAX_ARGON2_MEMORY_KIB || params.t_cost() > MAX_ARGON2_PASSES {
        return false;
    }
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, argon2::Block::default());
    }
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon = argon2::Argon2::new(algorithm, version, params);
    argon
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..blocks])
        .is_ok()
        && Output::new(&out).is_ok_and(|o| o == expected)
}

/// The prefix of every token [`new_token`] makes (so a leaked one is recognisable).
pub const TOKEN_PREFIX: &str = "rmd_";

/// The system random source failed (ring says no more than that).
#[derive(Debug, thiserror::Error)]
#[error("the system random source failed")]
pub struct NoRandomness;

/// A new random API token: [`TOKEN_PREFIX`] and 256 random bits in hex.
///
/// # Errors
/// When the system random source fails.
pub fn new_token() -> Result<String, NoRandomness> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| NoRandomness)?;
    Ok(format!("{TOKEN_PREFIX}{}", hex(&bytes)))
}

/// The configured form of a token: `sha256:` and the hex SHA-256 of the whole token.
pub fn token_digest(token: &str) -> String {
    format!(
        "sha256:{}",
        hex(digest::digest(&digest::SHA256, token.as_bytes()).as_ref())
    )
}

/// Checks a configured digest's form; a short reason when it is wrong.
///
/// # Errors
/// When `digest` is not `sha256:` and 64 lower-case hex digits.
pub fn check_digest(digest: &str) -> Result<(), String> {
    match digest.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
            Ok(())
        }
        _ => Err(
            "not a token digest: give sha256:<64 hex digits>, as printed by \
                  `richmond create-token`"
                .into(),
        ),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Checks that `phc` is an argon2 PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`).
///
/// # Errors
/// A short reason, for the config error.
pub fn check_phc(phc: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(phc)
        .map_err(|e| format!("not a PHC string ({e}); make one with `richmond hash-password`"))?;
    match parsed.algorithm.as_str() {
        "argon2id" | "argon2i" | "argon2d" => {}
        other => return Err(format!("algorithm {other:?} is not argon2")),
    }
    if parsed.hash.is_none() || parsed.salt.is_none() {
        return Err("the PHC string has no salt or no hash".into());
    }
    let params =
        argon2::Params::try_from(&parsed).map_err(|e| format!("bad argon2 parameters: {e}"))?;
    if params.m_cost() > MAX_ARGON2_MEMORY_KIB || params.t_cost() > MAX_ARGON2_PASSES {
        return Err(format!(
            "argon2 parameters too large (at most m={} KiB and t={}): every login would cost \
             that much memory and CPU",
            MAX_ARGON2_MEMORY_KIB, MAX_ARGON2_PASSES
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

    proptest! {
        /// Once a right password is cached, no other password is admitted.
        #[test]
        fn a_cached_password_admits_no_other(right in ".{0,40}", others in proptest::collection::vec(".{0,40}", 1..20)) {
            let cache = Cache::new();
            prop_assert!(!cache.admits(PHC, &right));
            cache.remember(PHC, &right);
            prop_assert!(cache.admits(PHC, &right));
            for other in &others {
                prop_assert_eq!(cache.admits(PHC, other), other == &right);
            }
        }
    }

    #[test]
    fn a_changed_hash_stops_admitting_the_old_password() {
        let cache = Cache::new();
        cache.remember(PHC, "pw");
        assert!(cache.admits(PHC, "pw"));
        let other = PHC.replace("aGFzaGhh", "b3RoZXJo");
        assert!(!cache.admits(&other, "pw"));
        // A prefix shift between hash and password is a different pair.
        assert!(!cache.admits(&format!("{PHC}p"), "w"));
    }

    #[test]
    fn tokens_are_random_and_digests_check() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64);
        let d = token_digest(&a);
        assert!(check_digest(&d).is_ok(), "{d}");
        assert_ne!(d, token_digest(&b));
        assert_eq!(
            token_digest("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(check_digest("sha256:ABC").is_err());
        assert!(check_digest(&a).is_err());
    }

    #[tokio::test]
    async fn the_pool_verifies_like_argon2_and_reuses_its_memory() {
        let pool = Pool::with_size(1);
        let params = argon2::Params::new(64, 1, 1, None).unwrap();
        let salt = password_hash::SaltString::encode_b64(b"saltsaltsaltsalt").unwrap();
        let phc: Arc<str> = password_hash::PasswordHasher::hash_password(
            &argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params),
            b"right",
            &salt,
        )
        .unwrap()
        .to_string()
        .into();
        for (password, want) in [
            ("right", true),
            ("wrong", false),
            ("", false),
            ("right", true),
        ] {
            assert_eq!(
                pool.verify(phc.clone(), password.into()).await.unwrap(),
                want,
                "{password}"
            );
        }
        let default = super::super::auth::hash_password("pw").unwrap();
        assert!(
            pool.verify(default.clone().into(), "pw".into())
                .await
                .unwrap()
        );
        assert!(!pool.verify(default.into(), "px".into()).await.unwrap());
        assert!(!pool.verify("not a phc".into(), "pw".into()).await.unwrap());
        // A hash asking for more than the bound is never verified.
        let huge = phc.replace("m=64", "m=1048576");
        assert!(!pool.verify(huge.into(), "right".into()).await.unwrap());
    }

    #[tokio::test]
    async fn the_pool_refuses_beyond_its_waiting_bound() {
        let pool = Pool::with_size(1);
        // Nothing drains the queue while these wait: fill it with jobs of a hash that takes a
        // while, then one more is refused at once.
        pool.waiting.store(MAX_WAITING, Ordering::SeqCst);
        assert!(pool.verify("x".into(), "y".into()).await.is_err());
        pool.waiting.store(0, Ordering::SeqCst);
        assert!(!pool.verify("x".into(), "y".into()).await.unwrap());
    }
}
