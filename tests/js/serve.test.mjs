// SPDX-License-Identifier: MIT
// `ringtrace serve` and `record --listen` attached to a real traced program: the statistics socket
// carries the statistics JSON of what is recorded (rows of the program's spans, no histograms), and
// Ctrl-C still writes the files asked for.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client, until, checkChrome, OUT_DIR } from './ws-lib.mjs';

const TOOL = process.env.RT_TOOL;
const PRODUCER = process.env.RT_PRODUCER;

function run(cmd, args) {
  const p = { out: '', err: '', exited: null };
  p.proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  p.proc.stdout.on('data', d => { p.out += d; });
  p.proc.stderr.on('data', d => { p.err += d; });
  p.proc.on('exit', (code, sig) => { p.exited = { code, sig }; });
  return p;
}

// A traced program running until killed; resolves once it is registered.
async function program(dir) {
  const ready = path.join(dir, 'ready');
  const p = run(PRODUCER, ['--threads', '2', '--spans', '20', '--forever', '--ready', ready]);
  await until(() => fs.existsSync(ready), 'the traced program');
  return p;
}

// The URL the server printed, split for the clients.
async function served(p) {
  const m = await until(() => {
    if (p.exited) throw new Error(`exited ${JSON.stringify(p.exited)}: ${p.err}`);
    return p.err.match(/serving on (\S+)/);
  }, 'the URL');
  const u = new URL(m[1]);
  return { base: `ws://${u.host}`, token: u.searchParams.get('token') };
}

// The first statistics message that has rows of the program's spans.
async function statsOf(where, pid) {
  const s = new Client(`${where.base}/stats?token=${where.token}`);
  await s.opened;
  const doc = await until(() => {
    for (const m of s.messages) {
      const d = JSON.parse(m.data);
      if (d.spans?.some(r => r.name === 'work' && r.pid === pid && r.count > 0)) return d;
    }
    return null;
  }, 'statistics with the spans');
  await s.close();
  return doc;
}

function checkStats(doc, pid) {
  assert.equal(doc.format, 'ringtrace-stats');
  assert.equal(doc.live, true);
  const work = doc.spans.find(r => r.name === 'work' && r.pid === pid);
  const inner = doc.spans.find(r => r.name === 'inner' && r.pid === pid);
  assert.ok(work && inner, 'rows of both span names');
  assert.equal(work.hist, undefined, 'no histograms on the live socket');
  assert.ok(work.p50_ns > 0 && work.p99_ns >= work.p50_ns);
  assert.ok(doc.threads.filter(t => t.pid === pid).length >= 2);
  assert.ok(doc.ws && typeof doc.ws.stats_clients === 'number', 'the server counters');
}

test('serve: live statistics on /stats, files written on Ctrl-C', async () => {
  const dir = fs.mkdtempSync(path.join(OUT_DIR, 'serve-'));
  const prog = await program(dir);
  const json = path.join(dir, 'serve.json'), st = path.join(dir, 'serve-stats.json');
  const srv = run(TOOL, ['serve', '-q', '-p', String(prog.proc.pid), '-o', json, '--stats-file', st]);
  try {
    const where = await served(srv);
    checkStats(await statsOf(where, prog.proc.pid), prog.proc.pid);
    srv.proc.kill('SIGINT');
    await until(() => srv.exited, 'serve to stop');
    assert.deepEqual(srv.exited, { code: 0, sig: null }, srv.err);
    const trace = JSON.parse(fs.readFileSync(json, 'utf8'));
    const r = checkChrome(trace.traceEvents, 'serve');
    assert.ok(r.phases.X > 0);
    assert.equal(trace.otherData.stats.format, 'ringtrace-stats-summary');
    const saved = JSON.parse(fs.readFileSync(st, 'utf8'));
    assert.ok(saved.spans.find(s => s.name === 'work').hist, 'the file keeps the histograms');
  } finally {
    if (!srv.exited) srv.proc.kill('SIGKILL');
    prog.proc.kill('SIGTERM');
    await until(() => prog.exited, 'the program to stop');
    // Killed, it left its segments (under this test's RINGTRACE_SHM_PREFIX): remove them.
    spawnSync(TOOL, ['clean', '-q']);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('record --listen: records and serves at once', async () => {
  const dir = fs.mkdtempSync(path.join(OUT_DIR, 'listen-'));
  const prog = await program(dir);
  const json = path.join(dir, 'rec.json');
  const rec = run(TOOL, ['record', '-q', '-p', String(prog.proc.pid), '-o', json, '--listen', '127.0.0.1:0']);
  try {
    const where = await served(rec);
    checkStats(await statsOf(where, prog.proc.pid), prog.proc.pid);
    rec.proc.kill('SIGINT');
    await until(() => rec.exited, 'record to stop');
    assert.deepEqual(rec.exited, { code: 0, sig: null }, rec.err);
    assert.ok(JSON.parse(fs.readFileSync(json, 'utf8')).traceEvents.length > 0);
  } finally {
    if (!rec.exited) rec.proc.kill('SIGKILL');
    prog.proc.kill('SIGTERM');
    await until(() => prog.exited, 'the program to stop');
    // Killed, it left its segments (under this test's RINGTRACE_SHM_PREFIX): remove them.
    spawnSync(TOOL, ['clean', '-q']);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
