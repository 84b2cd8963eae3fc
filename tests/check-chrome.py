#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Validate a ringtrace Chrome trace-event JSON file against the format's rules and print counts
# (as JSON) for tests to compare with what producers emitted.
import collections
import json
import sys


def fail(msg):
    print("check-chrome: " + msg, file=sys.stderr)
    sys.exit(1)


# Timestamps are µs with ns decimals; sums of two such doubles near 1e7 µs are off by a few 1e-9:
# comparisons allow a tenth of a nanosecond.
EPS = 1e-4


def main(path):
    with open(path, "rb") as f:
        doc = json.loads(f.read().decode("utf-8"))  # strict: valid UTF-8 and JSON
    if not isinstance(doc, dict) or not isinstance(doc.get("traceEvents"), list):
        fail("not the JSON Object format")
    if doc.get("displayTimeUnit") != "ns":
        fail("displayTimeUnit is not ns")
    if not isinstance(doc.get("otherData"), dict):
        fail("otherData missing")
    counts = collections.Counter()
    names = collections.Counter()
    flags = collections.Counter()
    per_thread_last = {}
    span_ends = {}
    spans = collections.defaultdict(list)
    asyncs = {}
    flows = {}
    anchors = set()  # (ts, pid, tid, cat) of the slices flow events bind to
    bindings = []  # (event index, flow id, ph, binding key)
    pids = set()
    thread_names = {}
    log_messages = []
    first = {}
    recorded_first = {}  # per thread: earliest event whose time was recorded (not a stack's begin)
    overwritten_at = {}  # per thread: earliest "overwritten" loss
    order_violations = 0
    last_any = 0
    open_be = collections.defaultdict(list)  # B/E spans (the live stream's spans open at a client's arrival)
    for i, ev in enumerate(doc["traceEvents"]):
        ph = ev.get("ph")
        if not isinstance(ev.get("pid"), int) or not isinstance(ev.get("tid"), int):
            fail("event %d: pid/tid must be integers: %r" % (i, ev))
        if not isinstance(ev.get("name"), str):
            fail("event %d: no name: %r" % (i, ev))
        key = (ev["pid"], ev["tid"])
        pids.add(ev["pid"])
        counts[ph] += 1
        if ph == "M":
            if ev["name"] == "thread_name":
                thread_names[key] = ev["args"]["name"]
            continue
        ts = ev.get("ts")
        if not isinstance(ts, (int, float)) or ts < 0:
            fail("event %d: bad ts %r" % (i, ts))
        if ph == "X":
            dur = ev.get("dur")
            if not isinstance(dur, (int, float)) or dur < 0:
                fail("event %d: bad dur" % i)
            if ev.get("cat") == "flow":
                # The slice a flow event binds to (DevTools binds on equal ts, pid, tid, cat).
                if dur != 0:
                    fail("event %d: flow anchor with a duration" % i)
                anchors.add((ts, ev["pid"], ev["tid"], "flow"))
                continue
            if ev.get("cat", "span") != "span":
                fail("event %d: X span with cat %r" % (i, ev.get("cat")))
            end = ts + dur
            # Spans are written when they end: ends never go back on a thread.
            if end + EPS < span_ends.get(key, 0):
                fail("event %d: span end goes back on thread %r" % (i, key))
            span_ends[key] = end
            spans[key].append((ts, dur, ev["name"]))
            names[ev["name"]] += 1
            fk = "first." + ev["name"]
            first[fk] = min(first.get(fk, ts), ts)
            lk = "last." + ev["name"]
            first[lk] = max(first.get(lk, ts), ts)
            for flag in ("incomplete", "repaired", "before_attach", "begin_unknown", "end_lost", "thread_exited"):
                if ev.get("args", {}).get(flag):
                    flags[flag] += 1
            if not ev.get("args", {}).get("before_attach"):
                recorded_first[key] = min(recorded_first.get(key, ts), ts)
            continue
        if ph == "s":
            # A flow starts where its context was captured: written when it was adopted, later.
            if not ev.get("cat") or "id" not in ev:
                fail("event %d: flow without cat/id" % i)
            if ev["id"] in flows:
                fail("event %d: flow %r started twice" % (i, ev["id"]))
            flows[ev["id"]] = None
            bindings.append((i, ev["id"], ph, (ts, ev["pid"], ev["tid"], ev["cat"])))
            continue
        # Every other phase is written in merged order: one timeline across threads and processes.
        if ts + EPS < last_any:
            order_violations += 1
        last_any = max(last_any, ts)
        if ts + EPS < per_thread_last.get(key, 0):
            fail("event %d (%s): timestamp goes back on thread %r: %r < %r" % (i, ph, key, ts, per_thread_last[key]))
        per_thread_last[key] = ts
        if ph in ("B", "E"):
            if ev.get("cat") != "span":
                fail("event %d: %s without cat span" % (i, ph))
            if ph == "B":
                open_be[key].append((ts, ev["name"]))
                continue
            if not open_be[key]:
                fail("event %d: E without a B on thread %r" % (i, key))
            bts, bname = open_be[key].pop()
            if bname != ev["name"]:
                fail("event %d: E %r closes B %r" % (i, ev["name"], bname))
            if ts + EPS < span_ends.get(key, 0):
                fail("event %d: span end goes back on thread %r" % (i, key))
            span_ends[key] = ts
            spans[key].append((bts, ts - bts, bname))
            names[bname] += 1
            counts["be_spans"] += 1
        elif ph in ("b", "e"):
            if not ev.get("cat") or "id" not in ev:
                fail("event %d: async event without cat/id" % i)
            k = (ev["cat"], ev["id"])
            if ph == "b":
                if k in asyncs:
                    fail("event %d: async id %r begun twice" % (i, k))
                asyncs[k] = (ts, ev["name"], None)
            else:
                if k not in asyncs or asyncs[k][2] is not None:
                    fail("event %d: async end %r without a begin" % (i, k))
                if asyncs[k][1] != ev["name"]:
                    fail("event %d: async end name differs" % i)
                if ts + EPS < asyncs[k][0]:
                    fail("event %d: async ends before it begins" % i)
                asyncs[k] = (asyncs[k][0], asyncs[k][1], ts)
        elif ph == "f":
            if not ev.get("cat") or "id" not in ev:
                fail("event %d: flow without cat/id" % i)
            k = ev["id"]
            if k not in flows or flows[k] is not None:
                fail("event %d: flow end %r without a start" % (i, k))
            if ev.get("bp") != "e":
                fail("event %d: flow end without bp:e" % i)
            flows[k] = ts
            bindings.append((i, k, ph, (ts, ev["pid"], ev["tid"], ev["cat"])))
        elif ph == "i":
            if ev.get("s") not in ("t", "p", "g"):
                fail("event %d: instant scope" % i)
            if ev.get("cat") == "log":
                log_messages.append(ev["args"]["message"])
                counts["log"] += 1
            elif ev.get("cat") == "loss" and ev["name"] != "records lost":
                # What the producer could not trace (process-wide): not records.
                if ev.get("s") != "p" or ev["args"]["reason"] != ev["name"]:
                    fail("event %d: untraced-count event %r" % (i, ev))
                counts["untraced." + ev["name"]] += ev["args"]["count"]
            elif ev.get("cat") == "loss":
                counts["lost_records"] += ev["args"]["count"]
                counts["loss." + ev["args"]["reason"]] += 1
                if ev["args"]["reason"] == "not-recorded":
                    first["gap_since"] = ev["args"]["since"]
                    first["gap_until"] = ts
                if ev["args"]["reason"] == "overwritten":
                    overwritten_at[key] = min(overwritten_at.get(key, ts), ts)
        else:
            fail("event %d: unexpected phase %r" % (i, ph))
    for k, v in open_be.items():
        if v:
            fail("B %r on thread %r never ends" % (v[-1][1], k))
    for k, v in asyncs.items():
        if v[2] is None:
            fail("async %r never ends" % (k,))
    for k, v in flows.items():
        if v is None:
            fail("flow %r never ends" % (k,))
    # Every flow event binds to a slice, or viewers draw nothing.
    for i, k, ph, b in bindings:
        if b not in anchors:
            fail("event %d: flow %r (%s) binds to no slice at ts %r on %r/%r with cat %r" % (i, k, ph, b[0], b[1], b[2], b[3]))
    # X events nest per thread: sorted by (ts, -dur), each lies inside the enclosing one.
    for key, lst in spans.items():
        lst.sort(key=lambda s: (s[0], -s[1]))
        stack = []
        for ts, dur, name in lst:
            while stack and ts >= stack[-1] - EPS:
                stack.pop()
            if stack and ts + dur > stack[-1] + 1e-6:
                fail("span %r on thread %r overlaps its parent without nesting" % (name, key))
            stack.append(ts + dur)
    # Threads whose first overwritten-loss event stands where their retained history begins
    # (nothing recorded on the thread before it): a flight recorder's history read at attach.
    at_start = sum(1 for key, ts in overwritten_at.items() if recorded_first.get(key, ts) + EPS >= ts)
    out = {
        "events": len(doc["traceEvents"]),
        "threads_overwritten": len(overwritten_at),
        "overwritten_at_history_start": at_start,
        "phases": dict(counts),
        "span_names": dict(names),
        "flags": dict(flags),
        "pids": sorted(pids),
        "processes": len(pids),
        "span_first": first,
        "order_violations": order_violations,
        "threads": len(thread_names),
        "thread_names": sorted(set(thread_names.values())),
        "tasks": len(asyncs),
        "flows": len(flows),
        "logs": len(log_messages),
        "other": doc["otherData"],
    }
    json.dump(out, sys.stdout, sort_keys=True)
    print()


if __name__ == "__main__":
    main(sys.argv[1])
