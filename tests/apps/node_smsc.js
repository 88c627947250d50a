#!/usr/bin/env node
// A small SMSC built on node-smpp (npm `smpp`, pinned in scripts/package.json): an SMPP peer
// nobody here wrote, for interop tests of Richmond's ESME side.
//
// Reference: SMPP 3.4 §4.1 (binds), §4.4 (submit_sm), §4.6 (deliver_sm), Appendix B
// (receipt text); reference/smpp.md ("Peers to test against").
//
// Usage:
//   node tests/apps/node_smsc.js [--listen 127.0.0.1:0] [--system-id richmond]
//        [--password richmond] [--receipt-delay-ms 100]
// (system id and password also from RICHMOND_SMSC_SYSTEM_ID / RICHMOND_SMSC_PASSWORD).
// node-smpp is found through NODE_PATH (./scripts/test sets it to scripts/node_modules).
//
// Output: one JSON object per line on stdout; the first is
//   {"event":"listening","address":"127.0.0.1:<port>"}
// then bind, submit_sm (short_message as node-smpp decodes it, data_coding, esm_class,
// registered_delivery, udh as hex strings, sar, message_payload), deliver_sm (what was
// sent), deliver_sm_resp, enquire_link, unbind, disconnected, command_done, command_error.
//
// Commands on stdin, one per line:
//   mo <from> <to> <text…>        MO deliver_sm, data_coding 0 (GSM-7) when node-smpp's GSM
//                                 table holds the text, else 8 (UCS2); one part only
//   mo-ucs2 <from> <to> <text…>   MO deliver_sm, data_coding 8
//   help | quit
// A deliver_sm goes to the newest bind that can receive (transceiver or receiver).
// Receipts: a submit_sm with registered_delivery bit 0 set gets, after the delay, a
// deliver_sm with esm_class 4, the receipted_message_id and message_state TLVs and the text
// "id:<id> sub:001 dlvrd:001 submit date:… done date:… stat:DELIVRD err:000 text:…".
//
// Not handled: multipart MO, redelivery, misbehaviour on demand (richmond simulate smsc has
// those), TLS.

'use strict';

const readline = require('readline');
let smpp;
try {
  smpp = require('smpp');
} catch (e) {
  process.stderr.write(
    'node_smsc.js: cannot load node-smpp (' + e.message + '); set NODE_PATH to ' +
      'scripts/node_modules (./scripts/test does) or run `npm ci` in scripts/\n'
  );
  process.exit(2);
}

function option(name, fallback) {
  const i = process.argv.indexOf('--' + name);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  return fallback;
}

const listen = option('listen', '127.0.0.1:0');
const systemId = option('system-id', process.env.RICHMOND_SMSC_SYSTEM_ID || 'richmond');
const password = option('password', process.env.RICHMOND_SMSC_PASSWORD || 'richmond');
const receiptDelayMs = Number(option('receipt-delay-ms', '100'));
const [host, portText] = listen.split(/:(?=[^:]*$)/);
if (host !== '127.0.0.1' && host !== 'localhost') {
  process.stderr.write('node_smsc.js: listens on 127.0.0.1 only\n');
  process.exit(2);
}

