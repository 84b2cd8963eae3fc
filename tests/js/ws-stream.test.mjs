// SPDX-License-Identifier: MIT
// Live server, /trace: clients joining at different times each get a valid trace (format checker
// and DevTools engine), begins of open spans first, then exactly the live events from their arrival.
import test from 'node:test';
import assert from 'node:assert/strict';
import { Driver, Client, until, checkChrome, devtools, expectedAfter, sameEvents, fetchTrace, stripAnchors } from './ws-lib.mjs';

test('two clients joining at different times get valid traces with no gap and no duplicate', async () => {
  const d = await new Driver(['--rate', '3000', '--quiet']).start();
  try {
    const a = new Client(`${d.base}/trace?token=${d.token}`);
    await a.opened;
    const joinA = await d.snapshot();
    await until(() => a.messages.length >= 3 && a.count() > joinA.size + 500, 'client A to get live events');
    const b = new Client(`${d.base}/trace?token=${d.token}`);
    await b.opened;
    const joinB = await d.snapshot();
    assert.ok(joinB.seq > joinA.seq, 'B arrived later');
    await until(() => b.count() > joinB.size + 500, 'client B to get live events');
    const ended = Number((await d.ask('end', /^ended (\d+)/))[1]);

    // The file: complete, valid, the reference stream.
    const file = (await fetchTrace(d)).traceEvents;
    const fileLive = stripAnchors(file).slice(d.fileJoin.size);
    const fileCheck = checkChrome(file, 'file');
    assert.equal(fileLive.length, ended - d.fileJoin.seq, 'the file has every event after its start');

    for (const [name, c, join] of [['A', a, joinA], ['B', b, joinB]]) {
      // Wait until the client has all it should get (counted, not timed).
      await until(() => c.count() >= join.size, `client ${name}'s snapshot`);
      const snap = c.events().slice(0, join.size);
      const want = expectedAfter(fileLive, d.fileJoin.seq, join.seq, snap);
      await until(() => c.count() >= join.size + want.length, `client ${name} to get all ${want.length} events`);
      const evs = c.events();
      assert.equal(evs.length, join.size + want.length, `client ${name}: no duplicate`);
      assert.equal(sameEvents(evs.slice(join.size), want), null, `client ${name}: the live events after arrival`);

      // Begins first: metadata, then the begins of what was open, every thread's main-loop included.
      const firstLive = snap.findIndex(e => e.ph !== 'M');
      assert.ok(snap.slice(firstLive).every(e => e.ph === 'B' || e.ph === 'b'), `client ${name}: snapshot is begins`);
      const threads = new Set(snap.filter(e => e.ph === 'M' && e.name === 'thread_name').map(e => `${e.pid}:${e.tid}`));
      assert.equal(threads.size, 4);
      const loops = snap.filter(e => e.ph === 'B' && e.name === 'main-loop');
      assert.equal(loops.length, 4, `client ${name}: every thread's open main-loop`);

      // The format checker and the DevTools engine accept it.
      const raw = c.rawEvents();
      const r = checkChrome(raw, name);
      const x = raw.filter(e => e.ph === 'X').length, be = raw.filter(e => e.ph === 'B').length;
      assert.equal(r.phases.B, be);
      assert.equal(r.phases.E, be, `client ${name}: every B ends`);
      assert.equal(r.phases.be_spans, be);
      assert.equal(r.threads, 4);
      const dt = await devtools(raw);
      const slices = dt.threads.reduce((n, t) => n + t.slices, 0);
      assert.equal(slices, x + be, `client ${name}: DevTools sees every span`);
      assert.equal(dt.threads.length, 4);
    }
    // A, from early on, got as many spans as the file after its arrival; B fewer.
    assert.ok(a.count() > b.count());
    assert.ok(fileCheck.phases.X > 0);
    await a.close();
    await b.close();
  } finally {
    assert.deepEqual(await d.quit(), { code: 0, sig: null });
  }
});
