//! Who is calling, and how often: HTTP Basic auth against `[[api.accounts]]` (argon2 PHC
//! hashes), API tokens (`Authorization: Bearer`, configured as SHA-256 digests), and a
//! fixed-window rate limit per account.
//!
//! Basic auth runs argon2 once per client, not once per request: a password that verified is
//! remembered as a keyed hash ([`credentials::Cache`]) and later requests with the same
//! password are admitted in microseconds; verifications run on a bounded pool
//! ([`credentials::Pool`]; a saturated pool answers 503). The limit is counted only after the
//! caller proved who it is, so wrong passwords never use up the real user's requests.
//! Unknown usernames and tokens are refused without touching the limiter (no state is kept
//! for names nobody configured). The limiter lives in memory: with several instances behind a
//! balancer, each enforces the limit on its own share.
//! Does not handle: other auth schemes, TLS (put a proxy in front).

use super::telemetry::Login;
use richmond_drivers::telemetry::Event as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, SaltString};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;

use super::ApiError;
use super::config::ApiConfig;
use super::credentials::{self, Pool};
pub(crate) use super::directory::Account;
use super::directory::Directory;
use super::login_limit::FailedLogins;

pub use super::credentials::check_phc;

/// Hashes `password` with argon2id and a random salt, as a PHC string.
///
/// # Errors
/// When hashing fails (it does not with the default parameters).
pub fn hash_password(password: &str) -> Result<String, password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
}

/// The accounts and their rate-limit windows; cheap to clone. The accounts themselves (names,
/// passwords, tokens, numbers, keywords, limits) can be replaced while running
/// ([`Accounts::reload`], on SIGHUP); the windows and failed-login counts carry over.
#[derive(Clone)]
pub(crate) struct Accounts {
    directory: Arc<std::sync::RwLock<Arc<Directory>>>,
    pool: Pool,
    failed_logins: Arc<FailedLogins>,
    windows: Arc<Mutex<HashMap<String, Window>>>,
    /// With several instances on one Redis: the windows kept there, and how many instances
    /// share them (each keeps limit / instances when Redis cannot be asked).
    shared: Option<(crate::store::redis::RedisStore, u32)>,
}

/// Counts a request in a window kept in Redis: its number in the window, or minus the
/// milliseconds left when it is over the limit. KEYS: the window; ARGV: window ms, limit.
const SHARED_WINDOW: &str = r"
local n = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
if n > tonumber(ARGV[2]) then return -math.max(left, 1) end
return n
";

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

impl Accounts {
    pub(crate) fn new(config: &ApiConfig) -> Self {
        Self {
            directory: Arc::new(std::sync::RwLock::new(Arc::new(Directory::new(config)))),
            pool: Pool::new(),
            failed_logins: Arc::new(FailedLogins::new(
                config.failed_login_limit,
                Duration::from_secs(config.failed_login_window_seconds),
            )),
            windows: Arc::default(),
            shared: None,
        }
    }