function emit(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

let nextMessageId = 0;
let nextSession = 0;
const sessions = []; // bound sessions: {session, mode, id}

function hex(buffer) {
  return Buffer.isBuffer(buffer) ? buffer.toString('hex') : null;
}

// node-smpp decodes short_message into {message, udh?}: message is a string for the
// codings it knows, a Buffer otherwise.
function messageText(value) {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return { hex: value.toString('hex') };
  if (typeof value.message === 'string') return value.message;
  if (Buffer.isBuffer(value.message)) return { hex: value.message.toString('hex') };
  return null;
}

function two(n) {
  return String(n).padStart(2, '0');
}

function yymmddhhmm(date) {
  return (
    two(date.getUTCFullYear() % 100) + two(date.getUTCMonth() + 1) + two(date.getUTCDate()) +
    two(date.getUTCHours()) + two(date.getUTCMinutes())
  );
}

function receiver(preferred) {
  if (preferred && preferred.mode !== 'transmitter' && !preferred.session.closed) {
    return preferred;
  }
  for (let i = sessions.length - 1; i >= 0; i--) {
    if (sessions[i].mode !== 'transmitter' && !sessions[i].session.closed) return sessions[i];
  }
  return null;
}

function sendDeliver(entry, fields, kind) {
  const pdu = new smpp.PDU('deliver_sm', fields);
  entry.session.send(pdu);
  emit({
    event: 'deliver_sm',
    connection: entry.id,
    sequence: pdu.sequence_number,
    kind: kind,
    source: fields.source_addr,
    destination: fields.destination_addr,
    data_coding: pdu.data_coding,
    esm_class: pdu.esm_class,
  });
  return pdu.sequence_number;
}

function sendReceipt(entry, submit, messageId, submitted) {
  const target = receiver(entry);
  if (!target) {
    emit({ event: 'receipt_dropped', message_id: messageId, reason: 'no receiving bind' });
    return;
  }
  const excerpt = String(messageText(submit.short_message) || '')
    .replace(/[^A-Za-z0-9 ]/g, '')
    .slice(0, 20);
  const text =
    'id:' + messageId + ' sub:001 dlvrd:001 submit date:' + yymmddhhmm(submitted) +
    ' done date:' + yymmddhhmm(new Date()) + ' stat:DELIVRD err:000 text:' + excerpt;
  sendDeliver(
    target,
    {
      source_addr: submit.destination_addr,
      destination_addr: submit.source_addr,
      esm_class: 4,
      data_coding: 0,
      short_message: text,
      receipted_message_id: messageId,
      message_state: 2,
    },
    'receipt'
  );
}

const server = smpp.createServer({ debug: false }, function (session) {
  const entry = { session: session, mode: null, id: ++nextSession };
  emit({ event: 'connected', connection: entry.id });

  function bind(mode) {
    return function (pdu) {
      let status = 0;
      if (entry.mode) status = smpp.ESME_RALYBND;
      else if (pdu.system_id !== systemId) status = smpp.ESME_RINVSYSID;
      else if (pdu.password !== password) status = smpp.ESME_RINVPASWD;
      if (status) {
        session.send(pdu.response({ command_status: status }));
        emit({ event: 'bind', ok: false, connection: entry.id, mode: mode, status: status });
        return;
      }
      session.send(pdu.response({ system_id: 'node-smsc' }));
      entry.mode = mode;
      sessions.push(entry);
      emit({ event: 'bind', ok: true, connection: entry.id, mode: mode, system_id: pdu.system_id });
    };
  }
  session.on('bind_transceiver', bind('transceiver'));
  session.on('bind_transmitter', bind('transmitter'));
  session.on('bind_receiver', bind('receiver'));

  session.on('submit_sm', function (pdu) {
    if (!entry.mode || entry.mode === 'receiver') {
      session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
      return;
    }
    const messageId = String(++nextMessageId);
    session.send(pdu.response({ message_id: messageId }));
    const sm = pdu.short_message;
    const sar =
      pdu.sar_msg_ref_num !== undefined
        ? { ref: pdu.sar_msg_ref_num, total: pdu.sar_total_segments, seq: pdu.sar_segment_seqnum }
        : null;
    emit({
      event: 'submit_sm',
      connection: entry.id,
      sequence: pdu.sequence_number,
      message_id: messageId,
      source: pdu.source_addr,
      destination: pdu.destination_addr,
      data_coding: pdu.data_coding,
      esm_class: pdu.esm_class,
      registered_delivery: pdu.registered_delivery,
      short_message: messageText(sm),
      udh: sm && Array.isArray(sm.udh) ? sm.udh.map(hex) : null,
      sar: sar,
      message_payload: messageText(pdu.message_payload),
    });
    if ((pdu.registered_delivery & 0x03) === 1) {
      const submitted = new Date();
      setTimeout(function () {
        sendReceipt(entry, pdu, messageId, submitted);
      }, receiptDelayMs);
    }
  });

  session.on('deliver_sm_resp', function (pdu) {
    emit({
      event: 'deliver_sm_resp',
      connection: entry.id,
      sequence: pdu.sequence_number,
      status: pdu.command_status,
    });
  });
  session.on('enquire_link', function (pdu) {
    session.send(pdu.response());
    emit({ event: 'enquire_link', connection: entry.id, sequence: pdu.sequence_number });
  });
  session.on('unbind', function (pdu) {
    session.send(pdu.response());
    emit({ event: 'unbind', connection: entry.id });
    session.close();
  });
  session.on('generic_nack', function (pdu) {
    emit({ event: 'generic_nack', connection: entry.id, sequence: pdu.sequence_number, status: pdu.command_status });
  });
  session.on('unknown', function (pdu) {
    session.send(pdu.response());
  });
  session.on('error', function (e) {
    emit({ event: 'error', connection: entry.id, error: String(e && e.message) });
  });
  session.on('close', function () {
    const i = sessions.indexOf(entry);
    if (i >= 0) sessions.splice(i, 1);
    emit({ event: 'disconnected', connection: entry.id });
  });
});

server.on('error', function (e) {
  process.stderr.write('node_smsc.js: ' + e.message + '\n');
  process.exit(1);
});

server.listen(Number(portText || 0), '127.0.0.1', function () {
  const address = server.address();
  emit({ event: 'listening', address: address.address + ':' + address.port });
});

function command(line) {
  const trimmed = line.trim();
  if (!trimmed) return;
  const match = /^(\S+)(?:\s+(\S+)\s+(\S+)(?:\s(.*))?)?$/.exec(trimmed);
  const verb = match ? match[1] : trimmed;
  if (verb === 'quit') process.exit(0);
  if (verb === 'help') {
    emit({ event: 'help', text: 'mo <from> <to> <text…> | mo-ucs2 <from> <to> <text…> | quit' });
    return;
  }
  if ((verb === 'mo' || verb === 'mo-ucs2') && match && match[2]) {
    const text = match[4] || '';
    const target = receiver(null);
    if (!target) {
      emit({ event: 'command_error', command: trimmed, error: 'no bound receiver' });
      return;
    }
    const gsm = smpp.encodings.ASCII.match(text);
    const dataCoding = verb === 'mo-ucs2' || !gsm ? 8 : 0;
    const sequence = sendDeliver(
      target,
      {
        source_addr: match[2],
        destination_addr: match[3],
        esm_class: 0,
        data_coding: dataCoding,
        short_message: text,
      },
      'mo'
    );
    emit({ event: 'command_done', command: verb, sequence: sequence });
    return;
  }
  emit({ event: 'command_error', command: trimmed, error: 'unknown command (try help)' });
}

readline.createInterface({ input: process.stdin }).on('line', command);
