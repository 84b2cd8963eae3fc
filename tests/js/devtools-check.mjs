// SPDX-License-Identifier: MIT
// Load a Chrome trace (JSON object or array, optionally gzip) into the DevTools trace engine
// (npm @paulirish/trace_engine, the model Chrome's Performance panel uses) and print what it built
// as JSON: threads per process, slices, and the flows it draws (each flow's events, in order).
import fs from 'node:fs';
import zlib from 'node:zlib';
import * as Trace from '@paulirish/trace_engine/models/trace/trace.js';

// The engine touches DOMRect in a few handlers; node has none.
globalThis.DOMRect ??= class { constructor(x = 0, y = 0, w = 0, h = 0) { Object.assign(this, { x, y, width: w, height: h }); } };

export function loadEvents(path) {
  let buf = fs.readFileSync(path);
  if (buf[0] === 0x1f && buf[1] === 0x8b)
    buf = zlib.gunzipSync(buf);
  const doc = JSON.parse(buf.toString('utf8'));
  return Array.isArray(doc) ? doc : doc.traceEvents;
}

export async function analyze(events) {
  const model = Trace.TraceModel.Model.createWithAllHandlers();
  await model.parse(events);
  const data = model.parsedTrace().data;
  const threads = [];
  for (const [pid, proc] of data.Renderer.processes)
    for (const [tid, thread] of proc.threads)
      threads.push({ pid, tid, name: thread.name ?? null, slices: thread.entries?.length ?? 0 });
  const flows = data.Flows.flows.map(f => f.map(e => ({ ph: e.ph, name: e.name, cat: e.cat, pid: e.pid, tid: e.tid, ts: e.ts })));
  return { events: events.length, threads, flows: flows.length, flowEvents: flows };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = await analyze(loadEvents(process.argv[2]));
  if (!process.argv.includes('--flow-events'))
    delete out.flowEvents;
  console.log(JSON.stringify(out));
}
