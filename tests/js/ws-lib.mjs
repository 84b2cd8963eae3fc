// SPDX-License-Identifier: MIT
// Helpers for the live server's tests: run tests/ws-driver, real websocket clients (npm ws), and
// the checks a client's trace must pass (check-chrome.py and the DevTools trace engine).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { analyze } from './devtools-check.mjs';

export const DRIVER = process.env.RT_WS_DRIVER;
export const CHECKER = process.env.RT_CHECKER;
export const OUT_DIR = process.env.RT_OUT_DIR || os.tmpdir();
// Generous: the machine is shared and loaded.
export const LONG = Number(process.env.RT_WS_TIMEOUT_MS || 60000);

export const sleep = ms => new Promise(r => setTimeout(r, ms));

// Poll cond() until it is true; fail with `what` after `ms`.
export async function until(cond, what, ms = LONG) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(20);
  }
}

export class Driver {
  constructor(args = [], env = {}) {
    this.proc = spawn(DRIVER, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    this.lines = [];
    this.stderr = '';
    this.exited = null;
    let buf = '';
    this.proc.stdout.on('data', d => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) { this.lines.push(buf.slice(0, i)); buf = buf.slice(i + 1); }
    });
    this.proc.stderr.on('data', d => { this.stderr += d; });
    this.proc.on('exit', (code, sig) => { this.exited = { code, sig }; });
    this.read = 0;
  }
  // The next line matching re (lines before it that do not match are skipped).
  async line(re, what = String(re)) {
    return until(() => {
      while (this.read < this.lines.length) {
        const m = this.lines[this.read++].match(re);
        if (m) return m;
      }
      if (this.exited) throw new Error(`driver exited (${JSON.stringify(this.exited)}) waiting for ${what}: ${this.stderr}`);
      return null;
    }, what);
  }
  async start() {
    const m = await this.line(/^url (\S+)/, 'the URL');
    this.url = m[1];
    const u = new URL(this.url);
    this.host = u.host;
    this.token = u.searchParams.get('token');
    this.base = `ws://${u.host}`;
    this.port = Number(u.port);
    // The trace file joins first: its snapshot line.
    this.fileJoin = await this.snapshot();
    return this;
  }
  async snapshot() {
    const m = await this.line(/^snapshot (\d+) (\d+)/, 'a snapshot');
    return { seq: Number(m[1]), size: Number(m[2]) };
  }
  send(cmd) { this.proc.stdin.write(cmd + '\n'); }
  async ask(cmd, re) { this.send(cmd); return this.line(re, cmd); }
  async counters() { return JSON.parse((await this.ask('counters', /^counters (.*)/))[1]); }
  rss() {
    const s = fs.readFileSync(`/proc/${this.proc.pid}/status`, 'utf8');
    return Number(s.match(/VmRSS:\s+(\d+)/)[1]) * 1024;
  }
  async quit(signal = null) {
    if (this.exited) return this.exited;
    if (signal) this.proc.kill(signal); else this.send('quit');
    await until(() => this.exited, 'the driver to exit');
    return this.exited;
  }
  traceUrl() { return `http://${this.host}/trace.json?token=${this.token}`; }
}

// A websocket client that keeps every message (raw) and parses on demand.
export class Client {
  constructor(url, opts = {}) {
    this.messages = [];
    this.closed = null;
    this.error = null;
    this.ws = new WebSocket(url, opts);
    this.opened = new Promise((res, rej) => {
      this.ws.on('open', res);
      this.ws.on('unexpected-response', (req, resp) => rej(new Error('refused: HTTP ' + resp.statusCode)));
      this.ws.on('error', e => { this.error = e; rej(e); });
    });
    this.opened.catch(() => {});
    this.ws.on('message', (d, isBinary) => { this.messages.push({ t: Date.now(), data: isBinary ? d : d.toString() }); });
    this.ws.on('close', (code, reason) => { this.closed = { code, reason: reason.toString() }; });
  }
  // Every JSON event, the slices flow events bind to included (for the checker and viewers).
  rawEvents() { return this.messages.flatMap(m => JSON.parse(m.data)); }
  // One JSON event per event the server published: without those binding slices.
  events() { return stripAnchors(this.rawEvents()); }
  count() { return this.events().length; }
  close() { this.ws.close(); return until(() => this.closed, 'the client to close'); }
}

// A flow event comes with the zero-length slice it binds to (cat "flow"): one published event, two
// JSON events. Comparisons count published events.
export const stripAnchors = evs => evs.filter(e => !(e.ph === 'X' && e.cat === 'flow'));

// Wrap a client's events as a complete Chrome trace and run the format checker on it.
export function checkChrome(events, name) {
  const file = path.join(OUT_DIR, `ws-${name}-${process.pid}.json`);
  fs.writeFileSync(file, JSON.stringify({ traceEvents: events, displayTimeUnit: 'ns', otherData: { test: name } }));
  try {
    return JSON.parse(execFileSync('python3', [CHECKER, file], { encoding: 'utf8' }));
  } finally {
    fs.unlinkSync(file);
  }
}

export async function devtools(events) {
  return analyze(events);
}

export const ns = us => Math.round(us * 1000);
const spanKey = e => `${e.pid}:${e.tid}:${e.args?.span}`;

// What a client that arrived at `seq` (and got `snap` as its snapshot) must have received after its
// snapshot, given the trace file's live events (`fileLive`, which joined at `fileSeq`): the same
// events from its arrival on, spans it got open as E, flow ends only after their start.
export function expectedAfter(fileLive, fileSeq, seq, snap) {
  const open = new Set(snap.filter(e => e.ph === 'B').map(spanKey));
  const flowStarts = new Set();
  const out = [];
  for (const e of fileLive.slice(seq - fileSeq)) {
    if (e.ph === 'X' && open.has(spanKey(e))) {
      open.delete(spanKey(e));
      // E carries the category X goes without (DevTools pairs B and E by name and category).
      out.push({ ph: 'E', pid: e.pid, tid: e.tid, cat: 'span', name: e.name, ts: (ns(e.ts) + ns(e.dur)) / 1000, args: e.args });
      continue;
    }
    if (e.ph === 's') flowStarts.add(e.id);
    if (e.ph === 'f' && !flowStarts.has(e.id)) continue;
    out.push(e);
  }
  return out;
}

// Events compared exactly (times as integer ns).
export function sameEvents(a, b) {
  const norm = e => JSON.stringify(e, (k, v) => (k === 'ts' || k === 'dur') && typeof v === 'number' ? ns(v) : v);
  if (a.length !== b.length) return `count ${a.length} != ${b.length}`;
  for (let i = 0; i < a.length; i++)
    if (norm(a[i]) !== norm(b[i])) return `event ${i}: ${norm(a[i])} != ${norm(b[i])}`;
  return null;
}

export async function fetchTrace(driver) {
  const r = await fetch(driver.traceUrl());
  if (r.status !== 200) throw new Error('trace.json: HTTP ' + r.status);
  return r.json();
}
