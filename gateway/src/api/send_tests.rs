//! The send path in process, on the embedded bus and the redb store (both count their
//! commits): two commits per send, exact answers for a partly refused batch, and nothing
//! lost or reserved when the client goes away.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHasher, SaltString};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::response::IntoResponse;
use base64::Engine as _;
use bytes::Bytes;
use richmond_codecs::vumi::UserMessage;

use crate::api::record::{self, index_key};
use crate::api::{ApiConfig, ApiState, auth, callbacks, handlers};
use crate::bus::Bus;
use crate::bus::embedded::EmbeddedBus;
use crate::config::EmbeddedBusConfig;
use crate::store::Store;
use crate::store::redb::RedbStore;

const T: &str = "sms";

struct Fixture {
    _dir: tempfile::TempDir,
    state: ApiState,
    bus: EmbeddedBus,
    store: RedbStore,
}

/// A cheap argon2 hash (the test is about the send, not the hash's strength).
fn cheap_hash() -> String {
    let params = argon2::Params::new(8, 1, 1, None).unwrap();
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
    argon.hash_password(b"pw", &salt).unwrap().to_string()
}

fn fixture(max_queue_messages: usize) -> Fixture {
    fixture_with(max_queue_messages, 1)
}

fn fixture_with(max_queue_messages: usize, publish_timeout_seconds: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let bus_config = EmbeddedBusConfig {
        max_queue_messages,
        ..EmbeddedBusConfig::default()
    };
    let bus = EmbeddedBus::open(dir.path(), &bus_config).unwrap();
    let store = RedbStore::open(&dir.path().join("store.redb")).unwrap();
    let text = format!(
        "transports = [\"{T}\"]\nmax_recipients = 100\n\
         publish_timeout_seconds = {publish_timeout_seconds}\n\
         [[accounts]]\nusername = \"a\"\npassword_hash = {:?}\n",
        cheap_hash()
    );
    let config: ApiConfig = toml::from_str(&text).unwrap();
    let state = ApiState {
        accounts: auth::Accounts::new(&config),
        config: Arc::new(config),
        bus: Bus::Embedded(bus.clone()),
        store: Store::Redb(store.clone()),
        callbacks: callbacks::Queue::new(Store::Redb(store.clone()), 10_000),
        tasks: tokio_util::task::TaskTracker::new(),
        openapi: Arc::default(),
    };
    Fixture {
        _dir: dir,
        state,
        bus,
        store,
    }
}

fn recipients(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("+2782{i:07}")).collect()
}

