//! Statuses: following ack, nack and delivery reports; by id, ids and since; after a
//! restart (redb) and across two instances (Redis).

use super::*;

#[tokio::test]
async fn statuses_follow_ack_delivery_report_and_nack_and_list_by_since_and_ids() {
    let (_d, gw, carrier) = start(Setup::amqp).await;
    let t = carrier.transport.clone();
    let before = "2000-01-01 00:00:00";
    let a = send_form(
        &gw,
        &t,
        &[
            ("to_msisdn", "+27831110007"),
            ("to_msisdn", "+27831110008"),
            ("from_msisdn", "123"),
            ("message", "x"),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let ids: Vec<String> = a
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    carrier.outbound(2).await;

    carrier.event(&Event::ack(&t, &ids[0], "smsc-1")).await;
    wait_status(&gw, &t, &ids[0], "submitted").await;
    carrier
        .event(&Event::delivery_report(
            &t,
            &ids[0],
            DeliveryStatus::Delivered,
        ))
        .await;
    let delivered = wait_status(&gw, &t, &ids[0], "delivered").await;
    assert!(delivered["delivered_at"].is_string(), "{delivered}");
    carrier
        .event(&Event::nack(&t, &ids[1], "ESME_RINVDSTADR"))
        .await;
    let failed = wait_status(&gw, &t, &ids[1], "failed").await;
    assert!(failed["delivered_at"].is_null());
    // A late ack does not undo the receipt.
    carrier.event(&Event::ack(&t, &ids[0], "smsc-1")).await;
    carrier
        .event(&Event::ack(&t, &common::unique("x"), "ignored"))
        .await;

    let q = format!(
        "status.json?id={}&id={}&id=ffffffffffffffffffffffffffffffff",
        ids[1], ids[0]
    );
    let a = request(gw.addr, "GET", &path(&t, &q), Some(ALICE), None, b"")
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    let list = a.json();
    let got: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap(),
                r["transport_status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [(ids[1].as_str(), "failed"), (ids[0].as_str(), "delivered")]
    );

    for since in [
        before.replace(' ', "%20"),
        "2000-01-01T00:00:00Z".into(),
        "2000-01-01".into(),
    ] {
        let a = request(
            gw.addr,
            "GET",
            &path(&t, &format!("status.json?since={since}")),
            Some(ALICE),
            None,
            b"",
        )
        .await
        .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
        let listed: Vec<String> = a
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(listed.len(), 2, "{since}: {listed:?}");
        assert!(ids.iter().all(|i| listed.contains(i)));
    }
    let a = request(
        gw.addr,
        "GET",
        &path(&t, "status.json?since=2999-01-01T00:00:00%2B02:00"),
        Some(ALICE),
        None,
        b"",
    )
    .await
    .unwrap();
    assert_eq!((a.status, a.json()), (200, serde_json::json!([])));
    assert_eq!(gw.stop().await, Some(0));
}

#[tokio::test]
async fn statuses_survive_a_restart_of_the_binary() {
    let (dir, gw, carrier) = start(Setup::amqp).await;
    let t = carrier.transport.clone();
    let a = send_form(
        &gw,
        &t,
        &[
            ("to_msisdn", "+27831110015"),
            ("from_msisdn", "123"),
            ("message", "persist"),
        ],
    )
    .await;
    let id = a.json()[0]["id"].as_str().unwrap().to_owned();
    carrier.outbound(1).await;
    carrier.event(&Event::ack(&t, &id, "smsc-3")).await;
    wait_status(&gw, &t, &id, "submitted").await;
    let (config, addr) = (gw.config.clone(), gw.addr);
    assert_eq!(gw.stop().await, Some(0));

    let gw = Gateway::start(&config, addr).await;
    wait_status(&gw, &t, &id, "submitted").await;
    let a = request(
        gw.addr,
        "GET",
        &path(&t, "status.json?since=2000-01-01"),
        Some(ALICE),
        None,
        b"",
    )
    .await
    .unwrap();
    assert_eq!(a.json()[0]["id"], id.as_str());
    // Events still apply after the restart.
    carrier
        .event(&Event::delivery_report(&t, &id, DeliveryStatus::Delivered))
        .await;
    wait_status(&gw, &t, &id, "delivered").await;
    assert_eq!(gw.stop().await, Some(0));
    drop(dir);
}

#[tokio::test]
async fn two_instances_share_state_through_redis() {
    let prefix = format!("{}:", common::unique("apir"));
    let t = common::unique("api");
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let setup = |t: &str| Setup {
        store: StoreKind::Redis {
            prefix: prefix.clone(),
        },
        ..Setup::amqp(t)
    };
    let (c1, a1) = helpers::write_config(d1.path(), &setup(&t));
    let (c2, a2) = helpers::write_config(d2.path(), &setup(&t));
    let carrier = Carrier::new(&t).await;
    let one = Gateway::start(&c1, a1).await;
    let two = Gateway::start(&c2, a2).await;
    let a = send_form(
        &one,
        &t,
        &[
            ("to_msisdn", "+27831110016"),
            ("from_msisdn", "123"),
            ("message", "shared"),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let id = a.json()[0]["id"].as_str().unwrap().to_owned();
    carrier.outbound(1).await;
    carrier.event(&Event::ack(&t, &id, "smsc-4")).await;
    // Either instance may consume the event; both see the result.
    wait_status(&two, &t, &id, "submitted").await;
    wait_status(&one, &t, &id, "submitted").await;
    let a = request(
        two.addr,
        "GET",
        &path(&t, "status.json?since=2000-01-01"),
        Some(ALICE),
        None,
        b"",
    )
    .await
    .unwrap();
    assert_eq!(a.json()[0]["id"], id.as_str());
    assert_eq!(one.stop().await, Some(0));
    assert_eq!(two.stop().await, Some(0));
}
