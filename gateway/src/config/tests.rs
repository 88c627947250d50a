use super::*;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

#[test]
fn empty_file_gives_the_embedded_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let c = Config::load(&write(&dir, "a.toml", ""), no_env()).unwrap();
    assert!(matches!(c.bus, BusConfig::Embedded(ref e) if e.durability == Durability::Sync));
    assert!(matches!(c.store, StoreConfig::Redb { .. }));
    assert_eq!(c.admin.address.to_string(), "127.0.0.1:9464");
    assert_eq!(c.shutdown.drain_timeout_seconds, 25);
}

#[test]
fn a_misspelt_key_is_named_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "bad.toml",
        "[admin]\naddress = \"127.0.0.1:1\"\n\n[shutdown]\ndrain_timeout_secnds = 3\n",
    );
    let e = Config::load(&p, no_env()).unwrap_err().to_string();
    assert!(e.contains("bad.toml"), "{e}");
    assert!(e.contains("line 5"), "{e}");
    assert!(e.contains("drain_timeout_secnds"), "{e}");
}

#[test]
fn env_overrides_keep_types_and_name_the_variable_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "a.toml", "[shutdown]\ndrain_timeout_seconds = 3\n");
    let env = vec![
        (
            "RICHMOND__SHUTDOWN__DRAIN_TIMEOUT_SECONDS".to_owned(),
            "7".to_owned(),
        ),
        (
            "RICHMOND__ADMIN__ADDRESS".to_owned(),
            "127.0.0.1:9999".to_owned(),
        ),
        ("UNRELATED".to_owned(), "x".to_owned()),
    ];
    let c = Config::load(&p, env).unwrap();
    assert_eq!(c.shutdown.drain_timeout_seconds, 7);
    assert_eq!(c.admin.address.port(), 9999);

    let bad = vec![("RICHMOND__SHUTDOWN__NOPE".to_owned(), "1".to_owned())];
    let e = Config::load(&p, bad).unwrap_err().to_string();
    assert!(e.contains("RICHMOND__SHUTDOWN__NOPE"), "{e}");
    assert!(e.contains("nope"), "{e}");
}

#[test]
fn secrets_come_from_files_and_are_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let secret = write(&dir, "amqp-url", "amqp://u:hunter2@127.0.0.1:5672/%2f\n");
    let p = write(
        &dir,
        "a.toml",
        &format!(
            "[bus]\ntype = \"amqp\"\nurl_file = {:?}\n",
            secret.display().to_string()
        ),
    );
    let c = Config::load(&p, no_env()).unwrap();
    let BusConfig::Amqp(a) = &c.bus else {
        panic!("amqp expected")
    };
    assert_eq!(
        a.url.as_ref().unwrap().expose(),
        "amqp://u:hunter2@127.0.0.1:5672/%2f"
    );
    let printed = c.to_redacted_toml();
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(printed.contains("<redacted>"), "{printed}");
    assert!(!format!("{c:?}").contains("hunter2"));

    let both = write(
        &dir,
        "b.toml",
        &format!(
            "[bus]\ntype = \"amqp\"\nurl = \"amqp://x\"\nurl_file = {:?}\n",
            secret.display().to_string()
        ),
    );
    let e = Config::load(&both, no_env()).unwrap_err().to_string();
    assert!(e.contains("bus.url and bus.url_file"), "{e}");
}

#[test]
fn transport_ids_must_be_lower_case() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "a.toml",
        "[transports.Smpp1]\ntype = \"modem\"\ndevice = \"/dev/ttyUSB0\"\n",
    );
    let e = Config::load(&p, no_env()).unwrap_err().to_string();
    assert!(e.contains("transports.Smpp1"), "{e}");
    assert!(e.contains("lower-case"), "{e}");
}

#[test]
fn unknown_transport_type_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "a.toml",
        "[transports.x]\ntype = \"carrier-pigeon\"\n",
    );
    let e = Config::load(&p, no_env()).unwrap_err().to_string();
    assert!(e.contains("carrier-pigeon"), "{e}");
}

