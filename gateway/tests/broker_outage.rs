//! The tests that take the private broker away (a restart, a stop and start): their own
//! test binary, so no other suite's test finds the broker gone. Each holds the broker lock for
//! writing, so they never overlap each other either.

use std::collections::HashMap;

use bytes::Bytes;
use richmond::bus::Bus;
use richmond_tests::common;
use richmond_tests::procs::Gateway;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_stream_loses_nothing() {
    let _broker = common::broker_lock().write().await;
    let t = common::unique("restart");
    let q = format!("{t}.inbound");
    let bus = Bus::Amqp(common::amqp_bus(&common::amqp_config()).await);
    bus.declare_transport(&t).await.unwrap();
    let n: usize = 300;
    let publisher = {
        let (bus, q) = (bus.clone(), q.clone());
        tokio::spawn(async move {
            for i in 0..n {
                bus.publish(&q, Bytes::from(format!("{i}"))).await.unwrap();
                if i == n / 3 {
                    // Restart the broker while the stream is under way.
                    tokio::task::spawn_blocking(|| common::rabbitmq_ctl("restart"))
                        .await
                        .unwrap();
                }
            }
        })
    };
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut c = bus.consume(&q).await.unwrap();
    while seen.len() < n {
        let d = c.next().await.expect("consumer ended");
        let key = String::from_utf8(d.body.to_vec()).unwrap();
        *seen.entry(key).or_default() += 1;
        // An ack on a channel that died with the broker fails; the message comes back.
        let _ = d.ack().await;
    }
    publisher.await.unwrap();
    let duplicates: usize = seen.values().map(|c| c - 1).sum();
    assert_eq!(seen.len(), n, "every message arrived");
    for i in 0..n {
        assert!(seen.contains_key(&i.to_string()), "message {i} lost");
    }
    eprintln!("broker restart: {n} messages, {duplicates} duplicates (at-least-once)");
    bus.close().await;
}

#[tokio::test]
async fn ready_follows_the_broker_and_redis_store() {
    let _broker = common::broker_lock().write().await;
    let config = format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n\
         [shutdown]\ndrain_timeout_seconds = 10\n\
         [bus]\ntype = \"amqp\"\nurl = {:?}\nreconnect_initial_seconds = 0.1\n\
         reconnect_max_seconds = 0.5\n[store]\ntype = \"redis\"\nurl = {:?}\n",
        common::amqp_url(),
        common::redis_url()
    );
    let mut gw = Gateway::start(&config).await;
    gw.wait_ready(200).await;
    // The broker goes away: not ready, naming the bus; it comes back: ready again.
    tokio::task::spawn_blocking(|| common::rabbitmq_ctl("stop_app"))
        .await
        .unwrap();
    let body = gw.wait_ready(503).await;
    assert!(body.contains("bus"), "{body}");
    tokio::task::spawn_blocking(|| common::rabbitmq_ctl("start_app"))
        .await
        .unwrap();
    gw.wait_ready(200).await;
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}
