// SPDX-License-Identifier: MIT
// `convert --format speedscope` loaded in speedscope (npm speedscope, headless Chromium): its
// Sandwich view lists each span name once per thread, with the spans of that name aggregated.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const TOOL = process.env.RT_TOOL, PRODUCER = process.env.RT_PRODUCER;
const OUT = process.env.RT_OUT_DIR || '/tmp';
const CHROMIUM = process.env.RT_CHROMIUM || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const DIST = path.join(path.dirname(createRequire(import.meta.url).resolve('speedscope/package.json')), 'dist', 'release');
const TIMEOUT = 120000;

// Serve speedscope's page and the profile from one origin (it fetches #profileURL).
function serve(profile) {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json' };
  const srv = http.createServer((req, res) => {
    const p = new URL(req.url, 'http://x').pathname;
    const file = p === '/profile.json' ? profile : path.join(DIST, path.normalize(p === '/' ? '/index.html' : p));
    if (p !== '/profile.json' && !file.startsWith(DIST)) { res.writeHead(403); res.end(); return; }
    fs.readFile(file, (e, d) => {
      if (e) { res.writeHead(404); res.end(); return; }
      res.writeHead(200, { 'Content-Type': types[path.extname(file)] || 'application/octet-stream' });
      res.end(d);
    });
  });
  return new Promise(r => srv.listen(0, '127.0.0.1', () => r(srv)));
}

test('speedscope aggregates spans by name', { timeout: TIMEOUT }, async () => {
  const raw = path.join(OUT, `speedscope-${process.pid}.rtrace`);
  const out = path.join(OUT, `speedscope-${process.pid}.speedscope.json`);
  // Two threads, each 300 "work" spans with an "inner" span inside.
  execFileSync(TOOL, ['record', '--quiet', '--raw', raw, '--', PRODUCER, '--threads', '2', '--spans', '300'], { stdio: 'inherit' });
  execFileSync(TOOL, ['convert', raw, '--format', 'speedscope', '-o', out, '--quiet'], { stdio: 'inherit' });
  const doc = JSON.parse(fs.readFileSync(out, 'utf8'));
  const names = doc.shared.frames.map(f => f.name);
  assert.deepEqual([...names].sort(), ['inner', 'work']);
  const workers = doc.profiles.filter(p => p.events.length === 4 * 300);
  assert.equal(workers.length, 2, 'a profile per worker thread, 300 spans of each name');

  const srv = await serve(out);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: TIMEOUT });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors = [];
    page.on('pageerror', e => errors.push(e.message));
    const { port } = srv.address();
    await page.goto(`http://127.0.0.1:${port}/index.html#profileURL=http://127.0.0.1:${port}/profile.json`, { timeout: TIMEOUT });
    await page.waitForFunction(() => /Sandwich/.test(document.body.innerText), null, { timeout: TIMEOUT, polling: 100 });
    // The first worker's profile, in the Sandwich view (key 3): one row per name.
    const index = doc.profiles.indexOf(workers[0]) + 1;
    for (let i = 1; i < index; i++)
      await page.keyboard.press('n');
    await page.keyboard.press('3');
    await page.waitForFunction(() => /Symbol Name/.test(document.body.innerText), null, { timeout: TIMEOUT, polling: 100 });
    const rows = await page.evaluate(() => {
      const text = document.body.innerText;
      const lines = text.slice(text.indexOf('Symbol Name') + 'Symbol Name'.length).split('\n').map(l => l.trim()).filter(Boolean);
      // Each row: total, self, name; durations look like "12.3ms (45%)".
      return lines.filter(l => !/^[0-9.]+\s*(ns|µs|us|ms|s)\b/.test(l) && !/^\(/.test(l));
    });
    await page.screenshot({ path: path.join(OUT, 'speedscope-sandwich.png') });
    assert.deepEqual(errors, []);
    assert.deepEqual(rows.slice(0, 2).sort(), ['inner', 'work'], `rows: ${rows.join(' | ')}`);
    assert.equal(rows.filter(r => r === 'work').length, 1, 'the 300 work spans are one row');
  } finally {
    await browser.close();
    srv.close();
    fs.rmSync(raw, { force: true });
    fs.rmSync(out, { force: true });
  }
});