#[test]
fn amqp_needs_a_url() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "a.toml", "[bus]\ntype = \"amqp\"\n");
    let e = Config::load(&p, no_env()).unwrap_err().to_string();
    assert!(e.contains("bus.url"), "{e}");
}

#[test]
fn shipped_configs_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let mut n = 0;
    for dir in [root.clone(), root.join("examples")] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_some_and(|e| e == "toml") {
                Config::load(&p, no_env()).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                n += 1;
            }
        }
    }
    assert!(n >= 3, "expected the shipped configs and examples");
}

fn api_section(hash: &str, extra: &str) -> String {
    format!(
        "[api]\ntransports = [\"sms1\"]\n{extra}\n[[api.accounts]]\nusername = \"alice\"\npassword_hash = {hash:?}\n"
    )
}

#[test]
fn api_section_defaults_and_redacted_hash() {
    let dir = tempfile::tempdir().unwrap();
    let phc = crate::api::auth::hash_password("pw").unwrap();
    let c = Config::load(&write(&dir, "a.toml", &api_section(&phc, "")), no_env()).unwrap();
    let api = c.api.as_ref().unwrap();
    assert_eq!(api.address.to_string(), "127.0.0.1:8080");
    assert_eq!(
        (api.rate_limit_requests, api.rate_limit_window_seconds),
        (60, 60)
    );
    assert_eq!(api.accounts[0].allowed(api), ["sms1".to_owned()]);
    let printed = c.to_redacted_toml();
    assert!(!printed.contains(&phc), "{printed}");

    // From a file, exclusive with the plain key.
    let hash_file = write(&dir, "hash", &format!("{phc}\n"));
    let text = format!(
        "[api]\ntransports = [\"sms1\"]\n[[api.accounts]]\nusername = \"bob\"\npassword_hash_file = {:?}\n",
        hash_file.display().to_string()
    );
    let c = Config::load(&write(&dir, "b.toml", &text), no_env()).unwrap();
    let api = c.api.unwrap();
    assert_eq!(
        api.accounts[0].password_hash.as_ref().unwrap().expose(),
        phc
    );
}

#[test]
fn api_section_errors_name_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let phc = crate::api::auth::hash_password("pw").unwrap();
    let cases = [
        (
            api_section("plain-password", ""),
            "api.accounts[0].password_hash",
        ),
        (
            api_section(&phc, "address = \"127.0.0.1:9464\""),
            "api.address",
        ),
        (
            api_section(&phc, "rate_limit_requests = 0"),
            "api.rate_limit_requests",
        ),
        (
            api_section(&phc, "max_recipients = 0"),
            "api.max_recipients",
        ),
        (api_section(&phc, "bogus = 1"), "bogus"),
        (
            "[api]\ntransports = [\"sms1\"]\n".to_owned(),
            "api.accounts",
        ),
        (
            format!(
                "[api]\ntransports = [\"Bad Id\"]\n[[api.accounts]]\nusername = \"a\"\npassword_hash = {phc:?}\n"
            ),
            "api.transports[0]",
        ),
        (
            format!(
                "[api]\ntransports = [\"t\"]\n[[api.accounts]]\nusername = \"a\"\npassword_hash = {phc:?}\ntransports = [\"u\"]\n"
            ),
            "api.accounts[0].transports",
        ),
        (
            format!(
                "[api]\ntransports = [\"t\"]\n[[api.accounts]]\nusername = \"a\"\npassword_hash = {phc:?}\n[[api.accounts]]\nusername = \"a\"\npassword_hash = {phc:?}\n"
            ),
            "api.accounts[1].username",
        ),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let name = format!("bad{i}.toml");
        let e = Config::load(&write(&dir, &name, text), no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains(&name) && e.contains(key), "case {i}: {e}");
    }
}

