//! Servers a test or bench starts for itself through the project's scripts
//! (`scripts/lib/rabbitmq-cluster`, `scripts/lib/redis-sentinel`): started in a private
//! directory, their addresses read from the `env` file the script writes, stopped when the
//! handle is dropped (also on a panic).

use std::collections::HashMap;
use std::path::PathBuf;

/// `scripts/lib/<name>`.
pub fn script(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts/lib")
        .join(name)
}

/// Runs `scripts/lib/<name> args…`; its standard output.
///
/// # Panics
/// When it fails, with its output.
pub async fn run(name: &str, args: &[&str]) -> String {
    let out = tokio::process::Command::new(script(name))
        .args(args)
        .output()
        .await
        .expect("run the script");
    assert!(
        out.status.success(),
        "{name} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Servers one script started; `stop`ped on drop.
pub struct Servers {
    script: &'static str,
    dir: tempfile::TempDir,
    /// The script's `env` file: `KEY="value"` lines.
    pub env: HashMap<String, String>,
}

impl Servers {
    /// `script start DIR` in a fresh directory (readable by the `rabbitmq` user the brokers
    /// run as under root).
    ///
    /// # Panics
    /// When the script fails or writes no env file.
    pub async fn start(script: &'static str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        let path = dir.path().to_str().expect("utf-8 path").to_owned();
        // Made before the start, so a failed start is still stopped.
        let mut servers = Self {
            script,
            dir,
            env: HashMap::new(),
        };
        run(script, &["start", &path]).await;
        servers.env = std::fs::read_to_string(servers.dir.path().join("env"))
            .expect("env file")
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
            .collect();
        servers
    }

    /// The directory the script keeps them in (its argument to the other commands).
    pub fn path(&self) -> &str {
        self.dir.path().to_str().expect("utf-8 path")
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        let _ = std::process::Command::new(script(self.script))
            .args(["stop", self.path()])
            .status();
    }
}
