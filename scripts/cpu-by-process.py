#!/usr/bin/env python3
"""CPU time by process name while a command runs: where a benchmark's time goes.

    scripts/cpu-by-process.py [--every SECONDS] -- COMMAND [ARGS...]

Runs COMMAND (its output passes through), samples utime + stime of every process in
/proc every SECONDS (default 0.1) and, when COMMAND exits, prints on stderr the CPU seconds
each process name used meanwhile (postgres backends, beam.smp, the bench's workers, ...),
with the share of the machine's CPU time. A process that exits between two samples loses
at most its last interval. Exits with COMMAND's status.
"""
import argparse
import os
import subprocess
import sys
import time

TICKS = os.sysconf("SC_CLK_TCK")


def snapshot():
    """{pid: (name, cpu ticks)} of every process readable now."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(entry)] = (name, int(fields[11]) + int(fields[12]))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=0.1)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (put it after --)")

    start = snapshot()
    last = dict(start)
    started = time.monotonic()
    child = subprocess.Popen(command)
    while child.poll() is None:
        time.sleep(args.every)
        last.update(snapshot())
    last.update(snapshot())
    wall = time.monotonic() - started

    used = {}
    for pid, (name, ticks) in last.items():
        # A pid seen at the start under another name was reused: count all of its ticks.
        start_name, start_ticks = start.get(pid, (None, 0))
        before = start_ticks if start_name == name else 0
        if ticks > before:
            used[name] = used.get(name, 0) + (ticks - before) / TICKS
    total = sum(used.values())
    cores = os.cpu_count() or 1
    print(f"cpu-by-process: {wall:.1f} s wall, {total:.1f} CPU s of {wall * cores:.1f} "
          f"({100 * total / (wall * cores):.0f}% of {cores} cores)", file=sys.stderr)
    for name, seconds in sorted(used.items(), key=lambda kv: -kv[1]):
        if seconds >= 0.05:
            print(f"  {name:<20} {seconds:8.2f} s  {100 * seconds / total:5.1f}%", file=sys.stderr)
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
