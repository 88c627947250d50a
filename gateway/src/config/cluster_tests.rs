//! The configuration of several instances: a broker cluster's URLs, the queue type.

use super::*;

fn load(text: &str) -> Result<Config, String> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.toml");
    std::fs::write(&p, text).unwrap();
    Config::load(&p, Vec::new()).map_err(|e| e.to_string())
}

#[test]
fn a_cluster_is_several_urls_in_order() {
    let c = load(
        "[bus]\ntype = \"amqp\"\nurl = \"amqp://u:p@127.0.0.1:5672/%2f  amqp://u:p@127.0.0.1:5673/%2f\\n amqp://u:p@127.0.0.1:5674/%2f\"\n",
    )
    .unwrap();
    let BusConfig::Amqp(a) = &c.bus else {
        panic!("not amqp")
    };
    assert_eq!(
        a.urls(),
        [
            "amqp://u:p@127.0.0.1:5672/%2f",
            "amqp://u:p@127.0.0.1:5673/%2f",
            "amqp://u:p@127.0.0.1:5674/%2f"
        ]
    );
}

#[test]
fn a_cluster_url_list_in_a_file_is_one_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("urls");
    std::fs::write(&f, "amqp://u:p@h1/%2f\namqp://u:p@h2/%2f\n").unwrap();
    let c = load(&format!("[bus]\ntype = \"amqp\"\nurl_file = {f:?}\n")).unwrap();
    let BusConfig::Amqp(a) = &c.bus else {
        panic!("not amqp")
    };
    assert_eq!(a.urls(), ["amqp://u:p@h1/%2f", "amqp://u:p@h2/%2f"]);
}

#[test]
fn a_cluster_cannot_mix_plain_and_tls() {
    let e = load("[bus]\ntype = \"amqp\"\nurl = \"amqp://h1/%2f amqps://h2/%2f\"\n").unwrap_err();
    assert!(e.contains("mix amqp:// and amqps://"), "{e}");
    let e = load("[bus]\ntype = \"amqp\"\nurl = \"amqp://h1/%2f http://h2/\"\n").unwrap_err();
    assert!(e.contains("amqp:// or amqps://"), "{e}");
    let e = load("[bus]\ntype = \"amqp\"\nurl = \"  \"\n").unwrap_err();
    assert!(e.contains("bus.url"), "{e}");
}

#[test]
fn the_queue_type_is_the_vhosts_unless_asked() {
    let c = load("[bus]\ntype = \"amqp\"\nurl = \"amqp://h/%2f\"\n").unwrap();
    let BusConfig::Amqp(a) = &c.bus else {
        panic!("not amqp")
    };
    assert_eq!(a.queue_type, None);
    let c =
        load("[bus]\ntype = \"amqp\"\nurl = \"amqp://h/%2f\"\nqueue_type = \"quorum\"\n").unwrap();
    let BusConfig::Amqp(a) = &c.bus else {
        panic!("not amqp")
    };
    assert_eq!(a.queue_type, Some(QueueType::Quorum));
    let e = load("[bus]\ntype = \"amqp\"\nurl = \"amqp://h/%2f\"\nqueue_type = \"stream\"\n")
        .unwrap_err();
    assert!(e.contains("stream"), "{e}");
    let e = load(
        "[bus]\ntype = \"amqp\"\nurl = \"amqp://h/%2f\"\nqueue_type = \"quorum\"\nqueue_arguments = { \"x-queue-type\" = \"classic\" }\n",
    )
    .unwrap_err();
    assert!(e.contains("keep one"), "{e}");
}

#[test]
fn sentinels_are_checked() {
    let redis = |more: &str| load(&format!("[store]\ntype = \"redis\"\n{more}"));
    let ok = redis("sentinels = [\"10.0.0.1:26379\", \"::1:26380\"]\nsentinel_master = \"m\"\n")
        .unwrap();
    let StoreConfig::Redis { sentinels, .. } = &ok.store else {
        panic!("not redis")
    };
    assert_eq!(sentinels.len(), 2);
    let e = redis("sentinels = [\"10.0.0.1\"]\n").unwrap_err();
    assert!(e.contains("not host:port"), "{e}");
    let e = redis("sentinels = [\"h:1\"]\nsentinel_master = \"\"\n").unwrap_err();
    assert!(e.contains("sentinel_master"), "{e}");
    let e = redis("sentinels = [\"h:1\"]\nurl = \"unix:///tmp/r.sock\"\n").unwrap_err();
    assert!(e.contains("scheme"), "{e}");
    let e = redis("sentinels = [\"h:1\"]\ntls_ca_file = \"/x.pem\"\n").unwrap_err();
    assert!(e.contains("rediss://"), "{e}");
    let e = redis("url = \"redis://h/\"\nreplica_wait_ms = 5000\n").unwrap_err();
    assert!(e.contains("replica_wait_ms"), "{e}");
}