    /// The accounts now.
    fn directory(&self) -> Arc<Directory> {
        self.directory
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The accounts' names.
    pub(crate) fn names(&self) -> Vec<String> {
        self.directory().by_name.keys().cloned().collect()
    }

    /// Replaces the accounts with `config`'s (already validated). Returns how many there are.
    /// An account that did not change is kept as it was, with its verified-password cache
    /// (no argon2 burst after a reload).
    pub(crate) fn reload(&self, config: &ApiConfig) -> usize {
        let old = self.directory();
        let mut by_name = Directory::new(config).by_name;
        for a in by_name.values_mut() {
            if let Some(before) = old.by_name.get(&a.username)
                && before.phc == a.phc
                && before.transports == a.transports
                && before.limit == a.limit
                && before.window == a.window
            {
                *a = before.clone();
            }
        }
        let directory = Arc::new(Directory::index(by_name, config));
        let n = directory.by_name.len();
        *self
            .directory
            .write()
            .unwrap_or_else(PoisonError::into_inner) = directory;
        n
    }

    /// Keeps the accounts' windows in `store` when it is Redis, shared by `instances`.
    #[must_use]
    pub(crate) fn shared_by(mut self, store: &crate::store::Store, instances: u32) -> Self {
        if let crate::store::Store::Redis(redis) = store {
            self.shared = Some((redis.clone(), instances.max(1)));
        }
        self
    }

    /// The account named `name`, if configured.
    pub(crate) fn get(&self, name: &str) -> Option<Arc<Account>> {
        self.directory().by_name.get(name).cloned()
    }

    /// The account owning number `to` (`+` ignored) or, failing that, the keyword that is
    /// `text`'s first word, among those allowed on `transport`.
    pub(crate) fn owner_by_address(
        &self,
        transport: &str,
        to: Option<&str>,
        text: Option<&str>,
    ) -> Option<Arc<Account>> {
        let directory = self.directory();
        let allowed = |a: &&Arc<Account>| a.transports.iter().any(|t| t == transport);
        let by_number = to
            .and_then(|n| directory.by_number.get(n.trim_start_matches('+')))
            .filter(allowed);
        by_number
            .or_else(|| {
                let word = text?.split_whitespace().next()?.to_lowercase();
                directory.by_keyword.get(&word).filter(allowed)
            })
            .cloned()
    }

    /// Authenticates the request (a token, or Basic), then counts it against the account's
    /// limit.
    ///
    /// # Errors
    /// [`ApiError::Unauthorized`], [`ApiError::RateLimited`], or [`ApiError::Busy`] when too
    /// many password verifications wait.
    pub(crate) async fn authenticate(
        &self,
        headers: &HeaderMap,
        peer: Option<std::net::IpAddr>,
    ) -> Result<Arc<Account>, ApiError> {
        let account = match credentials_of(headers).ok_or(ApiError::Unauthorized)? {
            Credentials::Token(token) => self
                .directory()
                .by_token
                .get(&credentials::token_digest(&token))
                .cloned()
                .ok_or(ApiError::Unauthorized)?,
            Credentials::Basic(user, password) => {
                let account = self
                    .directory()
                    .by_name
                    .get(&user)
                    .cloned()
                    .ok_or(ApiError::Unauthorized)?;
                if !self.check_password(&account, password, peer).await? {
                    if let Some(ip) = peer {
                        self.failed_logins.failed(ip, Instant::now());
                    }
                    return Err(ApiError::Unauthorized);
                }
                account
            }
        };
        self.count_shared(&account).await?;
        Ok(account)
    }

    /// The answer when no argon2 run is needed: the password is cached (admitted), or the
    /// address is past its failed-login limit (429; a cached password was admitted first, so
    /// the real user is never locked out by a guesser).
    fn without_argon2(
        &self,
        account: &Account,
        password: &str,
        peer: Option<std::net::IpAddr>,
    ) -> Option<Result<bool, ApiError>> {
        if account.verified.admits(&account.phc, password) {
            Login::Cached.emit();
            return Some(Ok(true));
        }
        let secs = peer.and_then(|ip| self.failed_logins.blocked(ip, Instant::now()))?;
        Login::Blocked.emit();
        Some(Err(ApiError::RateLimited {
            retry_after_seconds: secs.max(1),
        }))
    }

    /// Whether `password` is the account's: from the cache, or by argon2 on the pool (one
    /// verification per account at a time; the cache is read again after waiting).
    async fn check_password(
        &self,
        account: &Account,
        password: String,
        peer: Option<std::net::IpAddr>,
    ) -> Result<bool, ApiError> {
        if let Some(answer) = self.without_argon2(account, &password, peer) {
            return answer;
        }
        // Concurrent first logins of one account share one verification (they find it
        // cached after waiting); a wait is bounded, so guesses queued on this account never
        // hold a real login up for long (past it, the pool's own bound applies).
        let _one_at_a_time = tokio::time::timeout(Duration::from_secs(1), account.verifying.lock())
            .await
            .ok();
        // Again after the wait: another request may have cached it, and guesses sent all at
        // once must not each get argon2.
        if let Some(answer) = self.without_argon2(account, &password, peer) {
            return answer;
        }
        let ok = self
            .pool
            .verify(account.phc.clone(), password.clone())
            .await
            .map_err(|_| ApiError::Busy)?;
        if ok {
            account.verified.remember(&account.phc, &password);
        }
        Login::Verified { ok }.emit();
        Ok(ok)
    }

    /// Counts one request in the account's window: the one in Redis all instances share,
    /// or this process's (at its share of the limit when Redis cannot be asked).
    async fn count_shared(&self, account: &Account) -> Result<(), ApiError> {
        let Some((redis, instances)) = &self.shared else {
            return self.count(account, Instant::now(), account.limit);
        };
        let key = format!("api:rate:{}", account.username);
        let window_ms = u64::try_from(account.window.as_millis()).unwrap_or(u64::MAX);
        let args = [window_ms.to_string(), account.limit.to_string()];
        let asked = tokio::time::timeout(
            Duration::from_millis(500),
            redis.eval_i64(SHARED_WINDOW, &[&key], &[&args[0], &args[1]]),
        )
        .await;
        match asked {
            Ok(Ok(n)) if n > 0 => Ok(()),
            Ok(Ok(n)) => {
                let left = n.unsigned_abs();
                Err(ApiError::RateLimited {
                    retry_after_seconds: left.div_ceil(1000).max(1),
                })
            }
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "no answer in time".to_owned(),
                };
                tracing::warn!(message = "Cannot count the request in Redis; using this instance's share of the limit.", account = %account.username, error = %why);
                self.count(account, Instant::now(), (account.limit / instances).max(1))
            }
        }
    }

    /// Counts one request in the account's current window here, against `limit`.
    fn count(&self, account: &Account, now: Instant, limit: u32) -> Result<(), ApiError> {
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
        if w.count >= limit {
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

#[cfg(test)]
fn verify(phc: &str, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// What a request presents (no `Debug`: it holds the password or the token).
#[cfg_attr(test, derive(Debug, PartialEq, Eq))]
enum Credentials {
    Basic(String, String),
    Token(String),
}

/// The password of `Authorization: Basic …`, if the request has one.
pub(crate) fn basic_password(headers: &HeaderMap) -> Option<String> {
    match credentials_of(headers)? {
        Credentials::Basic(_, password) => Some(password),
        Credentials::Token(_) => None,
    }
}

/// `Authorization: Basic base64(user:password)` or `Authorization: Bearer <token>`.
fn credentials_of(headers: &HeaderMap) -> Option<Credentials> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        let token = rest.trim();
        return (!token.is_empty()).then(|| Credentials::Token(token.to_owned()));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some(Credentials::Basic(user.to_owned(), password.to_owned()))
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
        let huge = phc.replacen("m=19456", "m=4294967295", 1);
        assert!(
            check_phc(&huge).unwrap_err().contains("too large"),
            "{huge}"
        );
        assert!(check_phc("$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA").is_err());
    }

    #[test]
    fn authorization_headers_are_decoded() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, "Basic dXNlcjpwYTpzcw==".parse().unwrap());
        assert_eq!(
            credentials_of(&h),
            Some(Credentials::Basic("user".into(), "pa:ss".into()))
        );
        h.insert(AUTHORIZATION, "Bearer rmd_x".parse().unwrap());
        assert_eq!(credentials_of(&h), Some(Credentials::Token("rmd_x".into())));
        h.insert(AUTHORIZATION, "Bearer  ".parse().unwrap());
        assert_eq!(credentials_of(&h), None);
        h.insert(AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(credentials_of(&h), None);
        h.insert(AUTHORIZATION, "Digest x".parse().unwrap());
        assert_eq!(credentials_of(&h), None);
    }

    #[test]
    fn window_limits_and_resets() {
        let text = "transports = [\"t\"]\nrate_limit_requests = 2\n[[accounts]]\nusername = \"a\"\npassword_hash = \"x\"\n";
        let config: ApiConfig = toml::from_str(text).unwrap();
        let accounts = Accounts::new(&config);
        let a = accounts.get("a").unwrap();
        let t0 = Instant::now();
        assert!(accounts.count(&a, t0, a.limit).is_ok());
        assert!(accounts.count(&a, t0, a.limit).is_ok());
        match accounts.count(&a, t0 + Duration::from_millis(500), a.limit) {
            Err(ApiError::RateLimited {
                retry_after_seconds,
            }) => assert_eq!(retry_after_seconds, 60),
            other => panic!("{other:?}"),
        }
        assert!(
            accounts
                .count(&a, t0 + Duration::from_secs(60), a.limit)
                .is_ok()
        );
    }
}