/// `send.json` called as axum calls it; (status, JSON body).
async fn send(state: &ApiState, to: &[String]) -> (u16, serde_json::Value) {
    let mut headers = HeaderMap::new();
    let basic = base64::engine::general_purpose::STANDARD.encode("a:pw");
    headers.insert(AUTHORIZATION, format!("Basic {basic}").parse().unwrap());
    headers.insert(
        CONTENT_TYPE,
        "application/x-www-form-urlencoded".parse().unwrap(),
    );
    let mut body = form_urlencoded::Serializer::new(String::new());
    for t in to {
        body.append_pair("to_msisdn", t);
    }
    body.append_pair("from_msisdn", "123")
        .append_pair("message", "hi");
    let account = state.accounts.authenticate(&headers, None).await.unwrap();
    let answer = handlers::send(
        State(state.clone()),
        axum::Extension(account),
        Path(T.to_owned()),
        headers,
        Bytes::from(body.finish()),
    )
    .await
    .into_response();
    let status = answer.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(answer.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// Ids of the records the account's index holds.
async fn indexed(f: &Fixture) -> Vec<String> {
    f.state
        .store
        .index_range(&index_key("a", T), i64::MIN, i64::MAX, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

/// Message ids of everything in the outbound queue, acked.
async fn drain(f: &Fixture, n: usize) -> Vec<String> {
    let mut c = f.bus.consume(&format!("{T}.outbound"));
    let mut ids = Vec::new();
    for _ in 0..n {
        let d = tokio::time::timeout(Duration::from_secs(30), c.next())
            .await
            .expect("a message")
            .expect("bus open");
        ids.push(UserMessage::decode(&d.body).unwrap().message_id);
        d.ack().await.unwrap();
    }
    ids
}

#[tokio::test]
async fn a_hundred_recipient_send_costs_one_store_and_one_spool_commit() {
    let f = fixture(1000);
    // Warm the account's credential cache, so only the send's own writes are counted.
    let (status, _) = send(&f.state, &recipients(1)).await;
    assert_eq!(status, 200);
    let before = (f.store.commits(), f.bus.spool_commits());
    let (status, body) = send(&f.state, &recipients(100)).await;
    assert_eq!(status, 200, "{body}");
    let after = (f.store.commits(), f.bus.spool_commits());
    assert_eq!(
        (after.0 - before.0, after.1 - before.1),
        (1, 1),
        "store and spool commits of one 100-recipient send"
    );
    let answered: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(answered.len(), 100);
    let queued = drain(&f, 101).await;
    for id in &answered {
        assert!(
            queued.iter().any(|q| q == id),
            "{id} answered but not queued"
        );
    }
}

#[tokio::test]
async fn a_partly_refused_send_answers_exactly_what_was_sent() {
    let f = fixture(60);
    let to = recipients(100);
    let (status, body) = send(&f.state, &to).await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["error"], "partly_sent");
    let sent: Vec<String> = body["sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let sent_to: Vec<&str> = body["sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["to_msisdn"].as_str().unwrap())
        .collect();
    let not_sent: Vec<&str> = body["not_sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["to_msisdn"].as_str().unwrap())
        .collect();
    assert_eq!(sent.len(), 60);
    assert_eq!(
        sent_to,
        to[..60].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(
        not_sent,
        to[60..].iter().map(String::as_str).collect::<Vec<_>>()
    );
    // Exactly the answered messages are queued and recorded; no room is held for the rest.
    assert_eq!(f.bus.depth(&format!("{T}.outbound")), 60);
    let mut recorded = indexed(&f).await;
    recorded.sort();
    let mut queued = drain(&f, 60).await;
    queued.sort();
    let mut answered = sent.clone();
    answered.sort();
    assert_eq!(queued, answered);
    assert_eq!(recorded, answered);
    for id in &sent {
        assert!(record::load(&f.state.store, id).await.unwrap().is_some());
    }
}

#[tokio::test]
async fn a_client_gone_mid_send_leaves_every_message_sent_and_recorded_or_neither() {
    // A long admission timeout: the room freed below is found well before it, however slow
    // the machine.
    let f = fixture_with(60, 10);
    // The queue is full: the send waits for room.
    let filler = (0..60)
        .map(|i| Bytes::from(format!("filler {i}")))
        .collect();
    let queue = format!("{T}.outbound");
    assert!(
        f.state
            .bus
            .publish_batch(&queue, filler, None)
            .await
            .iter()
            .all(Result::is_ok)
    );
    let to = recipients(100);
    {
        let answer = send(&f.state, &to);
        tokio::pin!(answer);
        // Poll the request until its records are written (it then waits for room), then
        // drop it: the client went away.
        loop {
            tokio::select! {
                a = &mut answer => panic!("answered with a full queue: {a:?}"),
                () = tokio::task::yield_now() => {}
            }
            if indexed(&f).await.len() == 100 {
                break;
            }
        }
    }
    // Room for 60 frees up; the orphaned send takes it, and the rest is refused at its
    // deadline with its records removed.
    let mut c = f.bus.consume(&queue);
    for _ in 0..60 {
        c.next().await.unwrap().ack().await.unwrap();
    }
    drop(c);
    let settled = async {
        loop {
            let recorded = indexed(&f).await.len();
            if recorded < 100 && recorded == f.bus.depth(&queue) {
                return recorded;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let n = tokio::time::timeout(Duration::from_secs(60), settled)
        .await
        .expect("the orphaned send settles");
    assert_eq!(n, 60);
    let mut queued = drain(&f, 60).await;
    queued.sort();
    let mut recorded = indexed(&f).await;
    recorded.sort();
    assert_eq!(queued, recorded);
}
