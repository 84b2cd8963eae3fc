// SPDX-License-Identifier: MIT
// Hand-offs drawn by the DevTools trace engine: every context captured on one thread and adopted on
// another, and every thread started with rt_thread_create(), is one flow the engine draws, from
// inside the span where the context was captured to the thread that continued the work.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { analyze, loadEvents } from './devtools-check.mjs';

const TOOL = process.env.RT_TOOL, PRODUCER = process.env.RT_PRODUCER, CHECKER = process.env.RT_CHECKER;
const OUT = process.env.RT_OUT_DIR || '/tmp';

test('every hand-off is one flow the DevTools engine draws', { timeout: 120000 }, async () => {
  const json = path.join(OUT, `flows-${process.pid}.json`);
  const THREADS = 3, HANDOFFS = 200;
  try {
    execFileSync(TOOL, ['record', '--quiet', '-o', json, '--', PRODUCER, '--threads', String(THREADS), '--spans', '10',
      '--handoffs', String(HANDOFFS)], { stdio: 'inherit' });
    // The format checker: every flow starts, ends and binds to a slice.
    const check = JSON.parse(execFileSync('python3', [CHECKER, json], { encoding: 'utf8' }));
    assert.equal(check.flows, THREADS + HANDOFFS);
    const events = loadEvents(json);
    const r = await analyze(events);
    assert.equal(r.flows, THREADS + HANDOFFS, 'DevTools draws every hand-off');
    const main = r.threads.find(t => t.name === 'main');
    const adopter = r.threads.find(t => t.name === 'adopter');
    const adopts = r.flowEvents.filter(f => f[0].name === 'adopt');
    assert.equal(adopts.length, HANDOFFS);
    // Each adopt flow: from the main thread, inside one of its "submit" spans (where the context
    // was captured), to the adopter.
    const submits = events.filter(e => e.ph === 'X' && e.name === 'submit' && e.tid === main.tid);
    assert.equal(submits.length, HANDOFFS);
    for (const f of adopts) {
      assert.equal(f.length, 2);
      assert.equal(f[0].tid, main.tid);
      assert.equal(f[1].tid, adopter.tid);
      assert.ok(f[1].ts >= f[0].ts);
      assert.ok(submits.some(s => s.ts <= f[0].ts && f[0].ts <= s.ts + s.dur), 'starts inside a submit span');
    }
    const inherits = r.flowEvents.filter(f => f[0].name === 'inherit');
    assert.equal(inherits.length, THREADS);
  } finally {
    fs.rmSync(json, { force: true });
  }
});
