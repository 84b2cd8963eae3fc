// SPDX-License-Identifier: MIT
// Live server benchmark: trace events/s delivered to 0 (file only), 1 and 10 websocket clients, and
// the server's memory while one client is stalled. Runs interleaved, prints min/median/max. With
// RT_TOOL and RT_BENCH_PRODUCER (benchmarks/bench-consumer): a real program under `ringtrace serve`
// at those rates, and the records it lost.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Driver, Client, until } from '../tests/js/ws-lib.mjs';

const EVENTS = Number(process.env.RT_BENCH_WS_EVENTS || 500000);
const REPS = Number(process.env.RT_BENCH_WS_REPS || 5);
const STALL_EVENTS = Number(process.env.RT_BENCH_WS_STALL_EVENTS || 1000000);

// A client that only counts: bytes, and the main-loop spans (4 begins in its snapshot, 4 ends at
// the end of the trace), so that it knows when it has everything without parsing.
class Counter extends Client {
  constructor(url) {
    super(url);
    this.bytes = 0;
    this.loops = 0;
    this.done = null;
    this.ws.removeAllListeners('message');
    this.ws.on('message', d => {
      this.bytes += d.length;
      for (let i = d.indexOf('"main-loop"'); i >= 0; i = d.indexOf('"main-loop"', i + 1)) this.loops++;
      if (this.loops >= 8 && !this.done) this.done = process.hrtime.bigint();
    });
  }
}

async function delivery(nclients) {
  const d = await new Driver(['--rate', '0', '--quiet', '--queue', String(1 << 30)]).start();
  try {
    const clients = [];
    for (let i = 0; i < nclients; i++) {
      const c = new Counter(`${d.base}/trace?token=${d.token}`);
      await c.opened;
      await d.snapshot();
      clients.push(c);
    }
    const t0 = process.hrtime.bigint();
    await d.ask(`burst ${EVENTS}`, /^burst-done/);
    await d.ask('end', /^ended/);
    const tPublished = process.hrtime.bigint();
    await until(() => clients.every(c => c.done), 'every client to get the end');
    const last = clients.reduce((m, c) => (c.done > m ? c.done : m), tPublished);
    const k = await d.counters();
    if (k.slow_disconnects) throw new Error('a client was disconnected during the benchmark');
    for (const c of clients) c.ws.terminate();
    return { rate: EVENTS / (Number((nclients ? last : tPublished) - t0) / 1e9), mb: clients[0] ? clients[0].bytes / 1e6 : 0 };
  } finally {
    await d.quit();
  }
}

async function stalled() {
  const d = await new Driver(['--rate', '0', '--quiet']).start();
  try {
    const good = new Counter(`${d.base}/trace?token=${d.token}`);
    await good.opened;
    await d.snapshot();
    const slow = new Counter(`${d.base}/trace?token=${d.token}`);
    await slow.opened;
    await d.snapshot();
    slow.ws.pause();
    const before = d.rss();
    let peak = before, kickedAt = null;
    for (let sent = 0; sent < STALL_EVENTS; sent += 20000) {
      await d.ask('burst 20000', /^burst-done/);
      peak = Math.max(peak, d.rss());
      if (kickedAt === null && (await d.counters()).slow_disconnects) kickedAt = sent + 20000;
    }
    await d.ask('end', /^ended/);
    await until(() => good.done, 'the good client to get everything');
    const after = d.rss();
    good.ws.terminate();
    slow.ws.terminate();
    return { before, peak, after, kickedAt, mb: good.bytes / 1e6 };
  } finally {
    await d.quit();
  }
}

const stats = v => {
  const s = [...v].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1] };
};
const fmt = x => (x / 1e6).toFixed(2) + ' M';

const results = { 0: [], 1: [], 10: [] };
let mb = {};
const SYNTHETIC = process.env.RT_BENCH_WS_REAL_ONLY !== '1';
for (let r = 0; r < REPS && SYNTHETIC; r++)
  for (const n of [0, 1, 10]) {
    const x = await delivery(n);
    results[n].push(x.rate);
    mb[n] = x.mb;
  }