#[test]
fn huge_delays_are_refused_at_load_naming_the_key_instead_of_panicking_later() {
    let dir = tempfile::tempdir().unwrap();
    let smpp = "[transports.s]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = 2775\n\
                system_id = \"a\"\npassword = \"b\"\n";
    let ssmi = "[transports.s]\ntype = \"ssmi\"\nhost = \"127.0.0.1\"\nport = 2775\n\
                username = \"a\"\npassword = \"b\"\n";
    for (text, key) in [
        (
            format!("{smpp}reconnect_max_seconds = 1e20\n"),
            "reconnect_max_seconds",
        ),
        (
            format!("{smpp}throttle_backoff_seconds = 1e20\n"),
            "throttle_backoff_seconds",
        ),
        (
            format!("{ssmi}reconnect_max_seconds = 1e20\n"),
            "reconnect_max_seconds",
        ),
        (
            "[bus]\ntype = \"amqp\"\nurl = \"amqp://localhost\"\nreconnect_max_seconds = 1e20\n"
                .to_owned(),
            "bus.reconnect",
        ),
    ] {
        let p = write(&dir, "a.toml", &text);
        let e = Config::load(&p, no_env()).unwrap_err().to_string();
        assert!(e.contains(key) && e.contains("86400"), "{text}: {e}");
    }
}

#[test]
fn bus_and_store_schemes_the_build_cannot_honour_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["h".into()]).expect("rcgen");
    let ca = write(&dir, "ca.pem", &made.cert.pem());
    let bad_ca = write(&dir, "bad-ca.pem", "-----BEGIN CERTIFICATE-----\n");
    let ca = ca.display().to_string();
    for (text, fine, needle) in [
        ("[bus]\ntype = \"amqp\"\nurl = \"amqps://u:p@h/%2f\"\n".to_owned(), true, ""),
        (
            format!("[bus]\ntype = \"amqp\"\nurl = \"amqps://u:p@h/%2f\"\ntls_ca_file = {ca:?}\n"),
            true,
            "",
        ),
        (
            format!("[bus]\ntype = \"amqp\"\nurl = \"amqp://u:p@h/%2f\"\ntls_ca_file = {ca:?}\n"),
            false,
            "bus.tls_ca_file",
        ),
        ("[bus]\ntype = \"amqp\"\nurl = \"http://h/\"\n".to_owned(), false, "amqps://"),
        (
            format!("[bus]\ntype = \"amqp\"\nurl = \"amqps://u:p@h/%2f\"\ntls_ca_file = {bad_ca:?}\n"),
            false,
            "not a PEM certificate bundle",
        ),
        (
            "[bus]\ntype = \"amqp\"\nurl = \"amqps://u:p@h/%2f\"\ntls_cert_file = \"/nonexistent\"\n"
                .to_owned(),
            false,
            "bus.tls_cert_file",
        ),
        ("[store]\ntype = \"redis\"\nurl = \"rediss://h/\"\n".to_owned(), true, ""),
        (
            "[store]\ntype = \"redis\"\nurl = \"rediss://u:p@h/#insecure\"\n".to_owned(),
            false,
            "#insecure",
        ),
        (
            "[store]\ntype = \"redis\"\nurl = \"redis://h/\"\ntls_ca_file = \"/etc/hostname\"\n"
                .to_owned(),
            false,
            "store.tls_ca_file",
        ),
        ("[store]\ntype = \"redis\"\nurl = \"http://h/\"\n".to_owned(), false, "store.url"),
        ("[store]\ntype = \"redis\"\nurl = \"redis://h/\"\n".to_owned(), true, ""),
        // Durations and sizes beyond any sane value (a deadline would overflow, Redis would
        // refuse the expiry, a frame could take 4 GiB).
        (
            "[transports.s]\ntype = \"smpp\"\nhost = \"h\"\nport = 1\nsystem_id = \"a\"\npassword = \"b\"\nmultipart_timeout_seconds = 18446744073709551615\n".to_owned(),
            false,
            "multipart_timeout_seconds",
        ),
        ("[transports.s]\ntype = \"smpp\"\nhost = \"h\"\nport = 1\nsystem_id = \"a\"\npassword = \"b\"\nreceipt_ttl_seconds = 999999999999\n".to_owned(), false, "receipt_ttl_seconds"),
        ("[transports.s]\ntype = \"smpp\"\nhost = \"h\"\nport = 1\nsystem_id = \"a\"\npassword = \"b\"\nmax_pdu_bytes = 4294967295\n".to_owned(), false, "max_pdu_bytes"),
        ("[transports.u]\ntype = \"ssmi\"\nhost = \"h\"\nport = 1\nusername = \"a\"\npassword = \"b\"\nussd_session_lifetime_seconds = 999999999999\n".to_owned(), false, "ussd_session_lifetime_seconds"),
        ("[transports.u]\ntype = \"ssmi\"\nhost = \"h\"\nport = 1\nusername = \"a\"\npassword = \"b\"\nmax_line_bytes = 4294967295\n".to_owned(), false, "max_line_bytes"),
        (
            "[transports.s]\ntype = \"smpp\"\nhost = \"h\"\nport = 1\nsystem_id = \"a\"\npassword = \"b\"\ntls_server_name = \"smsc.example.net\"\n".to_owned(),
            false,
            "tls is not true",
        ),
        ("[shutdown]\ndrain_timeout_seconds = 999999999999\n".to_owned(), false, "drain_timeout_seconds"),
    ] {
        let p = write(&dir, "a.toml", &text);
        match Config::load(&p, no_env()) {
            Ok(_) => assert!(fine, "{text} was accepted"),
            Err(e) => {
                let e = e.to_string();
                assert!(!fine && e.contains(needle), "{text}: {e}");
                assert!(!e.contains("u:p@"), "the error shows the URL's password: {e}");
            }
        }
    }
}

