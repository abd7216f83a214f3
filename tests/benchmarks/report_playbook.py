"""Benchmark: the report role as ansible-playbook runs it, from a fact cache, per host.

    scripts/bench report_playbook [--sizes 500,2000] [--repeat 3]

N hosts whose fleetfix_crun facts (real audit reports of four kinds of host, repeated, one in five
affected) sit in a jsonfile fact cache in ansible-core 2.19's layout; a play over them that
contacts none runs the report role once, writing every report file, with the run's rows
published (as the audit playbook does) and without (as the report playbook does). Then the
report node of a sliced audit: the same hosts with no fact cache, their rows handed over as 10
slices' published texts in the extra variables (-e @file), as the controller hands a workflow
node the slices' artifacts. Prints the controller's CPU seconds (ansible-playbook and its
children, median), the CPU per host, the ratio of per-host cost to the smallest size, and what
publishing the rows adds.
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


def slices_file(base, size, reports, slices=10):
    """The extra variables a workflow's report node gets: each slice's published rows."""
    rows = report_scale.fleet_rows(dict(("k-" + kind, {"ansible_facts": {"fleetfix_crun": report}})
                                        for kind, report in reports.items()), ["k-" + kind for kind in reports])
    order = ["affected", "fixed", "fixed", "empty", "odd"]
    parts = [{} for dummy in range(slices)]
    for number in range(size):
        parts[number % slices]["host-%05d" % number] = rows["k-" + order[number % len(order)]]
    path = os.path.join(base, "slices.json")
    with open(path, "w") as handle:
        json.dump(dict(("fleetfix_crun_rows_%d" % (100 + n), json.dumps(part, separators=(",", ":")))
                       for n, part in enumerate(parts)), handle)
    return path


def run(base, cache, publish, extra=()):
    env = dict(os.environ, ANSIBLE_CACHE_PLUGIN="jsonfile", ANSIBLE_CACHE_PLUGIN_CONNECTION=cache)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", os.path.join(base, "inventory.json"),
                           os.path.join(base, "report.yml"), "-e", "report_dir=%s" % os.path.join(base, "reports"),
                           "-e", "report_publish_rows=%s" % publish] + list(extra), env=env, capture_output=True,
                          text=True, check=False)
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
            empty = os.path.join(base, "empty-cache")
            os.makedirs(empty)
            extra = ["-e", "@" + slices_file(base, size, reports)]
            runs = sorted(run(base, empty, "false", extra) for dummy in range(args.repeat))
            figures["slices"] = runs[len(runs) // 2]
            cpu, wall = figures["false"]
            per_host = cpu / size * 1e3
            first = first or (per_host, figures["slices"][0] / size * 1e3)
            print("%5d hosts: from the fact cache %.2f s CPU (%.2f s wall), %.2f ms per host (x%.2f of the first size); "
                  "publishing the rows adds %.2f s (%.2f ms per host); from 10 slices' rows %.2f s CPU, %.2f ms per "
                  "host (x%.2f)" % (size, cpu, wall, per_host, per_host / first[0], figures["true"][0] - cpu,
                                    (figures["true"][0] - cpu) / size * 1e3, figures["slices"][0],
                                    figures["slices"][0] / size * 1e3, figures["slices"][0] / size * 1e3 / first[1]))
        finally:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
