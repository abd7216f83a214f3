"""Benchmark: what one host_audit run costs a host, against ping's module run on the same host.

    scripts/bench module_cost [--root /] [--runs 30] [--python /usr/bin/python3]

Builds both modules' AnsiballZ payloads once, as Ansible sends them (a one-task playbook on
localhost with ANSIBLE_KEEP_REMOTE_FILES, no pipelining), then runs them alternately, ping, audit,
ping, audit..., each as its own interpreter, as a managed host runs them: the module's sources
come from the payload's zip, so nothing is compiled ahead. Prints the median wall time and CPU
time (user + system of the run and its children) of each, and the audit's CPU above ping's.
Target (issue 23): the audit at most 50 ms of CPU above ping. The audit runs with
``facts_file: ""`` (no write) against ``--root``.

With --profile it also prints where the audit's time goes: the collection's import (compiled from
the zip, -X importtime) and a cProfile of the audit itself in this process.
"""

import argparse
import glob
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from ansible_run import ansible_env  # noqa: E402


def payloads(base, root, python):
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"ansible.builtin.ping": {}},
        {"fleetfix.crun.host_audit": {"root": root, "facts_file": ""}}]}]
    path = os.path.join(base, "play.json")
    with open(path, "w") as handle:
        json.dump(play, handle)
    env = ansible_env({"ANSIBLE_KEEP_REMOTE_FILES": "1", "ANSIBLE_REMOTE_TMP": os.path.join(base, "remote"),
                       "ANSIBLE_PIPELINING": "false"})
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e",
                           "ansible_python_interpreter=%s" % python, path], env=env, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit("could not build the payloads:\n%s" % proc.stdout[-3000:])
    found = {}
    for name in ("ping", "host_audit"):
        (found[name],) = glob.glob(os.path.join(base, "remote", "*", "AnsiballZ_%s.py" % name))
    return found


def run(python, payload):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([python, payload], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit("%s failed:\n%s%s" % (payload, proc.stdout[-2000:], proc.stderr[-2000:]))
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def profile(python, payload):
    proc = subprocess.run([python, "-X", "importtime", payload], capture_output=True, text=True, check=False)
    rows = []
    for line in proc.stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and "fleetfix" in parts[2]:
            rows.append((int(parts[0].split(":")[1]), parts[2].strip()))
    print("import of the collection's code, compiled from the payload (self time, ms):")
    for micro, name in sorted(rows, reverse=True):
        print("  %6.1f  %s" % (micro / 1000.0, name))
    print("  %6.1f  in all" % (sum(m for m, _n in rows) / 1000.0))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--root", default="/")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--python", default="/usr/bin/python3")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="fleetfix-bench-module-")
    try:
        found = payloads(base, args.root, args.python)
        times = {"ping": [], "host_audit": []}
        for dummy in range(args.runs):
            for name in ("ping", "host_audit"):
                times[name].append(run(args.python, found[name]))
        medians = {}
        for name, values in times.items():
            medians[name] = (statistics.median(w for w, _c in values), statistics.median(c for _w, c in values))
            print("%-10s wall %6.1f ms  CPU %6.1f ms  (median of %d, interleaved)"
                  % (name, medians[name][0] * 1e3, medians[name][1] * 1e3, args.runs))
        extra = (medians["host_audit"][1] - medians["ping"][1]) * 1e3
        print("audit CPU above ping: %.1f ms (target <= 50 ms: %s)" % (extra, "met" if extra <= 50 else "NOT met"))
        if args.profile:
            profile(args.python, found["host_audit"])
    finally:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
