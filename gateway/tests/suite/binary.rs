//! The real `richmond` binary: check-config exit codes, the admin endpoints (with promtool
//! on /metrics), and a clean drain on SIGTERM.

use richmond_tests::common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn richmond() -> Command {
    Command::new(env!("CARGO_BIN_EXE_richmond"))
}

fn write_config(dir: &Path, admin_port: u16, extra: &str) -> std::path::PathBuf {
    let p = dir.join("richmond.toml");
    let text = format!(
        "data_dir = {:?}\n[admin]\naddress = \"127.0.0.1:{admin_port}\"\n[shutdown]\ndrain_timeout_seconds = 10\n{extra}",
        dir.join("data").display().to_string()
    );
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn check_config_accepts_good_and_rejects_bad_with_78() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_config(dir.path(), 1, "");
    let out = richmond()
        .args(["--config", good.to_str().unwrap(), "check-config"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[admin]\nadress = \"127.0.0.1:1\"\n").unwrap();
    let out = richmond()
        .args(["--config", bad.to_str().unwrap(), "check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("adress") && err.contains("line 2") && err.contains("bad.toml"),
        "{err}"
    );

    let out = richmond().args(["--no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

#[test]
fn check_config_print_redacts_secrets_and_checks_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        1,
        "[bus]\ntype = \"amqp\"\nurl = \"amqp://u:topsecret@127.0.0.1/%2f\"\n",
    );
    let out = richmond()
        .args(["--config", cfg.to_str().unwrap(), "check-config", "--print"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("<redacted>") && !text.contains("topsecret"),
        "{text}"
    );

    // A data_dir that cannot be created (a file is in the way) is a config error.
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"x").unwrap();
    let p = dir.path().join("c.toml");
    std::fs::write(
        &p,
        format!(
            "data_dir = {:?}\n",
            blocker.join("sub").display().to_string()
        ),
    )
    .unwrap();
    let out = richmond()
        .args(["--config", p.to_str().unwrap(), "check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("data_dir"));
}

#[test]
fn help_reads_like_a_man_page() {
    let out = richmond().arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for section in ["FILES:", "ENVIRONMENT:", "SIGNALS:", "EXIT STATUS:"] {
        assert!(text.contains(section), "missing {section}");
    }
}

#[tokio::test]
async fn runs_serves_admin_and_drains_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let cfg = write_config(dir.path(), port, "");
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_richmond"))
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "--log-format",
            "json",
            "run",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut ready = (0, String::new());
    for _ in 0..600 {
        if let Ok(r) = common::http_get(addr, "/ready").await {
            ready = r;
            if ready.0 == 200 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ready.0, 200, "{}", ready.1);
    assert_eq!(common::http_get(addr, "/live").await.unwrap().0, 200);
    let (status, metrics) = common::http_get(addr, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    assert!(metrics.contains("richmond_build_info"), "{metrics}");
    assert!(metrics.contains("richmond_ready 1"), "{metrics}");
    // The process's own resources and the data files (embedded default: spool and store).
    for name in [
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_threads",
        "process_cpu_seconds_total",
        "process_start_time_seconds",
        "richmond_data_file_bytes{file=\"spool\"}",
        "richmond_data_file_bytes{file=\"store\"}",
    ] {
        let value: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
            .parse()
            .unwrap();
        assert!(value >= 0.0, "{name} {value}");
        if name.starts_with("process_resident") || name.starts_with("richmond_data") {
            assert!(value > 0.0, "{name} {value}");
        }
    }

    // The store's entries by kind, counted by the purge that runs at start (awaited).
    let mut metrics = metrics;
    for _ in 0..600 {
        if metrics.contains("richmond_store_entries{kind=\"api:msg\"}") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        metrics = common::http_get(addr, "/metrics").await.unwrap().1;
    }
    for kind in ["smpp:id", "api:msg", "api:cb", "other"] {
        let line = format!("richmond_store_entries{{kind=\"{kind}\"}} ");
        assert!(metrics.contains(&line), "no {line} in {metrics}");
    }

    // promtool accepts the exposition.
    let promtool = common::env("RICHMOND_TEST_PROMTOOL");
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let out = sigterm_and_wait(child).await;
    assert_eq!(out.status.code(), Some(0), "exit after SIGTERM");
    let logs = String::from_utf8_lossy(&out.stdout);
    assert!(
        logs.lines()
            .all(|l| l.trim().is_empty() || l.starts_with('{')),
        "JSON lines: {logs}"
    );
    assert!(logs.contains("Draining"), "{logs}");
}

/// Sends SIGTERM to the gateway and waits for it to exit.
async fn sigterm_and_wait(child: tokio::process::Child) -> std::process::Output {
    let pid = child.id().expect("running").to_string();
    let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(kill.success());
    child.wait_with_output().await.unwrap()
}

#[tokio::test]
async fn no_configured_secret_shows_in_print_errors_or_logs() {
    let dir = tempfile::tempdir().unwrap();
    let admin = common::free_port();
    // Secrets in the file, and numeric ones from the environment (a PIN-like password must stay
    // a string, and never show in a type error).
    let cfg = write_config(
        dir.path(),
        admin,
        "[bus]\ntype = \"amqp\"\nurl = \"amqp://u:Amqp5ecret@127.0.0.1:99999/%2f\"\n\
         reconnect_initial_seconds = 0.1\nreconnect_max_seconds = 0.2\n\
         [transports.s1]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = 1\nsystem_id = \"a\"\n\
         password = \"placeholder\"\n\
         [transports.s2]\ntype = \"ssmi\"\nhost = \"127.0.0.1\"\nport = 1\nusername = \"a\"\n\
         password = \"placeholder\"\n\
         [transports.m1]\ntype = \"modem\"\ndevice = \"/dev/richmond-no-such-modem\"\n\
         msisdn = \"+27830000001\"\npin = \"8462\"\n\
         [simulator.smsc]\nlisten = \"127.0.0.1:0\"\npassword = \"Sim5ecret\"\n",
    );
    let env = [
        ("RICHMOND__TRANSPORTS__S1__PASSWORD", "73195"),
        ("RICHMOND__TRANSPORTS__S2__PASSWORD", "0042917"),
    ];
    let secrets = ["Amqp5ecret", "Sim5ecret", "73195", "0042917", "8462"];
    let out = richmond()
        .args(["--config", cfg.to_str().unwrap(), "check-config", "--print"])
        .envs(env)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    for s in secrets {
        assert!(!text.contains(s), "check-config --print shows a secret");
    }
    // The gateway itself, retrying a broker URL it cannot use: its log names the failure,
    // never the password.
    let log_path = dir.path().join("richmond.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_richmond"))
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "--log-level",
            "debug",
            "run",
        ])
        .envs(env)
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for _ in 0..600 {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if text.matches("Cannot connect to the broker").count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nor do its metrics.
    let (_, metrics) = common::http_get(([127, 0, 0, 1], admin).into(), "/metrics")
        .await
        .unwrap();
    let _ = sigterm_and_wait(child).await;
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(text.contains("Cannot connect to the broker"), "{text}");
    for s in secrets {
        assert!(!text.contains(s), "the log shows a secret: {text}");
        assert!(!metrics.contains(s), "/metrics shows a secret");
    }
    // A Redis store it cannot reach: the gateway stops with an error naming the server,
    // never the password.
    let cfg = write_config(
        dir.path(),
        common::free_port(),
        &format!(
            "[store]\ntype = \"redis\"\nurl = \"redis://:Redis5ecret@127.0.0.1:{}/\"\n",
            common::free_port()
        ),
    );
    let out = richmond()
        .args(["--config", cfg.to_str().unwrap(), "run"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("127.0.0.1"), "{text}");
    assert!(
        !text.contains("Redis5ecret"),
        "the error shows the Redis password: {text}"
    );
}
