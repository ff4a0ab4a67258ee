#!/usr/bin/env python3
"""One logs.scan job through the real collector worker, timed.

Usage: logs_scan_job.py WORKER COMPILE LOG RULES_FILE RUNS

Starts rdiag-worker as the agent does (the job on descriptor 3, the
rdiag-compile executable on descriptor 4), with a plugin whose 20 rules are
RULES_FILE's lines and one log source, LOG. Prints JSON: the best wall and
CPU seconds (the worker and its compile helper) of RUNS runs, and the
per-rule counts of the last one.
"""
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time


def main():
    worker, compile_bin, log, rules_file, runs = sys.argv[1:6]
    rules = [line.rstrip("\n") for line in open(rules_file, encoding="utf-8") if line.strip()]
    tmp = tempfile.mkdtemp(prefix="rdiag-bench-plugins-")
    os.chmod(tmp, 0o755)
    plugin = os.path.join(tmp, "erp")
    os.mkdir(plugin, 0o755)
    manifest = {
        "name": "erp",
        "rules": [{"id": f"r{i + 1:02}", "pattern": p, "severity": "warning",
                   "title": p, "cause": "bench", "remedy": "bench"} for i, p in enumerate(rules)],
    }
    with open(os.path.join(plugin, "plugin.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f)
    os.chmod(os.path.join(plugin, "plugin.json"), 0o644)
    job = {"kind": "logs.scan", "lang": "en", "plugins_dirs": [tmp], "trusted_uid": os.geteuid(),
           "logs": [{"name": "erp", "paths": [os.path.abspath(log)]}]}
    best_wall = best_cpu = None
    result = None
    for _ in range(int(runs)):
        ours, theirs = socket.socketpair()
        exe = os.open(compile_bin, os.O_PATH)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()

        def fds():
            os.dup2(theirs.fileno(), 3)
            os.dup2(exe, 4)

        proc = subprocess.Popen([worker], preexec_fn=fds, close_fds=False,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        theirs.close()
        os.close(exe)
        ours.sendall((json.dumps(job) + "\n").encode())
        data = b""
        while True:
            chunk = ours.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        proc.wait()
        wall = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        ours.close()
        last = json.loads(data.decode().strip().split("\n")[-1])
        if "result" not in last:
            sys.exit(f"the worker failed: {last}")
        result = last["result"]
        best_wall = wall if best_wall is None else min(best_wall, wall)
        best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
    counts = {r["id"]: r["count"] for r in result.get("rules", [])}
    print(json.dumps({"seconds": best_wall, "cpu_seconds": best_cpu, "rules": counts,
                      "redactions": sum(r["count"] for r in result.get("redaction", []))}))


if __name__ == "__main__":
    main()
