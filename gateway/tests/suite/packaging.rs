//! Packaging for operators (issue 23, point 5): the Grafana dashboard's every query
//! names a metric the binary exports (its catalogue, which `/metrics` describes, and the
//! live `/metrics` for those present from the start); the systemd unit passes
//! `systemd-analyze verify` without a warning; the compose file is well-formed (parsed as
//! YAML, every dependency and mounted file present, each gateway config accepted by
//! `check-config`); the Dockerfile builds in stages and runs unprivileged with a health check
//! on `/ready`; the .deb (cargo-deb) installs as root with its user, conffile and unit,
//! `systemd-analyze verify` is clean on the installed unit, and it purges.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use richmond_tests::common;
use richmond_tests::procs::Gateway;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf()
}

/// Every query in a Grafana dashboard: panels' `expr`, variables' `definition`.
fn exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr" | "definition", serde_json::Value::String(e)) => out.push(e.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

/// The metric names a dashboard's queries use (histogram series reduced to the histogram).
fn dashboard_metrics() -> BTreeSet<String> {
    let path = repo().join("packaging/grafana/richmond.json");
    let text = std::fs::read_to_string(&path).expect("the dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let mut queries = Vec::new();
    exprs(&dashboard, &mut queries);
    assert!(queries.len() >= 20, "{} queries", queries.len());
    let name = regex::Regex::new(r"richmond_[a-z0-9_]+").expect("regex");
    let mut names = BTreeSet::new();
    for q in &queries {
        for m in name.find_iter(q) {
            let m = m.as_str();
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| m.strip_suffix(s))
                .unwrap_or(m);
            names.insert(base.to_owned());
        }
    }
    names
}

#[tokio::test]
async fn every_dashboard_query_names_an_exported_metric() {
    let exported: BTreeSet<&str> = richmond::telemetry::all_metrics()
        .iter()
        .map(|m| m.name)
        .collect();
    let used = dashboard_metrics();
    let unknown: Vec<&String> = used
        .iter()
        .filter(|n| !exported.contains(n.as_str()))
        .collect();
    assert!(unknown.is_empty(), "not exported: {unknown:?}");
    // The live endpoint: the metrics set from the start are there under the same names.
    let config =
        "data_dir = \"{data_dir}\"\n[admin]\naddress = \"{admin}\"\n[bus]\ntype = \"embedded\"\n";
    let mut gw = Gateway::start(config).await;
    gw.wait_ready(200).await;
    let present = |body: &str, name: &str| {
        body.lines().any(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        })
    };
    for always in ["richmond_ready", "richmond_component_up"] {
        assert!(used.contains(always), "{always} not on the dashboard");
        // Set by the readiness task: awaited, not assumed.
        let deadline = tokio::time::Instant::now() + richmond_tests::procs::PATIENCE;
        loop {
            let (status, body) = common::http_get(gw.admin, "/metrics")
                .await
                .expect("/metrics");
            assert_eq!(status, 200);
            if present(&body, always) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{always} not in /metrics:\n{body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[test]
fn the_systemd_unit_verifies_without_a_warning() {
    let unit = std::fs::read_to_string(repo().join("packaging/systemd/richmond.service"))
        .expect("the unit");
    assert!(unit.contains("ExecStart=/usr/bin/richmond --config /etc/richmond/richmond.toml"));
    for hardening in [
        "Restart=always",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "User=richmond",
        "ConfigurationDirectory=richmond",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.contains(hardening), "{hardening}");
    }
    // verify wants the binary to exist: the one this test built stands in for /usr/bin's.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("richmond.service");
    let unit = unit.replace("/usr/bin/richmond", env!("CARGO_BIN_EXE_richmond"));
    std::fs::write(&path, unit).expect("write");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (the systemd package)");
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    // Only what it says of this unit counts (a host's own units may draw warnings).
    let about_it = said.lines().filter(|l| l.contains("richmond")).count();
    assert!(out.status.success() && about_it == 0, "{said}");
}

const COMPOSE_CHECK: &str = r#"
import json, sys, yaml
with open(sys.argv[1]) as f:
    doc = yaml.safe_load(f)
print(json.dumps(doc))
"#;

#[test]
fn the_compose_file_is_well_formed() {
    let dir = repo().join("packaging/compose");
    let out = Command::new(common::env("RICHMOND_TEST_PYTHON"))
        .args(["-c", COMPOSE_CHECK])
        .arg(dir.join("compose.yaml"))
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let services = doc["services"].as_object().expect("services");
    for want in [
        "rabbit1",
        "rabbit2",
        "rabbit3",
        "redis",
        "redis-replica",
        "sentinel",
        "smsc",
        "gateway1",
        "gateway2",
    ] {
        assert!(services.contains_key(want), "{want}");
    }
    for (name, s) in services {
        assert!(
            s["image"].is_string() || s["build"].is_object(),
            "{name}: no image"
        );
        let deps: Vec<&str> = match &s["depends_on"] {
            serde_json::Value::Array(a) => a.iter().filter_map(|d| d.as_str()).collect(),
            serde_json::Value::Object(m) => m.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        for d in deps {
            assert!(services.contains_key(d), "{name} depends on unknown {d}");
        }
        for v in s["volumes"].as_array().into_iter().flatten() {
            let source = v
                .as_str()
                .and_then(|v| v.split(':').next())
                .unwrap_or_default();
            if source.starts_with("./") {
                assert!(dir.join(source).is_file(), "{name}: {source} missing");
            } else {
                assert!(
                    doc["volumes"].get(source).is_some(),
                    "{name}: volume {source} undeclared"
                );
            }
        }
    }
    for gateway in ["gateway1", "gateway2"] {
        let g = &services[gateway];
        assert_eq!(g["build"]["dockerfile"], "Dockerfile", "{gateway}");
        assert!(
            dir.join(g["build"]["context"].as_str().unwrap())
                .join("Dockerfile")
                .is_file()
        );
        let config = g["volumes"][0]
            .as_str()
            .and_then(|v| v.split(':').next())
            .unwrap();
        let checked = Command::new(env!("CARGO_BIN_EXE_richmond"))
            .arg("--config")
            .arg(dir.join(config))
            .arg("check-config")
            .output()
            .expect("check-config");
        assert!(
            checked.status.success(),
            "{config}: {}",
            String::from_utf8_lossy(&checked.stderr)
        );
    }
}

#[test]
fn the_dockerfile_builds_in_stages_and_runs_unprivileged_with_a_health_check() {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).expect("the Dockerfile");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let from = lines.iter().filter(|l| l.starts_with("FROM ")).count();
    assert!(from >= 2, "multi-stage: {from} FROM");
    let user = lines
        .iter()
        .rev()
        .find(|l| l.starts_with("USER "))
        .expect("USER");
    assert!(!user.contains("root") && !user.contains(" 0"), "{user}");
    let check = lines
        .iter()
        .position(|l| l.starts_with("HEALTHCHECK"))
        .expect("HEALTHCHECK");
    assert!(
        lines[check..].iter().take(3).any(|l| l.contains("/ready")),
        "the check reads /ready"
    );
    assert!(text.contains("COPY --from=build"));
}

/// Runs `cmd args…` as root (directly, or through `sudo -n`); its output.
fn as_root(cmd: &str, args: &[&str]) -> std::process::Output {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let mut c = if root {
        Command::new(cmd)
    } else {
        let mut s = Command::new("sudo");
        s.args(["-n", cmd]);
        s
    };
    c.args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} (as root; run the tests as root or with sudo): {e}"))
}

fn ok(out: &std::process::Output, what: &str) -> String {
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what}: {text}");
    text
}

