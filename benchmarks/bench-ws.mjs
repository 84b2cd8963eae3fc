// SPDX-License-Identifier: MIT
// Live server benchmark: trace events/s delivered to 0 (file only), 1 and 10 websocket clients, and
// the server's memory while one client is stalled. Runs interleaved, prints min/median/max.
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
for (let r = 0; r < REPS; r++)
  for (const n of [0, 1, 10]) {
    const x = await delivery(n);
    results[n].push(x.rate);
    mb[n] = x.mb;
  }
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