#[test]
fn redb_caches_and_compaction_intervals_are_bounded_by_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let c = Config::load(&write(&dir, "a.toml", ""), no_env()).unwrap();
    assert!(
        matches!(c.store, StoreConfig::Redb { cache_bytes, compact_interval_seconds: 3600 } if cache_bytes == 64 << 20)
    );
    assert!(matches!(c.bus, BusConfig::Embedded(ref e)
        if e.cache_bytes == 32 << 20 && e.compact_interval_seconds == 3600));
    let only_at_start = "[store]\ntype = \"redb\"\ncompact_interval_seconds = 0\n\
        [bus]\ntype = \"embedded\"\ncompact_interval_seconds = 0\n";
    let c = Config::load(&write(&dir, "z.toml", only_at_start), no_env()).unwrap();
    assert!(matches!(
        c.store,
        StoreConfig::Redb {
            compact_interval_seconds: 0,
            ..
        }
    ));
    for (text, key) in [
        (
            "[store]\ntype = \"redb\"\ncompact_interval_seconds = 59\n",
            "store.compact_interval_seconds",
        ),
        (
            "[bus]\ntype = \"embedded\"\ncompact_interval_seconds = 604801\n",
            "bus.compact_interval_seconds",
        ),
        (
            "[store]\ntype = \"redb\"\ncache_bytes = 0\n",
            "store.cache_bytes",
        ),
        (
            "[bus]\ntype = \"embedded\"\ncache_bytes = 1\n",
            "bus.cache_bytes",
        ),
    ] {
        let e = Config::load(&write(&dir, "b.toml", text), no_env())
            .unwrap_err()
            .to_string();
        assert!(e.contains(key), "{e}");
    }
}

