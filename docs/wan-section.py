#!/usr/bin/env python3
"""Writes the wide-area section of docs/benchmarks.md (called by
docs/make-benchmarks): the table of `evote-bench wan --json`, and the same
scenarios measured before (docs/wan-before.json) if that file is there.

    wan-section.py OUT WAN_JSON BEFORE_JSON DURATION RATE

The section replaces the one already in OUT, or goes before "## Hot paths".
"""
import datetime
import json
import os
import subprocess
import sys

out, now_path, before_path, duration, rate = sys.argv[1:6]
now = json.load(open(now_path))
before = json.load(open(before_path)) if os.path.exists(before_path) else None
rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
lines = []
p = lines.append


def cell(r, k):
    v = r.get(k)
    if v is None:
        return "—"
    return f"{v:,}" if isinstance(v, int) else f"{v:g}"


def table(rows):
    p("| scenario | acknowledged | confirmed | unconfirmed | confirm p50 / p99 s | at the station p50 / p99 s "
      "| longest gap between commits s | round changes (highest round) | fallback entries "
      "| bytes/vote, busiest link (one ballot) |")
    p("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        p(f"| {r['label']} | {cell(r, 'acknowledged')} | {cell(r, 'confirmed')} | {cell(r, 'unconfirmed')} | "
          f"{cell(r, 'confirm_p50_s')} / {cell(r, 'confirm_p99_s')} | "
          f"{cell(r, 'station_confirm_p50_s')} / {cell(r, 'station_confirm_p99_s')} | "
          f"{cell(r, 'longest_commit_gap_s')} | {cell(r, 'round_changes')} ({cell(r, 'highest_round')}) | "
          f"{cell(r, 'fallback_entries')} | {cell(r, 'busiest_link_bytes_per_vote')} ({cell(r, 'ballot_bytes')}) |")
    p("")


p("## Wide-area links\n")
p(f"`evote-bench wan --duration {duration} --rate {rate} --json`, generated on {datetime.date.today()} at "
  f"commit `{rev}`: 4 validators and a station on the appliance's default timing (block period 1 s, "
  "round timeout 2 s, fallback after 10 s), every link from a node to a validator through a proxy that "
  "behaves like a wide-area link (`tests/src/linkproxy.rs`: each chunk delayed by the one-way delay ± "
  "jitter, answers by the way back's; stalls hold a link's traffic 2-5 s after 15-45 s of quiet; dropped "
  "connections are reset every 5-20 s; a capped uplink carries everything its node sends at 1 Mbit/s). "
  f"{rate} votes/s for {duration} s, spread over the five nodes; a vote is confirmed when its node holds "
  "it in a committed block (a vote sealed in a fallback chain: when its status says confirmed); "
  "unconfirmed is what was not 60 s after the stream. Round changes and fallback entries are counted "
  "in the nodes' logs; bytes per vote are the busiest directed link's (requests one way, answers the "
  "other) over the votes acknowledged, beside one ballot's size.\n")
table(now)
errors = {r["label"]: r["errors"] for r in now if r.get("errors")}
p(f"Errors by scenario: {json.dumps(errors, ensure_ascii=False) if errors else 'none'}.\n")
if before:
    p(f"The same scenarios before the peer protocol was made for wide-area links ({before['note']}):\n")
    table(before["rows"])
section = "\n".join(lines) + "\n"

text = open(out).read() if os.path.exists(out) else ""
start = text.find("## Wide-area links")
if start >= 0:
    end = text.find("\n## ", start + 1)
    text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
else:
    at = text.find("## Hot paths")
    text = text[:at] + section + "\n" + text[at:] if at >= 0 else text + "\n" + section
open(out, "w").write(text)
