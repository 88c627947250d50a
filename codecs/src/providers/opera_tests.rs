//! Opera vectors from reference/http-providers.md §2 (Vumi's and the 2010 Richmond's tests).

use super::*;

const MO: &str = r#"<?xml version="1.0"?>
<!DOCTYPE bspostevent>
<bspostevent>
  <field name="MOReference" type = "string">282341913</field>
  <field name="IsReceipt" type = "string">NO</field>
  <field name="RemoteNetwork" type = "string">mtn-za</field>
  <field name="BSDate-tomorrow" type = "string">20100605</field>
  <field name="ReceiveDate" type = "date">2010-06-04 15:51:25 +0000</field>
  <field name="Local" type = "string">*32323</field>
  <field name="ClientID" type = "string">4</field>
  <field name="ChannelID" type = "string">111</field>
  <field name="MessageID" type = "string">373736741</field>
  <field name="ReceiptStatus" type = "string"></field>
  <field name="Prefix" type = "string"></field>
  <field name="ClientName" type = "string">Praekelt</field>
  <field name="MobileDevice" type = "string"></field>
  <field name="ServiceName" type = "string">Robertson&#8217;s Herb &amp; Spices Promo</field>
  <field name="Text" type = "string">Hello World</field>
  <field name="MobileNetwork" type = "string">mtn-za</field>
  <field name="Remote" type = "string">+27831234567</field>
  <field name="State" type = "string">5</field>
</bspostevent>"#;

#[test]
fn an_mo_is_read_from_raw_xml_or_xmlmsg() {
    let m = mo(&document(MO.as_bytes()).unwrap()).unwrap();
    assert_eq!(
        m,
        Mo {
            message_id: "373736741".into(),
            from: "+27831234567".into(),
            to: "32323".into(),
            text: "Hello World".into(),
            network: "mtn-za".into(),
        }
    );
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("XmlMsg", MO)
        .finish();
    assert_eq!(document(form.as_bytes()).unwrap(), MO);
    let padded = format!("\n{MO}\n");
    assert_eq!(
        document(padded.as_bytes()).unwrap(),
        padded,
        "echoed unchanged"
    );
    assert_eq!(document(b"a=b"), Err(BadPost::NoXml));
    assert_eq!(document(b""), Err(BadPost::NoXml));
    let missing = MO.replace("name=\"Local\"", "name=\"Elsewhere\"");
    assert_eq!(mo(&missing), Err(BadPost::MissingField("Local")));
    assert_eq!(
        BadPost::MissingField("Local").to_string(),
        "Missing field: Local"
    );
    assert_eq!(mo("<a>"), Err(BadPost::NotXml));
}

#[test]
fn receipts_are_read_one_per_element() {
    let xml = r#"<?xml version="1.0"?>
<!DOCTYPE receipts>
<receipts>
  <receipt>
    <msgid>26567958</msgid>
    <reference>001efc31</reference>
    <msisdn>+27123456789</msisdn>
    <status>D</status>
    <timestamp>20080831T15:59:24</timestamp>
    <billed>NO</billed>
  </receipt>
  <receipt><reference>abc123</reference><status>Q</status></receipt>
  <receipt><reference>x</reference><status>F</status></receipt>
  <receipt><msgid>no reference</msgid></receipt>
</receipts>"#;
    let r = receipts(xml).unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(
        r[0],
        Receipt {
            reference: "001efc31".into(),
            msgid: Some("26567958".into()),
            msisdn: Some("+27123456789".into()),
            status: DeliveryStatus::Delivered,
            raw_status: "D".into(),
        }
    );
    assert_eq!(
        (r[1].status, r[2].status),
        (DeliveryStatus::Pending, DeliveryStatus::Failed)
    );
    assert_eq!(receipts("<receipts></receipts>"), Err(BadPost::NoReceipt));
    // A nested element between a receipt's leaves: still one receipt.
    let nested = "<receipts><receipt><reference>r1</reference><x><y>1</y></x><status>D</status>\
                  </receipt></receipts>";
    assert_eq!(receipts(nested).unwrap().len(), 1);
    assert_eq!(receipts("<receipts>"), Err(BadPost::NotXml));
    assert_eq!(
        receipts("<receipts><x>1</x></receipts>"),
        Err(BadPost::NoReceipt)
    );
    for (letter, want) in [
        ("d", DeliveryStatus::Delivered),
        ("R", DeliveryStatus::Delivered),
        ("u", DeliveryStatus::Pending),
        ("", DeliveryStatus::Failed),
    ] {
        assert_eq!(status(letter), want, "{letter}");
    }
}

#[test]
fn send_sms_is_a_struct_with_base64_for_text_above_ascii() {
    let call = SendSms {
        service: "20222",
        password: "p<w>",
        channel: "111",
        numbers: "+27831234567",
        text: "üïéßø",
        delivery: "20260101T10:00:00",
        expiry: "20260102T10:00:00",
        priority: "standard",
        receipt: true,
        max_segments: 9,
    };
    let xml = call.encode();
    assert!(
        xml.contains("<methodName>EAPIGateway.SendSMS</methodName>"),
        "{xml}"
    );
    let members = struct_members(&xml).unwrap();
    let get = |n: &str| {
        members
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(
        get("SMSText"),
        Value {
            kind: "base64".into(),
            text: "üïéßø".into()
        }
    );
    assert_eq!(get("Password").text, "p<w>");
    assert_eq!(get("Delivery").kind, "dateTime.iso8601");
    assert_eq!(
        (
            get("Receipt").text.as_str(),
            get("MaxSegments").text.as_str()
        ),
        ("Y", "9")
    );
    let plain = SendSms {
        text: "Hello & bye",
        ..call
    }
    .encode();
    let members = struct_members(&plain).unwrap();
    assert!(members.contains(&(
        "SMSText".into(),
        Value {
            kind: "string".into(),
            text: "Hello & bye".into()
        }
    )));
}

#[test]
fn answers_are_an_identifier_or_a_fault() {
    let ok = "<?xml version='1.0'?><methodResponse><params><param><value><struct><member>\
              <name>Identifier</name><value><string>abc123</string></value></member></struct>\
              </value></param></params></methodResponse>";
    assert_eq!(answer(ok), Answer::Identifier("abc123".into()));
    let untyped = "<methodResponse><params><param><value><struct><member><name>Identifier</name>\
                   <value>001efc31</value></member></struct></value></param></params></methodResponse>";
    assert_eq!(answer(untyped), Answer::Identifier("001efc31".into()));
    let fault = "<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>503\
                 </int></value></member><member><name>faultString</name><value><string>oh noes!\
                 </string></value></member></struct></value></fault></methodResponse>";
    assert_eq!(
        answer(fault),
        Answer::Fault {
            code: 503,
            text: "oh noes!".into()
        }
    );
    assert!(matches!(answer("<html/>"), Answer::Unexpected(_)));
    assert!(matches!(answer("nope"), Answer::Unexpected(_)));
}
