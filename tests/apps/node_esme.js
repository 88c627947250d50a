#!/usr/bin/env node
// A small ESME (SMPP client) built on node-smpp (npm `smpp`, pinned in scripts/package.json):
// a client nobody here wrote, for interop tests of Richmond's SMPP server transport.
//
// Reference: SMPP 3.4 §4.1 (binds), §4.4 (submit_sm); reference/routing-peers.md §3.
//
// Usage: node tests/apps/node_esme.js --connect 127.0.0.1:<port> [--tls]
// node-smpp is found through NODE_PATH (./scripts/test sets it to scripts/node_modules).
//
// Output: one JSON object per line on stdout; the first is
//   {"event":"listening","address":"<the server's address>"} (as the simulators start),
// then bind_resp, submit_sm_resp, deliver_sm (answered) or deliver_sm_ignored (muted), muted,
// disconnected, command_error.
//
// Commands on stdin, one per line (<c> is a connection number, from 1 in bind order):
//   bind <transceiver|transmitter|receiver> <system_id> <password>   a new connection
//   submit <c> <tag> <from> <to> <text…>    one submit_sm (data_coding as node-smpp picks)
//   burst <c> <n> <from> <to>               n submit_sm at once, tagged burst-<i>
//   submit-udh <c> <tag> <from> <to> <total> <seq>   one part of a long message (UDH)
//   submit-raw-udh <c> <tag> <from> <to> <hex>   a text after the UDH <hex> (UDHL included)
//   submit-long <c> <tag> <from> <to> <udh|sar> <total> <text…>   the text in <total> parts,
//                                           each asking for a receipt, tagged <tag>-<seq>
//   mute <c>                                this connection stops answering deliver_sm
//   unbind <c> | quit
//
// Not handled: windowing (node-smpp sends what it is given).

'use strict';

const readline = require('readline');
let smpp;
try {
  smpp = require('smpp');
} catch (e) {
  process.stderr.write(
    'node_esme.js: cannot load node-smpp (' + e.message + '); set NODE_PATH to ' +
      'scripts/node_modules (./scripts/test does) or run `npm ci` in scripts/\n'
  );
  process.exit(2);
}

function option(name, fallback) {
  const i = process.argv.indexOf('--' + name);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  return fallback;
}

const target = option('connect', '');
// --tls: SMPP over TLS (the test's self-signed certificate is not checked).
const tls = process.argv.includes('--tls');
const [host, portText] = target.split(/:(?=[^:]*$)/);
if (host !== '127.0.0.1' && host !== 'localhost') {
  process.stderr.write('node_esme.js: connects to 127.0.0.1 only\n');
  process.exit(2);
}

function emit(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

const sessions = [];
const muted = new Set(); // connections that do not answer deliver_sm

function submit(c, tag, fields) {
  const session = sessions[c - 1];
  if (!session) {
    emit({ event: 'command_error', error: 'no connection ' + c });
    return;
  }
  session.submit_sm(fields, (pdu) => {
    emit({
      event: 'submit_sm_resp',
      connection: c,
      tag: tag,
      command_status: pdu.command_status,
      message_id: pdu.message_id || null,
    });
  });
}

function command(line) {
  const words = line.trim().split(/\s+/);
  const verb = words[0];
  if (verb === '' || verb === undefined) return;
  if (verb === 'quit') process.exit(0);
  if (verb === 'bind') {
    const [mode, systemId, password] = words.slice(1);
    const c = sessions.length + 1;
    const scheme = tls ? 'ssmpp://' : 'smpp://';
    const session = smpp.connect({ url: scheme + host + ':' + portText,
      auto_enquire_link_period: 0, rejectUnauthorized: false });
    sessions.push(session);
    session.on('error', (e) => emit({ event: 'error', connection: c, error: String(e.message) }));
    session.on('close', () => emit({ event: 'disconnected', connection: c }));
    session.on('deliver_sm', (pdu) => {
      if (muted.has(c)) {
        emit({ event: 'deliver_sm_ignored', connection: c });
        return;
      }
      const sm = pdu.short_message;
      const text = sm && typeof sm.message === 'string' ? sm.message
        : (typeof sm === 'string' ? sm : null);
      emit({ event: 'deliver_sm', connection: c, source: pdu.source_addr,
        destination: pdu.destination_addr, esm_class: pdu.esm_class, text: text });
      session.send(pdu.response());
    });
    session.on('connect', () => {
      session['bind_' + mode]({ system_id: systemId, password: password }, (pdu) => {
        emit({ event: 'bind_resp', connection: c, command_status: pdu.command_status,
          system_id: pdu.system_id || null });
      });
    });
    return;
  }
  const c = Number(words[1]);
  if (verb === 'submit') {
    const [tag, from, to] = words.slice(2, 5);
    submit(c, tag, { source_addr: from, destination_addr: to, registered_delivery: 1,
      short_message: words.slice(5).join(' ') });
  } else if (verb === 'burst') {
    const [n, from, to] = [Number(words[2]), words[3], words[4]];
    for (let i = 0; i < n; i++) {
      submit(c, 'burst-' + i, { source_addr: from, destination_addr: to,
        short_message: 'burst ' + i });
    }
  } else if (verb === 'submit-udh') {
    const [tag, from, to] = words.slice(2, 5);
    const [total, seq] = [Number(words[5]), Number(words[6])];
    submit(c, tag, { source_addr: from, destination_addr: to, esm_class: 0x40,
      short_message: { udh: Buffer.from([0x05, 0x00, 0x03, 0x2a, total, seq]), message: 'part' } });
  } else if (verb === 'submit-raw-udh') {
    const [tag, from, to, hex] = words.slice(2, 6);
    submit(c, tag, { source_addr: from, destination_addr: to, esm_class: 0x40,
      short_message: { udh: Buffer.from(hex, 'hex'), message: 'raw' } });
  } else if (verb === 'submit-long') {
    const [tag, from, to, how] = words.slice(2, 6);
    const total = Number(words[6]);
    const text = words.slice(7).join(' ');
    const size = Math.ceil(text.length / total);
    const reference = 1 + Math.floor(Math.random() * 250);
    for (let seq = 1; seq <= total; seq++) {
      const chunk = text.slice((seq - 1) * size, seq * size);
      const fields = { source_addr: from, destination_addr: to, registered_delivery: 1 };
      if (how === 'sar') {
        fields.short_message = chunk;
        fields.sar_msg_ref_num = reference;
        fields.sar_total_segments = total;
        fields.sar_segment_seqnum = seq;
      } else {
        fields.esm_class = 0x40;
        fields.short_message = {
          udh: Buffer.from([0x05, 0x00, 0x03, reference, total, seq]), message: chunk };
      }
      submit(c, tag + '-' + seq, fields);
    }
  } else if (verb === 'mute') {
    muted.add(c);
    emit({ event: 'muted', connection: c });
  } else if (verb === 'unbind') {
    const session = sessions[c - 1];
    if (session) session.unbind(() => session.close());
  } else {
    emit({ event: 'command_error', error: 'unknown command ' + verb });
  }
}

readline.createInterface({ input: process.stdin }).on('line', command);
emit({ event: 'listening', address: target });
