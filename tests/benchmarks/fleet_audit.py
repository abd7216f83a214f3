"""Benchmark: the audit and a no-op remediate over a simulated SSH fleet, against the floor.

    scripts/bench fleet_audit [--sizes 50 200 500] [--naive-up-to 200]

For each size N: start N hosts (tests/fleet/fleet.py), then time, on the same fleet,
`ansible all -m ansible.builtin.ping` (the floor: one module round trip per host), the audit
playbook, a naive audit written the usual way (tests/benchmarks/naive_audit.yml, only up to
--naive-up-to hosts: it takes too long beyond), the remediate playbook on an already remediated
fleet (run once first, untimed), and remediate again after one host in ten got a new owner-only
file (`fleet.py stale --every 10`). Prints wall seconds, controller CPU seconds per host (this
process's children: ansible and its ssh clients) and the ratios. Targets (issue 14): audit/ping
<= 1.1, no-op remediate/ping <= 1.3, one-in-ten remediate/ping <= 2, naive/audit >= 5. Needs
root. Each run uses the project's ansible.cfg (pipelining, forks 25).
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


def machine_cpu():
    """CPU seconds the whole machine spent (user, nice, system, irq, softirq), from /proc/stat."""
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:8]]
    return (fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / float(os.sysconf("SC_CLK_TCK"))


def timed(argv, env):
    cpu, machine, started = children_cpu(), machine_cpu(), time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall, cpu, machine = time.monotonic() - started, children_cpu() - cpu, machine_cpu() - machine
    if proc.returncode != 0:
        log = os.path.join(os.path.dirname(FLEET_DIR), "fleet-bench-failure.log")
        with open(log, "w") as handle:
            handle.write(proc.stdout + proc.stderr)
        errors = [line for line in proc.stdout.splitlines() if line.startswith(("fatal:", "failed:"))]
        raise SystemExit("benchmark step failed (%s), whole output in %s:\n%s"
                         % (" ".join(argv[:4]), log, "\n".join(errors[:10]) or proc.stderr[-2000:]))
    # what is not the controller's is the simulated hosts' (sshd and the modules), on the same cores
    return wall, cpu, max(machine - cpu, 0.0)


def measure(size, env, naive):
    inventory = os.path.join(FLEET_DIR, "inventory.json")
    subprocess.run(FLEET + ["up", str(size), "--seed", "11"], env=env, check=True, capture_output=True)
    try:
        reports = ["-e", "report_dir=%s" % os.path.join(FLEET_DIR, "reports")]
        common = ["-e", "upgrade_update_cache=false", "-e", "remediate_batch=100%"] + reports
        steps = {}
        steps["ping"] = timed(["ansible", "all", "-i", inventory, "-m", "ansible.builtin.ping"], env)
        steps["audit"] = timed(["ansible-playbook", "-i", inventory, "fleetfix.crun.audit"] + reports, env)
        if naive:
            steps["naive audit"] = timed(["ansible-playbook", "-i", inventory, os.path.join(HERE, "naive_audit.yml")],
                                         env)
        remediate = ["ansible-playbook", "-i", inventory, "fleetfix.crun.remediate"] + common
        timed(remediate, env)
        steps["remediate (no-op)"] = timed(remediate, env)
        subprocess.run(FLEET + ["stale", "--every", "10"], env=env, check=True, capture_output=True)
        steps["remediate (1 in 10)"] = timed(remediate, env)
        steps["ping (again)"] = timed(["ansible", "all", "-i", inventory, "-m", "ansible.builtin.ping"], env)
    finally:
        subprocess.run(FLEET + ["down"], env=env, check=True, capture_output=True)
    return steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 500])
    parser.add_argument("--naive-up-to", type=int, default=200)
    args = parser.parse_args()
    env = dict(os.environ, FLEETFIX_FLEET_DIR=FLEET_DIR, ANSIBLE_HOST_KEY_CHECKING="False")
    for size in args.sizes:
        steps = measure(size, env, size <= args.naive_up_to)
        # the floor: the mean of a ping before and after the rest, which it varies by
        ping = (steps["ping"][0] + steps["ping (again)"][0]) / 2.0
        print("N=%d hosts; floor (mean of the two pings) %.1f s" % (size, ping))
        for name, (wall, cpu, hosts) in steps.items():
            print("  %-20s %7.1f s wall  %5.2f x ping  controller CPU %6.3f s/host (%.2f x ping's)  hosts' CPU %6.3f s/host"
                  % (name, wall, wall / ping, cpu / size, cpu / ((steps["ping"][1] + steps["ping (again)"][1]) / 2.0), hosts / size))
        print("  audit / ping:               %.2f   (target <= 1.1)" % (steps["audit"][0] / ping))
        print("  no-op remediate / ping:     %.2f   (target <= 1.3)" % (steps["remediate (no-op)"][0] / ping))
        print("  1-in-10 remediate / ping:   %.2f   (target <= 2)" % (steps["remediate (1 in 10)"][0] / ping))
        if "naive audit" in steps:
            print("  naive audit / audit:        %.2f   (target >= 5)" % (steps["naive audit"][0] / steps["audit"][0]))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
