"""Benchmark: the report role as ansible-playbook runs it, from a fact cache, per host.

    scripts/bench report_playbook [--sizes 500,2000] [--repeat 3]

N hosts whose fleetfix_crun facts (real audit reports of four kinds of host, repeated, one in five
affected) sit in a jsonfile fact cache in ansible-core 2.19's layout; a play over them that
contacts none runs the report role once, writing every report file, with the run's rows
published (as the audit playbook does) and without (as the report playbook does). Prints the
controller's CPU seconds (ansible-playbook and its children, median), the CPU per host, the
ratio of per-host cost to the smallest size, and what publishing the rows adds.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from conftest import link_collection  # noqa: E402

link_collection()
import report_scale  # noqa: E402  (the same four kinds of host)

PLAYBOOK = """- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: fleetfix.crun.report
      run_once: true
"""


def fleet(base, size, reports):
    cache = os.path.join(base, "cache")
    os.makedirs(cache)
    order = ["affected", "fixed", "fixed", "empty", "odd"]
    hosts = {}
    for number in range(size):
        name = "host-%05d" % number
        hosts[name] = {"ansible_connection": "local"}
        with open(os.path.join(cache, "s1_" + name), "w") as handle:
            json.dump({"__payload__": json.dumps({"fleetfix_crun": reports[order[number % len(order)]]})}, handle)
    with open(os.path.join(base, "inventory.json"), "w") as handle:
        json.dump({"all": {"hosts": hosts}}, handle)
    with open(os.path.join(base, "report.yml"), "w") as handle:
        handle.write(PLAYBOOK)
    return cache


def run(base, cache, publish):
    env = dict(os.environ, ANSIBLE_CACHE_PLUGIN="jsonfile", ANSIBLE_CACHE_PLUGIN_CONNECTION=cache)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", os.path.join(base, "inventory.json"),
                           os.path.join(base, "report.yml"), "-e", "report_dir=%s" % os.path.join(base, "reports"),
                           "-e", "report_publish_rows=%s" % publish], env=env, capture_output=True, text=True,
                          check=False)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit("the report run failed:\n%s" % proc.stdout[-3000:])
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="500,2000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    reports = report_scale.kinds(full=True)
    first = None
    for size in (int(s) for s in args.sizes.split(",")):
        base = tempfile.mkdtemp(prefix="fleetfix-report-playbook-")
        try:
            cache = fleet(base, size, reports)
            figures = {}
            for publish in ("false", "true"):
                runs = sorted(run(base, cache, publish) for dummy in range(args.repeat))
                figures[publish] = runs[len(runs) // 2]
            cpu, wall = figures["false"]
            per_host = cpu / size * 1e3
            first = first or per_host
            print("%5d hosts: report %.2f s CPU (%.2f s wall), %.2f ms CPU per host (x%.2f of the first size); "
                  "publishing the rows adds %.2f s CPU (%.2f ms per host)"
                  % (size, cpu, wall, per_host, per_host / first, figures["true"][0] - cpu,
                     (figures["true"][0] - cpu) / size * 1e3))
        finally:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
