"""A Vumi application as a plain AMQP client (pika), for interop tests.

It behaves as a vumi2 application does (reference/vumi.md section 8): it declares only
<t>.inbound and <t>.event (durable, no arguments), publishes to <t>.outbound on exchange
"vumi" without declaring anything, and validates what it receives with vumi2's rules.
With --style vumi06 it sends the vumi 0.6 subset of keys and a null session_event instead.

Usage: vumi_app.py AMQP_URL TRANSPORT [--style vumi2|vumi06] [--serve ussd|sms --count N]
Prints one line per received message: "inbound <json>" / "event <json>"; exits non-zero on a
validation failure.

With --serve it is a small application instead, consuming with prefetch 20 as vumi2 does:
  ussd: N users each get a menu ("Menu for <from_addr>", session continues) and, after their
        answer, a goodbye ("Bye <from_addr>: you chose <content>", session closed);
  sms:  N inbound SMS each get a reply ("Echo <from_addr>: <content>").
It holds each round of N messages and answers them in reverse order of arrival (replies out
of order), then reads one ack per reply (and, for sms, one delivery_report per reply), and
prints {"done": ...} with the counts.
"""

import json
import re
import sys
import uuid
from datetime import datetime

import pika

TRANSPORT_TYPES = {"http_api", "irc", "telnet", "twitter", "sms", "ussd", "xmpp", "mxit", "wechat"}
ADDRESS_TYPES = {"irc_nickname", "twitter_handle", "msisdn", "gtalk_id", "jabber_id", "mxit_id", "wechat_id"}
DATE = "%Y-%m-%d %H:%M:%S.%f"


def check_message(m):
    assert m["message_version"] == "20110921", m
    assert re.fullmatch(r"[0-9a-f]{32}", m["message_id"]), m
    assert m["transport_type"] in TRANSPORT_TYPES, m
    for k in ("to_addr", "from_addr", "transport_name"):
        assert m.get(k) is not None, (k, m)
    for k in ("to_addr_type", "from_addr_type"):
        assert m.get(k) is None or m[k] in ADDRESS_TYPES, (k, m)
    datetime.strptime(m["timestamp"], DATE)


def check_event(e):
    assert e["message_version"] == "20110921", e
    assert e["event_type"] in ("ack", "nack", "delivery_report"), e
    if e["event_type"] == "ack":
        assert e["sent_message_id"] is not None, e
    datetime.strptime(e["timestamp"], DATE)


def outbound(transport, style):
    msg = {
        "message_version": "20110921", "message_type": "user_message",
        "timestamp": datetime.utcnow().strftime(DATE),
        "message_id": uuid.uuid4().hex, "in_reply_to": None,
        "to_addr": "+27831112222", "from_addr": "*120*663#",
        "content": "Welcome", "transport_name": transport, "transport_type": "ussd",
        "transport_metadata": {}, "helper_metadata": {},
    }
    if style == "vumi2":
        msg.update({"session_event": "resume", "routing_metadata": {}, "group": None,
                    "provider": None, "to_addr_type": None, "from_addr_type": None})
    else:
        msg["session_event"] = None
    return msg


def reply(msg, content, style, close):
    """A reply the way each generation of Vumi builds it (reference/vumi.md 1.3 and 8)."""
    out = {
        "message_version": "20110921", "message_type": "user_message",
        "timestamp": datetime.utcnow().strftime(DATE),
        "message_id": uuid.uuid4().hex, "in_reply_to": msg["message_id"],
        "to_addr": msg["from_addr"], "from_addr": msg["to_addr"],
        "content": content, "transport_name": msg["transport_name"],
        "transport_type": msg["transport_type"],
        "transport_metadata": msg.get("transport_metadata") or {},
    }
    if style == "vumi2":
        out.update({"session_event": "close" if close else "resume", "routing_metadata": {},
                    "helper_metadata": {}, "group": msg.get("group"), "provider": None,
                    "to_addr_type": None, "from_addr_type": None})
    else:
        out.update({"session_event": "close" if close else None,
                    "helper_metadata": msg.get("helper_metadata") or {}})
    return out


def take(ch, queue, n, check):
    """n messages from queue, validated and acked, in arrival order."""
    got = []
    for method, _props, body in ch.consume(queue, inactivity_timeout=60):
        if method is None:
            sys.exit(f"timed out on {queue} after {len(got)} of {n}")
        data = json.loads(body)
        check(data)
        ch.basic_ack(method.delivery_tag)
        got.append(data)
        if len(got) == n:
            break
    ch.cancel()
    return got


def serve(ch, transport, style, kind, n):
    inbound, events = f"{transport}.inbound", f"{transport}.event"
    rounds = [(lambda m: f"Menu for {m['from_addr']}", False),
              (lambda m: f"Bye {m['from_addr']}: you chose {m['content']}", True)]
    if kind == "sms":
        rounds = [(lambda m: f"Echo {m['from_addr']}: {m['content']}", False)]
    replies = []
    for text, close in rounds:
        batch = take(ch, inbound, n, check_message)
        for m in batch:
            want = "resume" if replies and kind == "ussd" else ("new" if kind == "ussd" else None)
            if kind == "ussd":
                assert m["session_event"] == want, (want, m)
        for m in reversed(batch):
            r = reply(m, text(m), style, close)
            ch.basic_publish("vumi", f"{transport}.outbound", json.dumps(r),
                             pika.BasicProperties(delivery_mode=2))
            replies.append(r["message_id"])
    want_events = len(replies) * (2 if kind == "sms" else 1)
    got = take(ch, events, want_events, check_event)
    acks = {e["user_message_id"] for e in got if e["event_type"] == "ack"}
    reports = {e["user_message_id"] for e in got if e["event_type"] == "delivery_report"}
    assert acks == set(replies), ("acks", len(acks), len(replies))
    if kind == "sms":
        assert reports == set(replies), ("reports", len(reports), [
            (e["event_type"], e["user_message_id"][:6], e.get("transport_metadata")) for e in got])
    print(json.dumps({"done": {"replies": len(replies), "acks": len(acks),
                               "reports": len(reports)}}), flush=True)


def main():
    url, transport = sys.argv[1], sys.argv[2]
    opts = dict(zip(sys.argv[3::2], sys.argv[4::2]))
    style = opts.get("--style", "vumi2")
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.exchange_declare("vumi", exchange_type="direct", durable=True)
    for q in ("inbound", "event"):
        name = f"{transport}.{q}"
        ch.queue_declare(name, durable=True, exclusive=False, auto_delete=False, arguments=None)
        ch.queue_bind(name, "vumi", routing_key=name)
    if "--serve" in opts:
        ch.basic_qos(prefetch_count=20)
        serve(ch, transport, style, opts["--serve"], int(opts["--count"]))
        conn.close()
        return
    msg = outbound(transport, style)
    ch.basic_publish("vumi", f"{transport}.outbound", json.dumps(msg),
                     pika.BasicProperties(delivery_mode=2))
    print("sent " + json.dumps(msg), flush=True)
    for q, check in (("inbound", check_message), ("event", check_event)):
        for method, _props, body in ch.consume(f"{transport}.{q}", inactivity_timeout=60):
            if method is None:
                sys.exit(f"timed out waiting on {q}")
            data = json.loads(body)
            check(data)
            ch.basic_ack(method.delivery_tag)
            print(f"{q} " + json.dumps(data), flush=True)
            break
        ch.cancel()
    conn.close()


if __name__ == "__main__":
    main()