if (SYNTHETIC) {
  console.log(`live server: ${EVENTS} events per run, ${REPS} runs interleaved, events/s min / median / max`);
  for (const n of [0, 1, 10]) {
    const s = stats(results[n]);
    console.log(`  ${String(n).padStart(2)} client${n === 1 ? ' ' : 's'}${n ? '' : ' (file only)'}: ${fmt(s.min)} / ${fmt(s.median)} / ${fmt(s.max)} events/s` +
      (n ? `  (${mb[n].toFixed(0)} MB per client)` : ''));
  }
  const st = [];
  for (let r = 0; r < Math.max(1, Math.min(REPS, 3)); r++) st.push(await stalled());
  const peaks = stats(st.map(x => x.peak - x.before));
  console.log(`one stalled client (queue limit 16 MiB) and one reading, ${STALL_EVENTS} events (${st[0].mb.toFixed(0)} MB):`);
  console.log(`  RSS before ${(st[0].before / 1048576).toFixed(1)} MiB; growth at peak min / median / max ` +
    `${(peaks.min / 1048576).toFixed(1)} / ${(peaks.median / 1048576).toFixed(1)} / ${(peaks.max / 1048576).toFixed(1)} MiB; ` +
    `after ${(st[0].after / 1048576).toFixed(1)} MiB; disconnected after ${st.map(x => x.kickedAt).join(', ')} events`);
}

// A real traced program (one thread, `rate` spans/s for `seconds`) under `ringtrace serve -o`, with
// `nclients` websocket clients counting events: what each got, and what the program lost (the
// trace's otherData, read from the end of the file).
const TOOL = process.env.RT_TOOL, PRODUCER = process.env.RT_BENCH_PRODUCER;

async function realProgram(nclients, rate, seconds) {
  const json = path.join(os.tmpdir(), `bench-ws-real-${process.pid}.json`);
  // The program starts a second after the server, so that the clients are connected by then.
  const cmd = `sleep 1; exec '${PRODUCER}' --produce ${rate} ${seconds}`;
  const srv = spawn(TOOL, ['serve', '-q', '-d', `${seconds + 4}s`, '-o', json, '--', 'sh', '-c', cmd],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '', exited = null;
  srv.stderr.on('data', d => { err += d; });
  srv.on('exit', code => { exited = { code }; });
  const m = await until(() => {
    if (exited) throw new Error(`serve exited ${exited.code}: ${err}`);
    return err.match(/serving on (\S+)/);
  }, 'the URL');
  const u = new URL(m[1]);
  const clients = [];
  for (let i = 0; i < nclients; i++) {
    const c = new Client(`ws://${u.host}/trace?token=${u.searchParams.get('token')}`);
    c.events = 0;
    c.ws.removeAllListeners('message');
    c.ws.on('message', d => { for (let i = d.indexOf('"ph":'); i >= 0; i = d.indexOf('"ph":', i + 5)) c.events++; });
    await c.opened;
    clients.push(c);
  }
  await until(() => exited, 'serve to stop', (seconds + 60) * 1000);
  if (exited.code !== 0) throw new Error(`serve exited ${exited.code}: ${err}`);
  const size = fs.statSync(json).size, fd = fs.openSync(json, 'r'), buf = Buffer.alloc(Math.min(size, 65536));
  fs.readSync(fd, buf, 0, buf.length, size - buf.length);
  fs.closeSync(fd);
  fs.unlinkSync(json);
  const tail = buf.toString(), num = k => Number((tail.match(new RegExp(`"${k}":(\\d+)`)) || [])[1] ?? NaN);
  const closes = {};
  for (const c of clients) {
    const why = c.closed ? `${c.closed.code} ${c.closed.reason}`.trim() : 'open';
    closes[why] = (closes[why] || 0) + 1;
  }
  return { spans: num('spans'), lost: num('lost_records'), events: clients.map(c => c.events), closes };
}

if (TOOL && PRODUCER) {
  const seconds = Number(process.env.RT_BENCH_WS_REAL_SECONDS || 5);
  console.log(`a real program under \`ringtrace serve -o\`: one thread at a fixed rate for ${seconds} s, clients joined before it starts`);
  for (const [n, rate] of [[1, 1000000], [10, 200000], [10, 1000000]]) {
    const r = await realProgram(n, rate, seconds);
    const ev = stats(r.events);
    console.log(`  ${String(n).padStart(2)} client${n === 1 ? ' ' : 's'}, ${fmt(rate)} spans/s: ${r.spans} spans recorded, ` +
      `${r.lost} records lost; events per client min / median / max ${ev.min} / ${ev.median} / ${ev.max}; ` +
      `closed: ${Object.entries(r.closes).map(([k, v]) => `${v}× ${k}`).join(', ')}`);
  }
}
