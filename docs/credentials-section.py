#!/usr/bin/env python3
"""Writes the roll-and-credentials section of docs/benchmarks.md (called by
docs/make-benchmarks): what `evote-bench credentials --voters N` printed.

    credentials-section.py OUT PRINTED_TEXT VOTERS

The section replaces the one already in OUT, or goes before "## Hot paths".
"""
import os
import re
import subprocess
import sys

out, printed_path, voters = sys.argv[1:4]
printed = open(printed_path).read()
roll = re.search(r"roll of .*: ([0-9.]+) s", printed).group(1)
issued = re.search(r"credentials issued .*: ([0-9.]+) s", printed).group(1)
rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
n = int(voters)
section = f"""## Voter roll and credentials

`evote-bench credentials --voters {voters}` (at commit `{rev}`, release build, every core): the
election authority's roll as `election roll` builds it (a random salt per voter, the Merkle tree of
salted entries, the signed statement) and the credential authority's credentials as `credentials
issue` makes them (a random card code per voter, its key derivation and public key, spread over the
cores; the public keys sorted and signed: the list the genesis holds). Writing the cards is not
included (one SVG file per voter, or one CSV with `--cards csv`).

| voters | roll built and signed | credentials issued and the genesis list built |
|---|---|---|
| {n:,} | {roll} s | {issued} s |
"""
text = open(out).read() if os.path.exists(out) else ""
start = text.find("## Voter roll and credentials")
if start >= 0:
    end = text.find("\n## ", start + 1)
    text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
else:
    at = text.find("## Hot paths")
    text = text[:at] + section + "\n" + text[at:] if at >= 0 else text + "\n" + section
open(out, "w").write(text)
