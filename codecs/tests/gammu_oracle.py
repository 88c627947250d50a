"""The libgammu side of codecs/tests/gammu_oracle.rs (python-gammu 3.5.1 / libgammu 1.45.1).

Reads JSON lines on stdin and prints one JSON line per input line:
  {"op": "decode", "hex": "..."}  -> the fields gammu.DecodePDU gives (SMSC field included)
  {"op": "encode", "text": ..., "unicode": bool, "id": "ConcatenatedTextLong"|
   "ConcatenatedTextLong16bit", "number": ..., "smsc": ..., "validity": "1D"|...}
                                  -> {"parts": [hex, ...]} from gammu.EncodeSMS + EncodePDU
Errors are reported as {"error": "..."}; the Rust side decides what they mean.
"""
import binascii
import json
import sys

import gammu


def iso(value):
    return value.isoformat() if value is not None else None


def decode(hex_text):
    d = gammu.DecodePDU(binascii.unhexlify(hex_text))
    text = d["Text"]
    if isinstance(text, bytes):
        text = {"hex": binascii.hexlify(text).decode().upper()}
    udh = d["UDH"]
    return {
        "type": d["Type"],
        "number": d["Number"],
        "smsc": d["SMSC"]["Number"],
        "validity": d["SMSC"]["Validity"],
        "text": text,
        "coding": d["Coding"],
        "class": d["Class"],
        "udh_type": udh["Type"],
        "udh": binascii.hexlify(udh["Text"]).decode().upper(),
        "id8": udh["ID8bit"],
        "id16": udh["ID16bit"],
        "part": udh["PartNumber"],
        "all": udh["AllParts"],
        "datetime": iso(d["DateTime"]),
        "smsc_datetime": iso(d["SMSCDateTime"]),
        "mr": d["MessageReference"],
        "status": d["DeliveryStatus"],
        "reject_duplicates": d["RejectDuplicates"],
    }


def encode(req):
    parts = gammu.EncodeSMS(
        {"Class": -1, "Unicode": req["unicode"], "Entries": [{"ID": req["id"], "Buffer": req["text"]}]}
    )
    out = []
    for part in parts:
        part["Number"] = req["number"]
        part["SMSC"] = {"Location": 0, "Number": req["smsc"], "Validity": req["validity"]}
        out.append(binascii.hexlify(gammu.EncodePDU(part, "Submit")).decode().upper())
    return {"parts": out}


for line in sys.stdin:
    req = json.loads(line)
    try:
        res = decode(req["hex"]) if req["op"] == "decode" else encode(req)
    except Exception as e:  # reported, not hidden: the Rust side fails on unexpected errors
        res = {"error": repr(e)}
    print(json.dumps(res), flush=True)
