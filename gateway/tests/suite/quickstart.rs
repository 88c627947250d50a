//! The README quick start, run as written: the real binary on `config/richmond.toml` (embedded
//! bus, redb store, SMPP transport to the in-process SMSC simulator, HTTP API on loopback),
//! then the shell lines between the `quickstart:begin` / `quickstart:end` markers of README.md,
//! run with bash from the repository root: the callback receiver, the callback registration,
//! the send, and the status query (repeated until `delivered`). The receiver must print the
//! delivery report and the handset's MO answer.
//!
//! It uses the fixed loopback ports the README names (8080, 9464, 2775, 8000).

use richmond_tests::common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const PATIENCE: Duration = Duration::from_secs(60);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

/// The shell lines of the README's quick-start block (comments dropped).
fn readme_lines() -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let start = readme
        .find("<!-- quickstart:begin")
        .expect("README has the quickstart:begin marker");
    let end = readme
        .find("<!-- quickstart:end -->")
        .expect("README has the quickstart:end marker");
    readme[start..end]
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("```") && !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

async fn sh(line: &str) -> String {
    let out = Command::new("bash")
        .args(["-c", line])
        .current_dir(repo())
        .output()
        .await
        .expect("run bash");
    assert!(out.status.success(), "{line}: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

#[tokio::test]
async fn the_readme_quick_start_works_as_written() {
    let lines = readme_lines();
    assert_eq!(
        lines.len(),
        4,
        "receiver, callbacks, send, status: {lines:?}"
    );
    let data = tempfile::tempdir().expect("tempdir");
    let mut gateway = Command::new(env!("CARGO_BIN_EXE_richmond"))
        .args(["--config"])
        .arg(repo().join("config/richmond.toml"))
        .args(["--log-format", "json", "run"])
        .current_dir(data.path())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start richmond");
    let admin = "127.0.0.1:9464".parse().expect("addr");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while common::http_get(admin, "/ready").await.map(|r| r.0).ok() != Some(200) {
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // 1. The callback receiver (the README runs it in the background with `&`).
    let receiver_line = lines[0]
        .strip_suffix('&')
        .expect("receiver runs in the background");
    let mut receiver = Command::new("bash")
        .args(["-c", &format!("exec {receiver_line}")])
        .current_dir(repo())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the receiver");
    let mut callbacks = BufReader::new(receiver.stdout.take().expect("stdout")).lines();
    let first = callbacks.next_line().await.expect("read").expect("a line");
    assert!(first.contains("listening"), "{first}");

    // 2. Register the callbacks, 3. send.
    let registered: Value = serde_json::from_str(&sh(&lines[1]).await).expect("JSON");
    assert_eq!(
        registered["sms_received"], "http://127.0.0.1:8000/received",
        "{registered}"
    );
    let sent: Value = serde_json::from_str(&sh(&lines[2]).await).expect("JSON");
    let id = sent[0]["id"].as_str().expect("an id").to_owned();
    assert_eq!(sent[0]["to_msisdn"], "+27831234567", "{sent}");
    assert_eq!(sent[0]["transport_status"], "pending", "{sent}");

    // 4. The status turns delivered.
    let status_line = lines[3].replace("<id>", &id);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let status: Value = serde_json::from_str(&sh(&status_line).await).expect("JSON");
        if status["transport_status"] == "delivered" {
            assert!(status["delivered_at"].is_string(), "{status}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never delivered: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The receiver gets the delivery report and the handset's answer.
    let (mut receipt, mut mo) = (None, None);
    while receipt.is_none() || mo.is_none() {
        let line = tokio::time::timeout(PATIENCE, callbacks.next_line())
            .await
            .expect("a callback in time")
            .expect("read")
            .expect("receiver running");
        let v: Value = serde_json::from_str(&line).expect("JSON line");
        match v["path"].as_str() {
            Some("/receipt") => receipt = Some(v["body"].clone()),
            Some("/received") => mo = Some(v["body"].clone()),
            other => panic!("unexpected callback path {other:?}: {line}"),
        }
    }
    let receipt = receipt.unwrap_or_default();
    assert_eq!(receipt["id"], id.as_str(), "{receipt}");
    assert_eq!(receipt["transport_status"], "delivered", "{receipt}");
    let mo = mo.unwrap_or_default();
    let text = mo.to_string();
    assert!(
        text.contains("Thanks! You said: Hello from Richmond") && text.contains("27831234567"),
        "{mo}"
    );

    let pid = gateway.id().expect("pid").to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let code = tokio::time::timeout(PATIENCE, gateway.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("wait");
    assert_eq!(code.code(), Some(0));
    let _ = receiver.kill().await;
}