#[test]
fn routers_own_their_transports_and_applications_alone() {
    let dir = tempfile::tempdir().unwrap();
    let transports = "[transports.sms]\ntype = \"ssmi\"\nhost = \"127.0.0.1\"\nport = 1\n\
                      username = \"u\"\npassword = \"p\"\n\
                      [transports.ussd]\ntype = \"ssmi\"\nhost = \"127.0.0.1\"\nport = 1\n\
                      username = \"u\"\npassword = \"p\"\n";
    let router = |name: &str, t: &str, a: &str| {
        format!("[routers.{name}]\ntransports = [\"{t}\"]\napplications = [\"{a}\"]\n")
    };
    let ok = format!(
        "{transports}{}{}",
        router("r1", "sms", "quiz"),
        router("r2", "ussd", "echo")
    );
    let c = Config::load(&write(&dir, "ok.toml", &ok), no_env()).unwrap();
    assert_eq!(c.routers.len(), 2);
    let cases = [
        (
            format!(
                "{transports}{}{}",
                router("r1", "sms", "quiz"),
                router("r2", "sms", "echo")
            ),
            "\"sms\" is routed by routers.r1 already",
        ),
        (
            format!(
                "{transports}{}{}",
                router("r1", "sms", "quiz"),
                router("r2", "ussd", "quiz")
            ),
            "\"quiz\" is routed by routers.r1 already",
        ),
        (
            format!("{transports}{}", router("sms", "sms", "quiz")),
            "routers.sms: the name of a transport too",
        ),
        (
            format!("{transports}{}", router("r1", "fax", "quiz")),
            "routers.r1: transports: \"fax\" is not a configured transport",
        ),
        (
            format!(
                "{transports}{}{}",
                router("r1", "sms", "quiz"),
                router("quiz", "ussd", "echo")
            ),
            "routers.quiz: the name of an application or transport of routers.r1",
        ),
        (
            format!(
                "{transports}{}[api]\ntransports = [\"sms\"]\n[[api.accounts]]\n\
                 username = \"a\"\npassword_hash = {:?}\n",
                router("r1", "sms", "quiz"),
                crate::api::auth::hash_password("pw").unwrap()
            ),
            "\"sms\" is one of api.transports too",
        ),
    ];
    for (text, want) in cases {
        let e = Config::load(&write(&dir, "bad.toml", &text), no_env())
            .expect_err(want)
            .to_string();
        assert!(e.contains(want), "{e} should say {want}");
    }
}

#[test]
fn applications_take_queues_nobody_else_consumes() {
    let dir = tempfile::tempdir().unwrap();
    let transport = "[transports.ussd]\ntype = \"ssmi\"\nhost = \"127.0.0.1\"\nport = 1\n\
                     username = \"u\"\npassword = \"p\"\n";
    let echo = |name: &str, q: &str| {
        format!("[applications.{name}]\ntype = \"ussd_echo\"\ntransport_name = \"{q}\"\n")
    };
    let ok = format!("{transport}{}", echo("echo", "ussd"));
    let c = Config::load(&write(&dir, "ok.toml", &ok), no_env()).unwrap();
    assert_eq!(c.applications.len(), 1);
    let routed = "[routers.r]\ntransports = [\"ussd\"]\napplications = [\"quiz\"]\n";
    let cases = [
        (
            format!("{transport}{}{}", echo("a", "ussd"), echo("b", "ussd")),
            "the queues ussd.* are applications.a's already",
        ),
        (
            format!("{transport}{routed}{}", echo("echo", "ussd")),
            "\"ussd\" is routed by routers.r",
        ),
        (
            format!("{transport}{}", echo("echo", "USSD")),
            "routing key prefixes",
        ),
        (
            format!("{transport}[applications.echo]\ntype = \"ussd_echo\"\ngoodbye = \"\"\n"),
            "applications.echo: goodbye",
        ),
        (
            format!("{transport}[applications.echo]\ntype = \"smitter2\"\n"),
            "unknown variant",
        ),
    ];
    for (text, want) in cases {
        let e = Config::load(&write(&dir, "bad.toml", &text), no_env())
            .expect_err(want)
            .to_string();
        assert!(e.contains(want), "{e} should say {want}");
    }
}
