//! Long messages through the SMPP server transport (the real binary, node-smpp as the
//! client): the parts of one, numbered by UDH or by SAR TLVs, are each answered with an id of
//! their own and reach the bus as one message; its delivery report comes back to the client
//! as a receipt for every part; parts that stop coming go on flagged incomplete.

use richmond_codecs::vumi::{DeliveryStatus, Event};
use richmond_tests::procs::Sim;
use serde_json::Value;

use crate::smpp_server::{account, bind, setup};

const TEXT: &str = "The first part of it, then the second part, and the third part ends it.";

/// The ids the client was answered with for the parts of `tag`, in part order.
fn answered(client: &Sim, tag: &str, total: usize) -> Vec<String> {
    (1..=total)
        .map(|seq| {
            let e = client
                .seen
                .iter()
                .find(|e| e["event"] == "submit_sm_resp" && e["tag"] == format!("{tag}-{seq}"))
                .expect("answered");
            assert_eq!(e["command_status"], 0, "{e}");
            e["message_id"].as_str().expect("an id").to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_long_messages_parts_reach_the_bus_as_one_message_and_each_gets_its_receipt() {
    let (mut gw, mut app, addr) = setup(&account("acme", "")).await;
    let mut client = Sim::node_esme(addr).await;
    assert_eq!(
        bind(&mut client, 1, "acme", "s3cret").await["command_status"],
        0
    );
    for how in ["udh", "sar"] {
        client
            .cmd(&format!(
                "submit-long 1 {how} 27820001111 27830002222 {how} 3 {TEXT}"
            ))
            .await;
        let tag = how.to_owned();
        client
            .expect_total("every part answered", 3, |e| {
                e["event"] == "submit_sm_resp"
                    && e["tag"].as_str().is_some_and(|t| t.starts_with(&tag))
            })
            .await;
        let ids = answered(&client, how, 3);
        let got = app.inbound().await;
        assert_eq!(got.content.as_deref(), Some(TEXT), "{how}");
        assert_eq!(got.to_addr.as_deref(), Some("27830002222"));
        let meta = &got.transport_metadata["smpp_server"];
        assert_eq!(meta["parts"], serde_json::json!(ids), "{how}: {meta}");
        assert_eq!(meta["registered_delivery"], 1);
        assert!(!ids.contains(&got.message_id), "{how}");

        // Its delivery report: a receipt for each part, naming the id it was answered with.
        let report = Event::delivery_report("carrier", &got.message_id, DeliveryStatus::Delivered);
        app.bus
            .publish(&format!("{}.receipts", app.id), report.encode().into())
            .await
            .expect("publish");
        for id in &ids {
            let receipt = client
                .find("a part's receipt", |e: &Value| {
                    e["event"] == "deliver_sm"
                        && e["esm_class"] == 4
                        && e["text"]
                            .as_str()
                            .and_then(|t| richmond_codecs::smpp::receipt::parse(t).ok())
                            .is_some_and(|r| r.id.as_ref() == id.as_str())
                })
                .await;
            assert!(receipt["text"].as_str().expect("text").contains("DELIVRD"));
        }
    }
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}

#[tokio::test]
async fn parts_that_stop_coming_go_on_flagged_incomplete() {
    let (mut gw, mut app, addr) = setup(&format!(
        "multipart_timeout_seconds = 1\n{}",
        account("acme", "")
    ))
    .await;
    let mut client = Sim::node_esme(addr).await;
    assert_eq!(
        bind(&mut client, 1, "acme", "s3cret").await["command_status"],
        0
    );
    // Part 1 of 3, and no more.
    client
        .cmd("submit-udh 1 lonely 27820001111 27830002222 3 1")
        .await;
    let resp = client
        .expect("the part's answer", |e| {
            e["event"] == "submit_sm_resp" && e["tag"] == "lonely"
        })
        .await;
    assert_eq!(resp["command_status"], 0, "{resp}");
    let got = app.inbound().await;
    assert_eq!(got.content.as_deref(), Some("part"));
    let meta = &got.transport_metadata;
    assert_eq!(meta["smpp_multipart_incomplete"], true, "{meta:?}");
    assert_eq!(meta["smpp_multipart_total"], 3, "{meta:?}");
    assert_eq!(
        meta["smpp_server"]["parts"],
        serde_json::json!([resp["message_id"]])
    );
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}
