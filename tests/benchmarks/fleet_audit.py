"""Benchmark: the audit and a no-op remediate over a simulated SSH fleet, against the floor.

    scripts/bench fleet_audit [--sizes 50 100 200]

For each size N: start N hosts (tests/fleet/fleet.py), then time, on the same fleet,
`ansible all -m ansible.builtin.ping` (the floor: one module round trip per host), the audit
playbook, a naive audit written the usual way (tests/benchmarks/naive_audit.yml), and the
remediate playbook on an already remediated fleet (run once first, untimed). Prints wall
seconds, controller CPU seconds per host (this process's children: ansible and its ssh clients)
and the ratios. Targets (issue 5): audit/ping <= 1.25, no-op remediate/ping <= 2.5,
naive/audit >= 3. Needs root. Each run uses the project's ansible.cfg (pipelining, forks 25).
"""

import argparse
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
REPO = os.path.dirname(TESTS)
FLEET = [sys.executable, os.path.join(TESTS, "fleet", "fleet.py")]
FLEET_DIR = os.path.join(REPO, ".cache", "fleet-bench")


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv, env):
    cpu, started = children_cpu(), time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall, cpu = time.monotonic() - started, children_cpu() - cpu
    if proc.returncode != 0:
        log = os.path.join(os.path.dirname(FLEET_DIR), "fleet-bench-failure.log")
        with open(log, "w") as handle:
            handle.write(proc.stdout + proc.stderr)
        errors = [line for line in proc.stdout.splitlines() if line.startswith(("fatal:", "failed:"))]
        raise SystemExit("benchmark step failed (%s), whole output in %s:\n%s"
                         % (" ".join(argv[:4]), log, "\n".join(errors[:10]) or proc.stderr[-2000:]))
    return wall, cpu


def measure(size, env):
    inventory = os.path.join(FLEET_DIR, "inventory.json")
    subprocess.run(FLEET + ["up", str(size), "--seed", "11"], env=env, check=True, capture_output=True)
    try:
        reports = ["-e", "report_dir=%s" % os.path.join(FLEET_DIR, "reports")]
        common = ["-e", "upgrade_update_cache=false", "-e", "remediate_batch=100%"] + reports
        steps = {}
        steps["ping"] = timed(["ansible", "all", "-i", inventory, "-m", "ansible.builtin.ping"], env)
        steps["audit"] = timed(["ansible-playbook", "-i", inventory, "fleetfix.crun.audit"] + reports, env)
        steps["naive audit"] = timed(["ansible-playbook", "-i", inventory, os.path.join(HERE, "naive_audit.yml")], env)
        timed(["ansible-playbook", "-i", inventory, "fleetfix.crun.remediate"] + common, env)
        steps["remediate (no-op)"] = timed(["ansible-playbook", "-i", inventory, "fleetfix.crun.remediate"] + common,
                                           env)
    finally:
        subprocess.run(FLEET + ["down"], env=env, check=True, capture_output=True)
    return steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200])
    args = parser.parse_args()
    env = dict(os.environ, FLEETFIX_FLEET_DIR=FLEET_DIR, ANSIBLE_HOST_KEY_CHECKING="False")
    for size in args.sizes:
        steps = measure(size, env)
        ping = steps["ping"][0]
        print("N=%d hosts" % size)
        for name, (wall, cpu) in steps.items():
            row = (name, wall, wall / ping, cpu / size)
            print("  %-18s %7.1f s wall  %5.2f x ping  %6.3f controller CPU s/host" % row)
        print("  audit / ping:             %.2f   (target <= 1.25)" % (steps["audit"][0] / ping))
        print("  no-op remediate / ping:   %.2f   (target <= 2.5)" % (steps["remediate (no-op)"][0] / ping))
        print("  naive audit / audit:      %.2f   (target >= 3)" % (steps["naive audit"][0] / steps["audit"][0]))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
