#!/usr/bin/env python3
"""What a scheduler pays for a quiet `bmm run`: the whole process against the time the job
reports for itself. Runs the given command 12 times with `run --json` (the first two warm the
page cache and are dropped) and prints the medians. Not a test: it never fails on time.

Usage: BMM_CONNECTION="Host=...;Database=..." run.py out/bmm
       BMM_CONNECTION=... run.py dotnet run --project src/Bmm --
The database should have nothing pending, so that each run is quiet."""
import json, os, statistics, subprocess, sys, time

if len(sys.argv) < 2 or not os.environ.get("BMM_CONNECTION"):
    sys.exit("usage: BMM_CONNECTION=<connection string> run.py <bmm command>")
command = sys.argv[1:]
process_ms, job_ms = [], []
for i in range(12):
    started = time.perf_counter()
    output = subprocess.run(command + ["run", "--json"], capture_output=True, text=True, check=True).stdout
    elapsed = time.perf_counter() - started
    if i < 2:
        continue
    process_ms.append(elapsed * 1000)
    job_ms.append(json.loads(output)["seconds"] * 1000)
process, job = statistics.median(process_ms), statistics.median(job_ms)
print(f"{' '.join(command)}: process {process:.0f} ms, in the job {job:.0f} ms, start-up {process - job:.0f} ms")
