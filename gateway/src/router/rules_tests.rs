//! The router's rules without a bus: keyword semantics, AND of conditions, order, the
//! default, outbound transport choice, and configuration checks.

use richmond_codecs::vumi::{SessionEvent, UserMessage};

use super::{RouterConfig, Rule, Rules, Strategy, Transports, Unroutable, keyword};

fn config(rules: Vec<Rule>) -> RouterConfig {
    RouterConfig {
        transports: vec!["sms".into(), "ussd".into()],
        applications: vec!["quiz".into(), "echo".into(), "news".into()],
        rules,
        default: None,
        mt_transport: [("news".to_owned(), "sms".into())].into(),
        mt_strategy: Strategy::Failover,
        event_memory_seconds: 3600,
        forward: Default::default(),
    }
}

fn rule(app: &str) -> Rule {
    Rule {
        application: app.into(),
        ..Rule::default()
    }
}

fn mo(transport: &str, to: &str, from: &str, text: &str) -> UserMessage {
    UserMessage::new(transport, "sms", from, to, Some(text.into()))
}

#[test]
fn a_keyword_is_the_whole_first_word_in_any_case_and_aliases_count() {
    assert_eq!(keyword(Some("  JOIN now")), "join");
    assert_eq!(keyword(Some("join\tnow")), "join");
    assert_eq!(keyword(Some("")), "");
    assert_eq!(keyword(None), "");
    let rules = Rules::new(config(vec![Rule {
        keywords: vec!["join".into(), "Subscribe".into()],
        ..rule("quiz")
    }]))
    .unwrap();
    for text in ["JOIN", "join now", "Join", "subscribe me", "SUBSCRIBE"] {
        let got = rules.inbound("sms", &mo("sms", "123", "+27831", text));
        assert_eq!(got, Ok(("quiz", Some(0))), "{text:?}");
    }
    for text in ["joinme", "rejoin", "", "now join"] {
        let got = rules.inbound("sms", &mo("sms", "123", "+27831", text));
        assert_eq!(got, Err(Unroutable::NoRule), "{text:?}");
    }
}

#[test]
fn every_condition_of_a_rule_must_hold_and_the_first_matching_rule_wins() {
    let mut ussd = rule("echo");
    ussd.transport = Some("ussd".into());
    ussd.to_addr_regex = Some(r"\*120\*\d+#".into());
    ussd.session_event = Some("new".into());
    let mut local = rule("quiz");
    local.from_addr_prefix = Some("+2783".into());
    local.to_addr = Some("123".into());
    local.transport_type = Some("sms".into());
    let mut cfg = config(vec![ussd, local, rule("news")]);
    cfg.default = Some("quiz".into());
    let rules = Rules::new(cfg).unwrap();
    let mut dial = UserMessage::new("ussd", "ussd", "+27831", "*120*7#", None);
    dial.session_event = Some(SessionEvent::New);
    assert_eq!(rules.inbound("ussd", &dial), Ok(("echo", Some(0))));
    // The same code from the SMS transport, or a resume, or a longer code: not rule 0.
    assert_eq!(rules.inbound("sms", &dial), Ok(("news", Some(2))));
    dial.session_event = Some(SessionEvent::Resume);
    assert_eq!(rules.inbound("ussd", &dial), Ok(("news", Some(2))));
    dial.session_event = Some(SessionEvent::New);
    dial.to_addr = Some("*120*7#1".into());
    assert_eq!(rules.inbound("ussd", &dial), Ok(("news", Some(2))));
    assert_eq!(
        rules.inbound("sms", &mo("sms", "123", "+27831234567", "hi")),
        Ok(("quiz", Some(1)))
    );
    assert_eq!(
        rules.inbound("sms", &mo("sms", "123", "+27821234567", "hi")),
        Ok(("news", Some(2))),
        "another prefix"
    );
}

#[test]
fn inbound_without_a_rule_goes_to_the_default_or_nowhere() {
    let mut only = rule("echo");
    only.keywords = vec!["echo".into()];
    let rules = Rules::new(config(vec![only.clone()])).unwrap();
    assert_eq!(
        rules.inbound("sms", &mo("sms", "1", "2", "hello")),
        Err(Unroutable::NoRule)
    );
    let mut cfg = config(vec![only]);
    cfg.default = Some("news".into());
    let rules = Rules::new(cfg).unwrap();
    assert_eq!(
        rules.inbound("sms", &mo("sms", "1", "2", "hello")),
        Ok(("news", None))
    );
}

