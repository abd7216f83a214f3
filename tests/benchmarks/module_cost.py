"""Benchmark: what one host_audit run costs a host, against ping's module run on the same host.

    scripts/bench module_cost [--root /] [--runs 30] [--python /usr/bin/python3]
                              [--baseline COLLECTIONS_PATH] [--fleet-host fxhN] [--remediation] [--profile]

Builds both modules' AnsiballZ payloads once, as Ansible sends them (a one-task playbook on
localhost with ANSIBLE_KEEP_REMOTE_FILES, no pipelining), then runs them alternately, ping, audit,
ping, audit..., each as its own interpreter, as a managed host runs them: the module's sources
come from the payload's zip, so nothing is compiled ahead. Prints the median wall time and CPU
time (user + system of the run and its children) of each, and the audit's CPU above ping's.
Target (issue 23): the audit at most 50 ms of CPU above ping. The audit runs with
``facts_file: ""`` (no write) against ``--root``.

--baseline adds a third arm, interleaved with the other two: the audit of another copy of the
collection (the ``ANSIBLE_COLLECTIONS_PATH`` of, say, a git worktree of an older commit after
its ``scripts/lib.sh install_collection``), so before and after are measured side by side.
--fleet-host runs every payload inside one host of the running fleet (tests/fleet/fleet.py up),
in its mount and network namespaces, as that host's sshd would. --remediation measures the audit
a remediation runs instead (the remediate role's: ``check_upgrade`` and the plan, with the
roles' default settings).

With --profile it also prints where the audit's time goes: the median CPU of each phase of the
run, its own and its children's (tests/benchmarks/module_phases.py), and the collection's import
(compiled from the zip, -X importtime), for each audit arm.
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
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fleet"))
from ansible_run import ansible_env  # noqa: E402
import fleet  # noqa: E402  pylint: disable=wrong-import-position
PHASES = os.path.join(HERE, "module_phases.py")


def payloads(base, root, python, collections=None, remediation=False):
    """{"ping": path, "host_audit": path}: the payloads Ansible sends, built from ``collections``
    (an ANSIBLE_COLLECTIONS_PATH) or the installed collection."""
    audit = {"root": root, "facts_file": ""}
    if remediation:
        audit.update(check_upgrade=True, remediation={})
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"ansible.builtin.ping": {}}, {"fleetfix.crun.host_audit": audit}]}]
    os.makedirs(base)
    path = os.path.join(base, "play.json")
    with open(path, "w") as handle:
        json.dump(play, handle)
    extra = {"ANSIBLE_KEEP_REMOTE_FILES": "1", "ANSIBLE_REMOTE_TMP": os.path.join(base, "remote"),
             "ANSIBLE_PIPELINING": "false"}
    if collections:
        extra["ANSIBLE_COLLECTIONS_PATH"] = collections
    proc = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e",
                           "ansible_python_interpreter=%s" % python, path], env=ansible_env(extra),
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit("could not build the payloads:\n%s" % proc.stdout[-3000:])
    found = {}
    for name in ("ping", "host_audit"):
        (found[name],) = glob.glob(os.path.join(base, "remote", "*", "AnsiballZ_%s.py" % name))
    return found


class Host:
    """Where the payloads run: this machine, or one fleet host's namespaces (its /tmp is its own,
    so the files are copied into it)."""

    def __init__(self, base, fleet_host=None):
        self.prefix, self.inside, self.outside = [], base, base
        if fleet_host:
            state = fleet.load_state() or {}
            pid = state.get("pids", {}).get(fleet_host)
            if not pid:
                raise SystemExit("no running fleet host %s (tests/fleet/fleet.py up N)" % fleet_host)
            self.prefix = ["nsenter", "-t", str(pid), "-m", "-n"]
            self.inside = "/tmp/fleetfix-bench-module"
            self.outside = "/proc/%d/root%s" % (pid, self.inside)
            os.makedirs(self.outside, exist_ok=True)

    def place(self, name, path):
        shutil.copyfile(path, os.path.join(self.outside, name))
        return os.path.join(self.inside, name)

    def run(self, argv):
        return subprocess.run(self.prefix + argv, capture_output=True, text=True, check=False)

    def clean(self):
        if self.prefix:
            shutil.rmtree(self.outside, ignore_errors=True)


def run(host, python, payload):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = host.run([python, payload])
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit("%s failed:\n%s%s" % (payload, proc.stdout[-2000:], proc.stderr[-2000:]))
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def phases(host, python, payload, runs):
    """The median CPU ms of each phase (own, children) of ``runs`` audits."""
    rows = []
    for dummy in range(runs):
        proc = host.run([python, host.place("module_phases.py", PHASES), payload])
        rows.append(json.loads(proc.stderr.strip().splitlines()[-1]))
    return dict((name, [statistics.median(row[name][i] for row in rows) for i in (0, 1)]) for name in rows[0])


def profile(host, python, payloads_by_arm, runs):
    arms = list(payloads_by_arm)
    table = dict((arm, phases(host, python, payloads_by_arm[arm], runs)) for arm in arms)
    print("\nwhere the audit's CPU goes, median of %d runs, ms (own / children); main holds the steps after"
          " the import, crun_info holds owner:" % runs)
    print("| phase | %s |" % " | ".join(arms))
    print("| --- |%s" % (" --- |" * len(arms)))
    for name in table[arms[-1]]:
        cells = ["%.1f / %.1f" % tuple(table[arm][name]) if name in table[arm] else "-" for arm in arms]
        print("| %s | %s |" % (name, " | ".join(cells)))
    for arm in arms[1:]:
        proc = host.run([python, "-X", "importtime", payloads_by_arm[arm]])
        rows = []
        for line in proc.stderr.splitlines():
            parts = [p.strip() for p in line.split("|")]
            if len(parts) == 3 and "fleetfix" in parts[2]:
                rows.append((int(parts[0].split(":")[1]), parts[2].strip()))
        print("\n%s: import of the collection's code, compiled from the payload (self time, ms):" % arm)
        for micro, name in sorted(rows, reverse=True)[:8]:
            print("  %6.1f  %s" % (micro / 1000.0, name))
        print("  %6.1f  in all" % (sum(m for m, _n in rows) / 1000.0))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--root", default="/")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--python", default="/usr/bin/python3")
    parser.add_argument("--baseline", help="an ANSIBLE_COLLECTIONS_PATH holding the code to compare with")
    parser.add_argument("--fleet-host", help="run inside this host of the running fleet (fxh0, ...)")
    parser.add_argument("--remediation", action="store_true", help="the audit a remediation runs")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="fleetfix-bench-module-")
    host = Host(base, args.fleet_host)
    try:
        built = payloads(os.path.join(base, "current"), args.root, args.python, remediation=args.remediation)
        arms = {"ping": host.place("ping.py", built["ping"]), "host_audit": host.place("audit.py", built["host_audit"])}
        if args.baseline:
            baseline = payloads(os.path.join(base, "baseline"), args.root, args.python, args.baseline, args.remediation)
            arms["host_audit (baseline)"] = host.place("audit-baseline.py", baseline["host_audit"])
        times = dict((name, []) for name in arms)
        for dummy in range(args.runs):
            for name, payload in arms.items():
                times[name].append(run(host, args.python, payload))
        medians = {}
        where = "fleet host %s" % args.fleet_host if args.fleet_host else "this machine"
        for name, values in times.items():
            medians[name] = (statistics.median(w for w, _c in values), statistics.median(c for _w, c in values))
            print("%-22s wall %6.1f ms  CPU %6.1f ms  (median of %d, interleaved, on %s)"
                  % (name, medians[name][0] * 1e3, medians[name][1] * 1e3, args.runs, where))
        for name in arms:
            if name != "ping":
                extra = (medians[name][1] - medians["ping"][1]) * 1e3
                print("%s CPU above ping: %.1f ms (target <= 50 ms: %s)" % (name, extra, "met" if extra <= 50 else "NOT met"))
        if args.profile:
            profile(host, args.python, arms, min(args.runs, 15))
    finally:
        host.clean()
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
