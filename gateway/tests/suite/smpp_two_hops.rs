//! Two hops through one gateway (the real binary): node-smpp as a client ESME binds to
//! Richmond's SMPP server transport; a router forwards what it submits to Richmond's SMPP
//! client transport bound to `richmond simulate smsc`, and the simulator's receipt comes back
//! to the client as a `deliver_sm` receipt for the id its submit was answered with; an MO
//! from the simulator is forwarded the other way and reaches the client as `deliver_sm`; a
//! long message in parts reaches the SMSC whole and every part gets its receipt.

use richmond_tests::common;
use richmond_tests::procs::{Gateway, Sim};

/// A gateway config: an SMPP server on `port` with one account `system_id` (password
/// "s3cret"), an SMPP client transport to the SMSC on `smsc_port`, and a router forwarding
/// each one's inbound to the other.
pub(crate) fn two_hops(port: u16, smsc_port: u16, system_id: &str) -> String {
    let (server, client_link) = (common::unique("smpps"), common::unique("smsc"));
    let (router, app) = (common::unique("hop"), common::unique("hopapp"));
    let hash = richmond::api::auth::hash_password("s3cret").expect("hash");
    format!(
        "data_dir = \"{{data_dir}}\"\n[admin]\naddress = \"{{admin}}\"\n[shutdown]\n\
         drain_timeout_seconds = 10\n[bus]\ntype = \"amqp\"\nurl = {:?}\n\
         reconnect_initial_seconds = 0.1\nreconnect_max_seconds = 1.0\n\
         [transports.{server}]\ntype = \"smpp_server\"\nlisten = \"127.0.0.1:{port}\"\n\
         [[transports.{server}.accounts]]\nsystem_id = \"{system_id}\"\npassword_hash = \"{hash}\"\n\
         [transports.{client_link}]\ntype = \"smpp\"\nhost = \"127.0.0.1\"\nport = {smsc_port}\n\
         system_id = \"richmond\"\npassword = \"richmond\"\nreconnect_initial_seconds = 0.2\n\
         [routers.{router}]\ntransports = [\"{server}\", \"{client_link}\"]\n\
         applications = [\"{app}\"]\ndefault = \"{app}\"\n\
         forward = {{ {server} = \"{client_link}\", {client_link} = \"{server}\" }}\n",
        common::amqp_url(),
    )
}

#[tokio::test]
async fn a_clients_submit_goes_to_the_smsc_and_its_receipt_comes_back() {
    let mut smsc = Sim::start(&["smsc", "--receipt-delay-ms", "20"]).await;
    let port = common::free_port();
    let config = two_hops(port, smsc.addr.port(), "acme");
    let mut gw = Gateway::start(&config).await;
    smsc.expect("the gateway's bind", |e| {
        e["event"] == "bind" && e["ok"] == true
    })
    .await;
    gw.wait_ready(200).await;
    let addr = format!("127.0.0.1:{port}").parse().expect("addr");
    let mut client = Sim::node_esme(addr).await;
    client.cmd("bind transceiver acme s3cret").await;
    let bound = client
        .expect("the bind answer", |e| e["event"] == "bind_resp")
        .await;
    assert_eq!(bound["command_status"], 0, "{bound}");

    client
        .cmd("submit 1 hop 27820001111 27830002222 Two hops away")
        .await;
    let answered = client
        .expect("the submit answer", |e| {
            e["event"] == "submit_sm_resp" && e["tag"] == "hop"
        })
        .await;
    assert_eq!(answered["command_status"], 0, "{answered}");
    let id = answered["message_id"].as_str().expect("an id").to_owned();
    let at_smsc = smsc
        .expect("the message at the SMSC", |e| {
            e["event"] == "message" && e["text"] == "Two hops away"
        })
        .await;
    assert_eq!(at_smsc["destination"], "27830002222", "{at_smsc}");
    let receipt = client
        .expect("the receipt", |e| {
            e["event"] == "deliver_sm" && e["esm_class"] == 4
        })
        .await;
    let text = receipt["text"].as_str().expect("text");
    let parsed = richmond_codecs::smpp::receipt::parse(text).expect("an Appendix B receipt");
    assert_eq!(
        (parsed.id.as_ref(), parsed.stat.as_ref()),
        (id.as_str(), "DELIVRD"),
        "{text}"
    );

    // A long message in three UDH parts goes to the SMSC as one message (split again as
    // that link splits it), and each part gets its receipt.
    let long = "A long message from a client, longer than one SMS can carry, so that the \
                link to the operator has to split it again into parts of its own before the \
                SMSC joins them back into the whole text it was.";
    client
        .cmd(&format!(
            "submit-long 1 long 27820001111 27830002222 udh 3 {long}"
        ))
        .await;
    let at_smsc = smsc
        .expect("the long message at the SMSC", |e| {
            e["event"] == "message" && e["text"] == long
        })
        .await;
    assert_eq!(at_smsc["parts"], 2, "{at_smsc}");
    client
        .expect_total("every part answered", 3, |e| {
            e["event"] == "submit_sm_resp"
                && e["tag"].as_str().is_some_and(|t| t.starts_with("long-"))
        })
        .await;
    let ids: Vec<String> = (1..=3)
        .map(|seq| {
            let tag = format!("long-{seq}");
            let e = client
                .seen
                .iter()
                .find(|e| e["event"] == "submit_sm_resp" && e["tag"] == tag.as_str())
                .expect("every part answered before the message went on");
            assert_eq!(e["command_status"], 0, "{e}");
            e["message_id"].as_str().expect("an id").to_owned()
        })
        .collect();
    for id in &ids {
        client
            .find("a part's receipt", |e| {
                e["event"] == "deliver_sm"
                    && e["text"]
                        .as_str()
                        .and_then(|t| richmond_codecs::smpp::receipt::parse(t).ok())
                        .is_some_and(|r| r.id.as_ref() == id.as_str() && r.stat == "DELIVRD")
            })
            .await;
    }

    // The other way: an MO from the SMSC reaches the client.
    smsc.cmd("mo 27830002222 27820001111 A reply from a handset")
        .await;
    let mo = client
        .expect("the MO at the client", |e| {
            e["event"] == "deliver_sm" && e["text"] == "A reply from a handset"
        })
        .await;
    assert_eq!(mo["esm_class"], 0, "{mo}");
    assert_eq!(
        (&mo["source"], &mo["destination"]),
        (
            &serde_json::json!("27830002222"),
            &serde_json::json!("27820001111")
        ),
        "{mo}"
    );
    assert_eq!(gw.stop().await, Some(0), "{}", gw.logs());
}
