//! The API's accounts as requests see them: each [`Account`] (password hash, its
//! verified-password cache, transports, rate limit) and the [`Directory`] that finds one by
//! name, token digest, owned number or keyword. Built from `[[api.accounts]]`; replaced whole
//! on SIGHUP (`super::auth::Accounts::reload`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::config::ApiConfig;
use super::credentials::Cache;

/// One configured account, ready for requests.
pub(crate) struct Account {
    pub(crate) username: String,
    pub(super) phc: Arc<str>,
    /// Held while a password of this account is checked by argon2: concurrent first requests
    /// wait for one verification and then find it cached, instead of running one each.
    pub(super) verifying: tokio::sync::Mutex<()>,
    /// The password that last verified (see [`credentials::Cache`]).
    pub(super) verified: Cache,
    pub(crate) transports: Vec<String>,
    pub(super) limit: u32,
    pub(super) window: Duration,
}

impl std::fmt::Debug for Account {
    /// The username only: the PHC string and the cache never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The configured accounts, looked up four ways.
pub(super) struct Directory {
    pub(super) by_name: HashMap<String, Arc<Account>>,
    /// Token digest (`sha256:<hex>`) → account.
    pub(super) by_token: HashMap<String, Arc<Account>>,
    /// Owned number (without `+`) → account, and owned keyword (lower case) → account.
    pub(super) by_number: HashMap<String, Arc<Account>>,
    pub(super) by_keyword: HashMap<String, Arc<Account>>,
}

impl Directory {
    pub(super) fn new(config: &ApiConfig) -> Self {
        let by_name: HashMap<String, Arc<Account>> = config
            .accounts
            .iter()
            .map(|a| {
                let account = Account {
                    username: a.username.clone(),
                    phc: a
                        .password_hash
                        .as_ref()
                        .map(|s| s.expose().into())
                        .unwrap_or_else(|| "".into()),
                    verifying: tokio::sync::Mutex::new(()),
                    verified: Cache::new(),
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
        Self::index(by_name, config)
    }

    /// The lookups by token, number and keyword over `by_name`.
    pub(super) fn index(by_name: HashMap<String, Arc<Account>>, config: &ApiConfig) -> Self {
        let by_token = config
            .accounts
            .iter()
            .flat_map(|a| {
                let account = by_name.get(&a.username).cloned();
                a.token_digests
                    .iter()
                    .filter_map(move |d| Some((d.expose().to_owned(), account.clone()?)))
            })
            .collect();
        let mut by_number = HashMap::new();
        let mut by_keyword = HashMap::new();
        for a in &config.accounts {
            if let Some(account) = by_name.get(&a.username) {
                for n in &a.numbers {
                    by_number.insert(n.trim_start_matches('+').to_owned(), account.clone());
                }
                for k in &a.keywords {
                    by_keyword.insert(k.to_lowercase(), account.clone());
                }
            }
        }
        Self {
            by_name,
            by_token,
            by_number,
            by_keyword,
        }
    }
}