#[test]
fn outbound_goes_to_the_named_transport_else_the_applications_mt_transport() {
    let rules = Rules::new(config(vec![])).unwrap();
    // A reply keeps its transport; an application may name the other one (USSD in, SMS out).
    let one = |t: &str| vec![t.to_owned()];
    let reply = UserMessage::new("ussd", "ussd", "123", "+27831", Some("bye".into()));
    assert_eq!(rules.outbound("echo", &reply), Ok(&one("ussd")[..]));
    let sms = UserMessage::new("sms", "sms", "123", "+27831", Some("also".into()));
    assert_eq!(rules.outbound("echo", &sms), Ok(&one("sms")[..]));
    // Named after the application itself (a message it starts): its mt_transport, if any.
    let own = UserMessage::new("news", "sms", "123", "+27831", Some("news".into()));
    assert_eq!(rules.outbound("news", &own), Ok(&one("sms")[..]));
    let own = UserMessage::new("echo", "sms", "123", "+27831", Some("x".into()));
    assert_eq!(rules.outbound("echo", &own), Err(Unroutable::NoTransport));
}

#[test]
fn configuration_mistakes_are_named() {
    let transports = ["sms", "ussd"];
    let ok = config(vec![rule("quiz")]);
    assert_eq!(ok.validate(&transports), Ok(()));
    let cases: Vec<(RouterConfig, &str)> = vec![
        (
            RouterConfig {
                transports: vec!["fax".into()],
                ..ok.clone()
            },
            "transports: \"fax\"",
        ),
        (
            RouterConfig {
                applications: vec![],
                ..ok.clone()
            },
            "at least one of each",
        ),
        (
            RouterConfig {
                applications: vec!["Quiz".into()],
                rules: vec![],
                mt_transport: Default::default(),
                mt_strategy: Strategy::Failover,
                ..ok.clone()
            },
            "applications: \"Quiz\"",
        ),
        (
            RouterConfig {
                applications: vec!["sms".into()],
                rules: vec![],
                mt_transport: Default::default(),
                mt_strategy: Strategy::Failover,
                ..ok.clone()
            },
            "also a transport",
        ),
        (
            RouterConfig {
                default: Some("nobody".into()),
                ..ok.clone()
            },
            "default: \"nobody\"",
        ),
        (config(vec![rule("nobody")]), "rules[0].application"),
        (
            config(vec![Rule {
                to_addr_regex: Some("(".into()),
                ..rule("quiz")
            }]),
            "rules[0].to_addr_regex",
        ),
        (
            config(vec![Rule {
                session_event: Some("open".into()),
                ..rule("quiz")
            }]),
            "rules[0].session_event",
        ),
        (
            config(vec![Rule {
                keywords: vec!["two words".into()],
                ..rule("quiz")
            }]),
            "rules[0].keywords",
        ),
        (
            RouterConfig {
                event_memory_seconds: 1,
                ..ok.clone()
            },
            "event_memory_seconds",
        ),
        (
            RouterConfig {
                forward: [("sms".to_owned(), "sms".into())].into(),
                ..ok.clone()
            },
            "forward.sms",
        ),
        (
            RouterConfig {
                forward: [("nowhere".to_owned(), "sms".into())].into(),
                ..ok.clone()
            },
            "forward",
        ),
    ];
    for (cfg, want) in cases {
        let got = cfg.validate(&transports).expect_err(want);
        assert!(got.contains(want), "{got:?} should name {want:?}");
    }
    // A transport of the config that this router does not route is no application name either.
    let other = RouterConfig {
        applications: vec!["fax".into()],
        rules: vec![],
        mt_transport: Default::default(),
        mt_strategy: Strategy::Failover,
        ..ok.clone()
    };
    let got = other.validate(&["sms", "ussd", "fax"]).expect_err("fax");
    assert!(got.contains("also a transport"), "{got:?}");
}

fn pool(strategy: Strategy) -> Rules {
    let mut c = config(vec![]);
    c.transports = vec!["a".into(), "b".into(), "c".into()];
    c.mt_transport = [(
        "news".to_owned(),
        Transports::Pool(vec!["a".into(), "b".into(), "c".into()]),
    )]
    .into();
    c.mt_strategy = strategy;
    Rules::new(c).unwrap()
}