#[test]
fn the_deb_installs_verifies_runs_and_purges() {
    // Made by cargo-deb from the binary these tests built (operators run `cargo deb -p
    // richmond`, a release build; the package's layout is the same).
    let bin = Path::new(env!("CARGO_BIN_EXE_richmond"));
    let target = bin.parent().and_then(Path::parent).expect("the target dir");
    let out = tempfile::tempdir().expect("tempdir");
    let built = Command::new("cargo")
        .args([
            "deb",
            "-p",
            "richmond",
            "--no-build",
            "--profile",
            "dev",
            "--fast",
        ])
        .arg("--output")
        .arg(out.path())
        .env("CARGO_TARGET_DIR", target)
        .current_dir(repo())
        .output()
        .expect("cargo deb (cargo install cargo-deb; ./scripts/test installs it)");
    ok(&built, "cargo deb");
    let deb = std::fs::read_dir(out.path())
        .expect("output")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("a .deb");
    let deb = deb.to_str().expect("utf-8 path");
    let info = ok(
        &Command::new("dpkg-deb")
            .args(["--info", deb])
            .output()
            .unwrap(),
        "info",
    );
    assert!(
        info.contains("Package: richmond") && info.contains("adduser"),
        "{info}"
    );
    let contents = ok(
        &Command::new("dpkg-deb")
            .args(["--contents", deb])
            .output()
            .unwrap(),
        "contents",
    );
    for file in [
        "./usr/bin/richmond",
        "./etc/richmond/richmond.toml",
        "systemd/system/richmond.service",
        "./usr/share/doc/richmond/examples/cluster.toml",
    ] {
        assert!(contents.contains(file), "{file} not in {contents}");
    }

    // Never over an installation this test did not make (its purge would remove the
    // host's /var/lib/richmond).
    let before = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "richmond"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&before.stdout).contains("ok installed"),
        "a richmond package is installed on this host; this test installs and purges its own"
    );
    // Purged whatever happens below (also when an assertion fails).
    struct Purge;
    impl Drop for Purge {
        fn drop(&mut self) {
            let _ = as_root("dpkg", &["--purge", "richmond"]);
        }
    }
    let purge = Purge;
    ok(&as_root("dpkg", &["-i", deb]), "dpkg -i");
    let installed = std::panic::catch_unwind(|| {
        let user = ok(
            &Command::new("id")
                .args(["-nG", "richmond"])
                .output()
                .unwrap(),
            "id",
        );
        assert!(user.split_whitespace().any(|g| g == "dialout"), "{user}");
        let mode = ok(
            &as_root("stat", &["-c", "%a %U:%G", "/etc/richmond/richmond.toml"]),
            "stat",
        );
        assert_eq!(mode.trim(), "640 root:richmond");
        let check = as_root(
            "/usr/bin/richmond",
            &["--config", "/etc/richmond/richmond.toml", "check-config"],
        );
        ok(&check, "check-config of the shipped configuration");
        let files = ok(
            &Command::new("dpkg")
                .args(["-L", "richmond"])
                .output()
                .unwrap(),
            "dpkg -L",
        );
        let unit = files
            .lines()
            .find(|l| l.ends_with("systemd/system/richmond.service"))
            .expect("the unit installed");
        let verify = Command::new("systemd-analyze")
            .args(["verify", unit])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&verify.stderr).into_owned()
            + &String::from_utf8_lossy(&verify.stdout);
        let about_it = said.lines().filter(|l| l.contains("richmond")).count();
        assert!(verify.status.success() && about_it == 0, "{said}");
    });
    drop(purge);
    assert!(!Path::new("/usr/bin/richmond").exists(), "purged");
    if let Err(p) = installed {
        std::panic::resume_unwind(p);
    }
}
