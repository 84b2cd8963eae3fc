// SPDX-License-Identifier: MIT
// Live server, the page in headless Chromium: statistics rows and timeline bars appear, it shows
// when the server is gone and reconnects when the server comes back on the same port and token.
import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { Driver, LONG, OUT_DIR } from './ws-lib.mjs';

const CHROMIUM = process.env.RT_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];

test('the page shows statistics and timeline, and reconnects after a restart', async () => {
  const token = 'page-' + crypto.randomBytes(12).toString('hex');
  let d = await new Driver(['--rate', '800', '--quiet', '--token', token]).start();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: LONG });
  const problems = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', e => problems.push('page error: ' + e.message));
    page.on('console', m => { if (m.type() === 'error' && !/WebSocket|ERR_CONNECTION_REFUSED|Failed to load/.test(m.text())) problems.push(m.text()); });
    await page.goto(d.url, { timeout: LONG });
    const wait = (fn, arg) => page.waitForFunction(fn, arg, { timeout: LONG, polling: 100 });

    // Statistics: one row per span name, one per thread.
    await wait(() => document.querySelectorAll('#stats-spans tbody tr').length === 7);
    await wait(() => document.querySelectorAll('#stats-threads tbody tr').length === 4);
    const names = await page.$$eval('#stats-spans tbody tr td:first-child', tds => tds.map(t => t.textContent));
    assert.deepEqual(names, ['main-loop', 'request', 'parse', 'query', 'io', 'compute', 'encode']);
    // Timeline: four threads, each at least its open main-loop bar, with nested spans under it.
    await wait(() => {
      const c = document.getElementById('timeline');
      return Number(c.dataset.lanes) === 4 && Number(c.dataset.bars) >= 40;
    });
    assert.equal(await page.$eval('#status', e => e.dataset.state), 'connected');
    assert.match(await page.$eval('#status-text', e => e.textContent), /^connected$/);
    // The counters come with the next statistics (the first one a client gets may predate it).
    await wait(() => /^1 trace \/ 1 stats clients$/.test(document.getElementById('server').textContent));
    await page.screenshot({ path: path.join(OUT_DIR, 'ws-page.png') });

    // The server goes: the page says so.
    const port = d.port;
    assert.deepEqual(await d.quit('SIGTERM'), { code: 0, sig: null });
    await wait(() => document.getElementById('status').dataset.state === 'disconnected');
    assert.match(await page.$eval('#status-text', e => e.textContent), /disconnected/);
    await page.screenshot({ path: path.join(OUT_DIR, 'ws-page-disconnected.png') });

    // It comes back on the same port with the same token: the page reconnects by itself.
    d = await new Driver(['--rate', '800', '--quiet', '--token', token, '--port', String(port)]).start();
    await wait(() => document.getElementById('status').dataset.state === 'connected');
    await wait(() => Number(document.getElementById('timeline').dataset.lanes) === 4);
    await wait(() => document.querySelectorAll('#stats-spans tbody tr').length === 7);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
    assert.deepEqual(await d.quit(), { code: 0, sig: null });
  }
});