#[test]
fn failover_takes_the_first_transport_that_is_up_and_skips_those_tried() {
    let rules = pool(Strategy::Failover);
    let own = UserMessage::new("news", "sms", "123", "+27831", Some("news".into()));
    let p = rules.outbound("news", &own).unwrap();
    assert_eq!(p.len(), 3);
    let all_up = |_: &str| true;
    for turn in 0..4 {
        assert_eq!(rules.pick(p, &[], turn, all_up), Some("a"));
    }
    assert_eq!(rules.pick(p, &[], 0, |t| t != "a"), Some("b"));
    assert_eq!(rules.pick(p, &[], 0, |t| t == "c"), Some("c"));
    // None up: the first still gets it (and holds it until its link is back).
    assert_eq!(rules.pick(p, &[], 0, |_| false), Some("a"));
    // After a temporary refusal by a, then by b.
    assert_eq!(rules.pick(p, &["a".into()], 0, all_up), Some("b"));
    assert_eq!(
        rules.pick(p, &["a".into(), "b".into()], 0, |_| false),
        Some("c")
    );
    let tried: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
    assert_eq!(rules.pick(p, &tried, 0, all_up), None);
}

#[test]
fn round_robin_rotates_over_the_transports_that_are_up() {
    let rules = pool(Strategy::RoundRobin);
    let own = UserMessage::new("news", "sms", "123", "+27831", Some("news".into()));
    let p = rules.outbound("news", &own).unwrap();
    let picks: Vec<_> = (0..6).map(|t| rules.pick(p, &[], t, |_| true)).collect();
    assert_eq!(
        picks,
        [
            Some("a"),
            Some("b"),
            Some("c"),
            Some("a"),
            Some("b"),
            Some("c")
        ]
    );
    // b down: the turns go round the two that are up, in equal share.
    let picks: Vec<_> = (0..4)
        .map(|t| rules.pick(p, &[], t, |t| t != "b"))
        .collect();
    assert_eq!(picks, [Some("a"), Some("c"), Some("a"), Some("c")]);
    // None up: round all three.
    assert_eq!(rules.pick(p, &[], 4, |_| false), Some("b"));
    assert_eq!(rules.pick(p, &["b".into()], 1, |_| true), Some("c"));
}

#[test]
fn a_pool_is_checked_and_reads_from_toml() {
    let c: RouterConfig = toml::from_str(
        "transports = [\"a\", \"b\"]\napplications = [\"x\"]\nmt_strategy = \"round_robin\"\n\
         mt_transport = { x = [\"a\", \"b\"] }\n",
    )
    .unwrap();
    assert_eq!(c.mt_strategy, Strategy::RoundRobin);
    assert_eq!(c.mt_transport["x"].as_slice(), ["a", "b"]);
    assert_eq!(c.validate(&["a", "b"]), Ok(()));
    for (pool, want) in [
        (vec![], "at least one"),
        (vec!["a", "a"], "listed twice"),
        (vec!["a", "z"], "not one of transports"),
    ] {
        let mut bad = c.clone();
        bad.mt_transport.insert(
            "x".into(),
            Transports::Pool(pool.into_iter().map(String::from).collect()),
        );
        let err = bad.validate(&["a", "b"]).unwrap_err();
        assert!(err.contains(want), "{err}");
    }
}

#[test]
fn a_peek_at_the_encoded_message_routes_as_the_whole_message_does() {
    use super::Peek;
    let mut ussd = rule("echo");
    ussd.session_event = Some("new".into());
    ussd.to_addr_regex = Some(r"\*120#".into());
    let quiz = Rule {
        keywords: vec!["join".into()],
        from_addr_prefix: Some("+2783".into()),
        ..rule("quiz")
    };
    let rules = Rules::new(RouterConfig {
        default: Some("news".into()),
        ..config(vec![ussd, quiz])
    })
    .unwrap();
    let mut new = UserMessage::new("ussd", "ussd", "+27831", "*120#", None);
    new.session_event = Some(SessionEvent::New);
    let msgs = [
        new,
        mo("sms", "123", "+27831", "JOIN \"the quiz\"\n\u{e9}"),
        mo("sms", "123", "+27721", "join"),
        mo("sms", "123", "+27831", "joinme"),
    ];
    let want = [
        ("echo", Some(0)),
        ("quiz", Some(1)),
        ("news", None),
        ("news", None),
    ];
    for (m, want) in msgs.iter().zip(want) {
        let raw = m.encode();
        let peek = Peek::read(&raw).unwrap();
        assert_eq!(rules.inbound("sms", peek), Ok(want), "{m:?}");
        assert_eq!(rules.inbound("sms", m), Ok(want), "{m:?}");
    }
}
