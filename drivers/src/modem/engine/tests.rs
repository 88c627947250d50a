//! Engine tests with items as the codec cuts them: echo, URCs inside answers and inside the
//! CMGS prompt, two-line URCs, prefixes decided by the command in flight.

use super::*;

fn line(s: &str) -> Item {
    Item::Line(Bytes::copy_from_slice(s.as_bytes()))
}

fn feed(e: &mut Engine, items: &[Item]) -> Vec<Output> {
    items
        .iter()
        .map(|i| e.handle(i.clone()))
        .filter(|o| *o != Output::None)
        .collect()
}

#[test]
fn echo_info_and_final() {
    let mut e = Engine::new();
    e.start("AT+CSQ\r");
    let out = feed(&mut e, &[line("at+csq"), line("+CSQ: 17,99"), line("OK")]);
    assert_eq!(
        out,
        [Output::Done(Reply {
            result: Final::Ok,
            lines: vec![Bytes::from_static(b"+CSQ: 17,99")]
        })]
    );
    assert!(!e.busy());
}

#[test]
fn urcs_inside_an_answer_are_routed_out_and_solicited_prefixes_stay_in() {
    let mut e = Engine::new();
    e.start("AT+CREG?");
    let out = feed(
        &mut e,
        &[
            line("+CMTI: \"SM\",4"),
            line("+CREG: 2,1,\"00AB\",\"1234\""),
            line("^RSSI: 17"),
            line("OK"),
        ],
    );
    assert_eq!(
        out[0],
        Output::Urc(Event::Stored {
            mem: "SM".into(),
            index: 4,
            report: false
        })
    );
    assert!(matches!(out[1], Output::Urc(Event::Other(_))));
    let Output::Done(reply) = &out[2] else {
        panic!("{out:?}")
    };
    assert_eq!(
        reply.line("+CREG:"),
        Some(&b"+CREG: 2,1,\"00AB\",\"1234\""[..])
    );
    // Without the command in flight the same prefix is a URC.
    assert_eq!(
        feed(&mut e, &[line("+CREG: 5")]),
        [Output::Urc(Event::Registration {
            kind: Registration::Cs,
            stat: 5
        })]
    );
}

#[test]
fn cmgs_prompt_with_a_urc_in_between_and_the_pdu_echo() {
    let mut e = Engine::new();
    e.start("AT+CMGS=23\r");
    let out = feed(
        &mut e,
        &[line("AT+CMGS=23"), line("+CMTI: \"SM\",1"), Item::Prompt],
    );
    assert!(matches!(
        out[0],
        Output::Urc(Event::Stored { index: 1, .. })
    ));
    assert_eq!(out[1], Output::Prompt);
    let out = feed(
        &mut e,
        &[line("0011000B91\u{1a}"), line("+CMGS: 42"), line("OK")],
    );
    let [Output::Done(reply)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(reply.lines, [Bytes::from_static(b"+CMGS: 42")]);
    // A prompt with nothing in flight is ignored.
    assert_eq!(e.handle(Item::Prompt), Output::None);
}

#[test]
fn two_line_urcs_and_stored_lists() {
    let mut e = Engine::new();
    let out = feed(
        &mut e,
        &[
            line("+CMT: ,24"),
            line("0791AB"),
            line("+CDS: 25"),
            line("0691"),
        ],
    );
    assert_eq!(
        out,
        [
            Output::Urc(Event::Routed {
                hex: Bytes::from_static(b"0791AB"),
                report: false
            }),
            Output::Urc(Event::Routed {
                hex: Bytes::from_static(b"0691"),
                report: true
            })
        ]
    );
    // +CMGL headers and their PDU lines stay in the reply, in order.
    e.start("AT+CMGL=4");
    let out = feed(
        &mut e,
        &[
            line("+CMGL: 1,0,,24"),
            line("0791AB"),
            line("+CMGL: 2,1,,24"),
            line("0791CD"),
            line("OK"),
        ],
    );
    let [Output::Done(reply)] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(reply.lines.len(), 4);
}

#[test]
fn errors_garbage_and_abandon() {
    let mut e = Engine::new();
    e.start("AT+CMGR=9");
    assert_eq!(
        feed(&mut e, &[line("+CMS ERROR: 321")]),
        [Output::Done(Reply {
            result: Final::CmsError(Some(321)),
            lines: vec![]
        })]
    );
    assert_eq!(
        feed(&mut e, &[line("garbage"), line("OK")]),
        [
            Output::Unexpected(Bytes::from_static(b"garbage")),
            Output::Unexpected(Bytes::from_static(b"OK"))
        ]
    );
    e.start("AT+CGSN");
    feed(&mut e, &[line("356938035643809")]);
    assert_eq!(e.abandon(), [Bytes::from_static(b"356938035643809")]);
    assert!(!e.busy());
    assert_eq!(e.handle(Item::Overlong), Output::Overlong);
}

#[test]
fn ussd_text_with_line_breaks_is_joined() {
    let mut e = Engine::new();
    e.start("AT+CUSD=1,\"*120#\",15");
    let out = feed(
        &mut e,
        &[
            line("OK"),
            line("+CUSD: 1,\"Main menu"),
            line("1. Balance"),
            line("2. Exit\",15"),
        ],
    );
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(
        out[1],
        Output::Urc(Event::Ussd(Bytes::from_static(
            b"+CUSD: 1,\"Main menu\n1. Balance\n2. Exit\",15"
        )))
    );
    // A quote that never closes does not swallow the stream for ever.
    let mut e = Engine::new();
    feed(&mut e, &[line("+CUSD: 1,\"open")]);
    let long = "x".repeat(MAX_USSD_BYTES);
    let out = feed(&mut e, &[line(&long)]);
    assert!(matches!(out[..], [Output::Urc(Event::Ussd(_))]), "{out:?}");
}

#[test]
fn stored_pdus_are_found_past_garbage_and_short_lines() {
    let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
    let lines = [
        b("+CMGL: 1,0,,3"),
        b("garbage"),
        b("ABCD"),
        b("0011223344"),
        b("+CMGL: 2,1,,2"),
        b("+CMGL: 3,1,,1"),
        b("00AA"),
    ];
    let got: Vec<(u32, Bytes)> = listed(&lines)
        .into_iter()
        .map(|(h, p)| (h.index, p))
        .collect();
    // Slot 1 skips the garbage and the too-short hex; slot 2 has no PDU line of its own.
    assert_eq!(got, [(1, b("0011223344")), (3, b("00AA"))]);
    let read = [b("+CMGR: 0,,2"), b("^RSSI: 5"), b("00AABB")];
    assert_eq!(read_pdu(&read), Some(b("00AABB")));
    assert_eq!(read_pdu(&[b("+CMGR: 0,,9"), b("00AA")]), None);
    assert_eq!(read_pdu(&[b("OK")]), None);
}
