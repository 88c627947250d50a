"""A Vumi application as a plain AMQP client (pika), for interop tests.

It behaves as a vumi2 application does (reference/vumi.md section 8): it declares only
<t>.inbound and <t>.event (durable, no arguments), publishes to <t>.outbound on exchange
"vumi" without declaring anything, and validates what it receives with vumi2's rules.
With --style vumi06 it sends the vumi 0.6 subset of keys and a null session_event instead.

Usage: vumi_app.py AMQP_URL TRANSPORT [--style vumi2|vumi06]
Prints one line per received message: "inbound <json>" / "event <json>"; exits non-zero on a
validation failure.
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


def main():
    url, transport = sys.argv[1], sys.argv[2]
    style = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--style" else "vumi2"
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.exchange_declare("vumi", exchange_type="direct", durable=True)
    for q in ("inbound", "event"):
        name = f"{transport}.{q}"
        ch.queue_declare(name, durable=True, exclusive=False, auto_delete=False, arguments=None)
        ch.queue_bind(name, "vumi", routing_key=name)
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
