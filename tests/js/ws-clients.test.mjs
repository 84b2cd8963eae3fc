// SPDX-License-Identifier: MIT
// Live server: a stalled client is disconnected while another gets everything; connect/disconnect
// cycles leave memory where it was; the token and Origin checks; /stats once a second; shutdown.
import test from 'node:test';
import assert from 'node:assert/strict';
import { Driver, Client, until, sleep, checkChrome, expectedAfter, sameEvents, fetchTrace, stripAnchors } from './ws-lib.mjs';

const sanitized = (process.env.RT_SANITIZE || 'none') !== 'none';

test('a client that stops reading is disconnected, the other gets everything', async () => {
  const queue = 8 << 20;
  const d = await new Driver(['--rate', '0', '--queue', String(queue)]).start();
  try {
    const good = new Client(`${d.base}/trace?token=${d.token}`);
    await good.opened;
    const joinGood = await d.snapshot();
    const slow = new Client(`${d.base}/trace?token=${d.token}`);
    await slow.opened;
    await d.snapshot();
    slow.ws.pause(); // stops reading: its TCP window closes, then its queue fills
    let bursts = 0;
    await until(async () => {
      await d.ask('burst 10000', /^burst-done/);
      bursts++;
      return (await d.counters()).slow_disconnects === 1;
    }, 'the stalled client to be disconnected');
    assert.ok(bursts < 200, `took ${bursts} bursts`);
    // Publishing goes on; the good client keeps up.
    await d.ask('burst 20000', /^burst-done/);
    const ended = Number((await d.ask('end', /^ended (\d+)/))[1]);
    const file = (await fetchTrace(d)).traceEvents;
    const fileLive = stripAnchors(file).slice(d.fileJoin.size);
    assert.equal(fileLive.length, ended - d.fileJoin.seq);
    await until(() => good.count() >= joinGood.size, 'the snapshot');
    const want = expectedAfter(fileLive, d.fileJoin.seq, joinGood.seq, good.events().slice(0, joinGood.size));
    await until(() => good.count() >= joinGood.size + want.length, `all ${want.length} events at the good client`);
    assert.equal(sameEvents(good.events().slice(joinGood.size), want), null);
    checkChrome(good.rawEvents(), 'good');
    assert.equal(good.closed, null, 'the good client is still connected');
    const k = await d.counters();
    assert.equal(k.slow_disconnects, 1);
    // The stalled one: once it reads again it finds its connection closed by the server.
    slow.ws.resume();
    await until(() => slow.closed, 'the stalled client to see its close');
    assert.ok([1008, 1006].includes(slow.closed.code), `close code ${slow.closed.code}`);
    await until(async () => (await d.counters()).trace_clients === 1, 'the server to forget it');
    assert.match(d.stderr, /disconnecting \/trace client 127\.0\.0\.1:\d+ #2: not keeping up/);
    await good.close();
  } finally {
    assert.deepEqual(await d.quit(), { code: 0, sig: null });
  }
});

test('100 connect/disconnect cycles leave memory where it was', async () => {
  // Under ASan, freed memory is held in quarantine: no quarantine here, so RSS means what it says.
  const asan = [process.env.ASAN_OPTIONS, 'quarantine_size_mb=0', 'thread_local_quarantine_size_kb=0'].filter(Boolean).join(':');
  const d = await new Driver(['--rate', '2000', '--quiet'], sanitized ? { ASAN_OPTIONS: asan } : {}).start();
  try {
    const cycle = async i => {
      const t = new Client(`${d.base}/trace?token=${d.token}`);
      const s = new Client(`${d.base}/stats?token=${d.token}`);
      await t.opened;
      await s.opened;
      await d.snapshot();
      await until(() => t.count() > 0, 'trace events');
      if (i % 10 === 0) await fetchTrace(d);
      await t.close();
      await s.close();
    };
    for (let i = 0; i < 20; i++) await cycle(i);
    await until(async () => { const k = await d.counters(); return k.trace_clients === 0 && k.stats_clients === 0; }, 'all gone');
    const before = d.rss();
    for (let i = 0; i < 100; i++) await cycle(i);
    await until(async () => { const k = await d.counters(); return k.trace_clients === 0 && k.stats_clients === 0; }, 'all gone');
    const after = d.rss();
    const k = await d.counters();
    assert.equal(k.clients_total, 240);
    assert.equal(k.slow_disconnects, 0);
    // ThreadSanitizer's own bookkeeping grows with every allocation: there the cycles run for the
    // races they may show, the memory bound is checked by the plain and ASan builds.
    const limit = (sanitized ? 4 : 2) << 20;
    if (!(process.env.RT_SANITIZE || '').includes('thread'))
      assert.ok(after - before < limit, `RSS grew by ${after - before} bytes over 100 cycles (limit ${limit})`);
    console.log(`# RSS before ${before} after ${after} (${((after - before) / 1024).toFixed(0)} KiB)`);
  } finally {
    assert.deepEqual(await d.quit(), { code: 0, sig: null });
  }
});

test('requests without the token and upgrades from a foreign Origin are refused', async () => {
  const d = await new Driver(['--rate', '500', '--quiet']).start();
  try {
    const http = p => fetch(`http://${d.host}${p}`).then(r => r.status);
    assert.equal(await http('/'), 403);
    assert.equal(await http('/?token=0123456789abcdef0123456789abcdef'), 403);
    assert.equal(await http('/trace.json'), 403);
    assert.equal(await http(`/nothing?token=${d.token}`), 404);
    const page = await fetch(`http://${d.host}/?token=${d.token}`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy'), /default-src 'none'/);
    assert.match(await page.text(), /<title>ringtrace live<\/title>/);
    const refused = async (url, opts) => {
      const c = new Client(url, opts);
      await assert.rejects(c.opened);
    };
    await refused(`${d.base}/trace`);
    await refused(`${d.base}/trace?token=x${d.token.slice(1)}`);
    await refused(`${d.base}/trace?token=${d.token}`, { origin: 'http://evil.example' });
    await refused(`${d.base}/stats?token=${d.token}`, { origin: `http://evil.example:${d.port}` });
    await refused(`${d.base}/elsewhere?token=${d.token}`);
    // The server's own page is welcome.
    const own = new Client(`${d.base}/trace?token=${d.token}`, { origin: `http://${d.host}` });
    await own.opened;
    await d.snapshot();
    const k = await d.counters();
    assert.equal(k.refused, 8);
    assert.equal(k.clients_total, 1);
    await own.close();
  } finally {
    assert.deepEqual(await d.quit(), { code: 0, sig: null });
  }
});

test('/stats delivers the statistics once a second, with the server counters', async () => {
  const d = await new Driver(['--rate', '500', '--quiet']).start();
  try {
    const s = new Client(`${d.base}/stats?token=${d.token}`);
    await s.opened;
    await until(() => s.messages.length >= 5, 'five statistics messages');
    const docs = s.messages.map(m => JSON.parse(m.data));
    for (const doc of docs.slice(1)) { // the first was published before this client came
      assert.equal(doc.spans.length, 7);
      assert.equal(doc.ws.stats_clients, 1);
      assert.equal(doc.ws.trace_clients, 0);
    }
    const gaps = s.messages.slice(2).map((m, i) => m.t - s.messages[i + 1].t);
    for (const g of gaps) assert.ok(g > 250 && g < 3000, `interval ${g} ms`);
    const mean = gaps.reduce((a, b) => a + b) / gaps.length;
    assert.ok(mean > 700 && mean < 1600, `mean interval ${mean} ms`);
    // Events counted in the statistics only go up.
    const ev = docs.map(x => x.events);
    assert.deepEqual([...ev].sort((a, b) => a - b), ev);
    await s.close();
  } finally {
    assert.deepEqual(await d.quit(), { code: 0, sig: null });
  }
});

test('SIGINT closes every connection cleanly after sending what was queued', async () => {
  const d = await new Driver(['--rate', '3000', '--quiet']).start();
  const t = new Client(`${d.base}/trace?token=${d.token}`);
  const s = new Client(`${d.base}/stats?token=${d.token}`);
  await t.opened;
  await s.opened;
  await d.snapshot();
  await until(() => t.count() > 1000 && s.messages.length > 0, 'traffic');
  const exit = await d.quit('SIGINT');
  assert.deepEqual(exit, { code: 0, sig: null });
  await until(() => t.closed && s.closed, 'both closed');
  assert.deepEqual(t.closed, { code: 1001, reason: 'server shutting down' });
  assert.deepEqual(s.closed, { code: 1001, reason: 'server shutting down' });
  // Everything open was ended before the server went: the client's trace is complete.
  const r = checkChrome(t.rawEvents(), 'shutdown');
  assert.equal(r.phases.B, r.phases.E);
  await sleep(0);
});
