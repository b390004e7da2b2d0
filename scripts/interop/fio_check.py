#!/usr/bin/env python3
"""Asserts from fio's JSON report that a verifying run read its data back intact.

usage: fio_check.py REPORT LOG STATUS MODE [BYTES]
  REPORT  fio's --output-format=json --output file; LOG: its stdout and stderr; STATUS: its exit status
  MODE    backlog      a write job with --verify_backlog: it wrote, and read back and verified all
                       but about the last backlog of blocks (verification ran throughout the job)
          read BYTES   a read-only --verify pass: it read and verified exactly BYTES
          write BYTES  a fill: it wrote exactly BYTES, each block with its verify header

fio counts verify reads as reads (read.total_ios, read.io_bytes), so a write job's reads are its
verifications. fio 3.33 leaves read runtime, bandwidth and IOPS at 0 for backlog reads of a job
that ends on its runtime (fio issue 1515): only counts are used. A mismatch is a job error (84,
EILSEQ) and a non-zero exit; fio's "verify failed" lines are in LOG.
"""
import json, os, sys

report, log, status, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
expect = int(sys.argv[5]) if len(sys.argv) > 5 else 0
name = os.path.basename(report).removesuffix(".json")
said = open(log, errors="replace").read().strip() if os.path.exists(log) else ""


def die(why):
    sys.exit(f"fio {name}: {why}" + (f"\nfio said:\n{said[-3000:]}" if said else ""))


text = open(report, errors="replace").read() if os.path.exists(report) else ""
start = 0 if text.startswith("{") else text.find("\n{\n") + 1  # the nbd engine prints a line first
if not text or (start == 0 and not text.startswith("{")):
    die(f"no JSON report (exit status {status})")
jobs = json.JSONDecoder().raw_decode(text[start:])[0]["jobs"]
for job in jobs:
    if job["error"]:
        die(f"error {job['error']} ({os.strerror(job['error'])})" + (": data read back did not verify" if job["error"] == 84 else ""))
if status:
    die(f"exit status {status}")
if "will never start" in said + text:
    die("fio says its verification would never start")
read_bytes = sum(job["read"]["io_bytes"] for job in jobs)
written = sum(job["write"]["io_bytes"] for job in jobs)
reads = sum(job["read"]["total_ios"] for job in jobs)
writes = sum(job["write"]["total_ios"] for job in jobs)
if mode == "backlog":
    options = jobs[0].get("job options", {})
    backlog, depth = int(options.get("verify_backlog", 0)), int(options.get("iodepth", 1))
    if not writes:
        die("wrote nothing")
    if not reads:
        die(f"wrote {writes} blocks and read none back: nothing was verified")
    # Unverified at the end: the last batch not yet due, and what was in flight.
    if backlog and writes - reads > 4 * backlog + 2 * depth:
        die(f"verified only {reads} of {writes} blocks written")
    summary = f"wrote {writes} blocks, read back and verified {reads} while writing"
elif mode == "read":
    if read_bytes != expect or written:
        die(f"read {read_bytes} bytes and wrote {written}, expected to read {expect}")
    summary = f"read back and verified all {read_bytes >> 20} MiB"
elif mode == "write":
    if written != expect:
        die(f"wrote {written} bytes, expected {expect}")
    summary = f"wrote {written >> 20} MiB with verify headers"
else:
    die(f"unknown mode {mode}")
print(f"fio {name}: {summary}", file=sys.stderr)
