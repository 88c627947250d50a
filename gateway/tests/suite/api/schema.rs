//! The OpenAPI description, checked by schemathesis against the live API.

use super::*;

#[tokio::test]
async fn schemathesis_finds_no_server_error() {
    let python = common::env("RICHMOND_TEST_PYTHON");
    let cli = std::path::Path::new(&python).with_file_name("schemathesis");
    assert!(
        cli.exists(),
        "{} is missing: ./scripts/test installs scripts/requirements.txt",
        cli.display()
    );
    // The embedded bus: the API needs no broker for this.
    let (_d, gw, _carrier) = start(|t| Setup {
        amqp: false,
        extra_api: "rate_limit_requests = 100000".into(),
        ..Setup::amqp(t)
    })
    .await;
    let (user, password) = ALICE;
    let out = tokio::process::Command::new(&cli)
        .args([
            "run",
            &format!("http://{}/api/v1/openapi.json", gw.addr),
            "--checks",
            "not_a_server_error",
            "--auth",
            &format!("{user}:{password}"),
            "--max-examples",
            "25",
            "--phases",
            "examples,coverage,fuzzing",
            "--seed",
            "7",
            "--workers",
            "2",
            "--no-color",
        ])
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(_d.path())
        .output()
        .await
        .expect("run schemathesis");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert_eq!(out.status.code(), Some(0), "schemathesis:\n{text}");
    assert_eq!(gw.stop().await, Some(0));
}
