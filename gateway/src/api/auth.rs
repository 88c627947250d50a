//! Who is calling, and how often: HTTP Basic auth against `[[api.accounts]]` (argon2 PHC
//! hashes, verified on the blocking pool) and a fixed-window rate limit per account.
//!
//! The limit is counted before the password is checked, so a password-guessing client is
//! slowed down by the same 429 as a busy one. Unknown usernames are refused without touching
//! the limiter (no state is kept for names nobody configured). The limiter lives in memory:
//! with several instances behind a balancer, each enforces the limit on its own share.
//! Does not handle: other auth schemes, TLS (put a proxy in front).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;

use super::ApiError;
use super::config::ApiConfig;

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
    argon2::Params::try_from(&parsed).map_err(|e| format!("bad argon2 parameters: {e}"))?;
    Ok(())
}

/// Hashes `password` with argon2id and a random salt, as a PHC string.
///
/// # Errors
/// When hashing fails (it does not with the default parameters).
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// One configured account, ready for requests.
#[derive(Debug)]
pub(crate) struct Account {
    pub(crate) username: String,
    phc: String,
    pub(crate) transports: Vec<String>,
    limit: u32,
    window: Duration,
}

/// The accounts and their rate-limit windows; cheap to clone.
#[derive(Clone)]
pub(crate) struct Accounts {
    by_name: Arc<HashMap<String, Arc<Account>>>,
    windows: Arc<Mutex<HashMap<String, Window>>>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

impl Accounts {
    pub(crate) fn new(config: &ApiConfig) -> Self {
        let by_name = config
            .accounts
            .iter()
            .map(|a| {
                let account = Account {
                    username: a.username.clone(),
                    phc: a
                        .password_hash
                        .as_ref()
                        .map(|s| s.expose().to_owned())
                        .unwrap_or_default(),
                    transports: a.allowed(config).to_vec(),
                    limit: a.rate_limit_requests.unwrap_or(config.rate_limit_requests),
                    window: Duration::from_secs(
                        a.rate_limit_window_seconds
                            .unwrap_or(config.rate_limit_window_seconds),
                    ),
                };
                (a.username.clone(), Arc::new(account))
            })
            .collect();
        Self {
            by_name: Arc::new(by_name),
            windows: Arc::default(),
        }
    }

    /// Accounts allowed on `transport` (for inbound messages).
    pub(crate) fn on_transport<'a>(
        &'a self,
        transport: &'a str,
    ) -> impl Iterator<Item = &'a Arc<Account>> + 'a {
        self.by_name
            .values()
            .filter(move |a| a.transports.iter().any(|t| t == transport))
    }

    /// Authenticates the request and counts it against the account's limit.
    ///
    /// # Errors
    /// [`ApiError::Unauthorized`] or [`ApiError::RateLimited`].
    pub(crate) async fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<Account>, ApiError> {
        let (user, password) = basic_credentials(headers).ok_or(ApiError::Unauthorized)?;
        let account = self
            .by_name
            .get(&user)
            .cloned()
            .ok_or(ApiError::Unauthorized)?;
        self.count(&account, Instant::now())?;
        let phc = account.phc.clone();
        let ok = tokio::task::spawn_blocking(move || verify(&phc, &password))
            .await
            .unwrap_or(false);
        if ok {
            Ok(account)
        } else {
            Err(ApiError::Unauthorized)
        }
    }

    /// Counts one request in the account's current window.
    fn count(&self, account: &Account, now: Instant) -> Result<(), ApiError> {
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let w = windows.entry(account.username.clone()).or_insert(Window {
            started: now,
            count: 0,
        });
        if now.duration_since(w.started) >= account.window {
            *w = Window {
                started: now,
                count: 0,
            };
        }
        if w.count >= account.limit {
            let left = account.window.saturating_sub(now.duration_since(w.started));
            // Round up: a client that waits Retry-After seconds finds a fresh window.
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            return Err(ApiError::RateLimited {
                retry_after_seconds: secs.max(1),
            });
        }
        w.count += 1;
        Ok(())
    }
}

fn verify(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// `Authorization: Basic base64(user:password)`, decoded.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_check() {
        let phc = hash_password("s3cret").unwrap();
        assert!(check_phc(&phc).is_ok(), "{phc}");
        assert!(verify(&phc, "s3cret"));
        assert!(!verify(&phc, "other"));
        assert!(check_phc("plain-text").is_err());
        assert!(check_phc("$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA").is_err());
    }

    #[test]
    fn basic_header_is_decoded() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, "Basic dXNlcjpwYTpzcw==".parse().unwrap());
        assert_eq!(basic_credentials(&h), Some(("user".into(), "pa:ss".into())));
        h.insert(AUTHORIZATION, "Bearer x".parse().unwrap());
        assert_eq!(basic_credentials(&h), None);
        h.insert(AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(basic_credentials(&h), None);
    }

    #[test]
    fn window_limits_and_resets() {
        let text = "transports = [\"t\"]\nrate_limit_requests = 2\n[[accounts]]\nusername = \"a\"\npassword_hash = \"x\"\n";
        let config: ApiConfig = toml::from_str(text).unwrap();
        let accounts = Accounts::new(&config);
        let a = accounts.by_name.get("a").unwrap().clone();
        let t0 = Instant::now();
        assert!(accounts.count(&a, t0).is_ok());
        assert!(accounts.count(&a, t0).is_ok());
        match accounts.count(&a, t0 + Duration::from_millis(500)) {
            Err(ApiError::RateLimited {
                retry_after_seconds,
            }) => assert_eq!(retry_after_seconds, 60),
            other => panic!("{other:?}"),
        }
        assert!(accounts.count(&a, t0 + Duration::from_secs(60)).is_ok());
    }
}
