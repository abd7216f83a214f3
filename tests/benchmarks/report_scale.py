"""Benchmark: the fleet report from published host rows, per host, at growing fleet sizes.

    scripts/bench report_scale [--sizes 1000,5000,10000] [--slices 10] [--repeat 3]

Synthetic rows: real audit reports of four kinds of hosts (affected with three stale files and a
planted symlink, fixed, no crun, unreadable crun), cut down to rows (fleet_rows) and repeated under
new host names, one host in five affected. For each size: merging the slices' rows (as the report
role does: one dict per slice), the summary (fleet_summary) and every rendering (fleet.json, the
two CSV tables, fleet.html, junit.xml) with the previous report's comparison. Prints the median
seconds, the microseconds per host, the ratio of per-host cost to the smallest size (linear
growth keeps it near 1), and the rows' size per host (what a slice publishes).
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from conftest import link_collection  # noqa: E402
from support import StorageTree, link, median_seconds, run_process, stand_in_crun  # noqa: E402

link_collection()
from ansible_collections.fleetfix.crun.plugins.filter.fleet_csv import fleet_csv  # noqa: E402
from ansible_collections.fleetfix.crun.plugins.filter.fleet_html import fleet_html  # noqa: E402
from ansible_collections.fleetfix.crun.plugins.filter.fleet_junit import fleet_junit  # noqa: E402
from ansible_collections.fleetfix.crun.plugins.filter.fleet_rows import fleet_rows  # noqa: E402
from ansible_collections.fleetfix.crun.plugins.filter.fleet_summary import fleet_summary  # noqa: E402
from ansible_collections.fleetfix.crun.plugins.module_utils import _audit  # noqa: E402


def kinds(full=False):
    """{kind: row} from real audits of generated hosts (with ``full``, the whole reports)."""
    base = tempfile.mkdtemp(prefix="fleetfix-report-bench-")
    builds = {
        "affected": lambda root: (stand_in_crun(root, "/usr/bin/crun", "fedora-41-crun-1.20-libkrun.txt"),
                                  link(root, "/usr/bin/krun", "crun"), stale(root)),
        "fixed": lambda root: stand_in_crun(root, "/usr/bin/crun", "debian-13-crun-1.21.txt"),
        "empty": lambda root: None,
        "odd": lambda root: stand_in_crun(root, "/usr/bin/crun", script="echo not crun"),
    }
    hostvars = {}
    for kind, build in builds.items():
        root = os.path.join(base, kind)
        os.makedirs(root)
        build(root)
        hostvars[kind] = {"ansible_facts": {"fleetfix_crun": _audit.audit(run_process, root=root, timeout=2)}}
    if full:
        return dict((kind, hostvars[kind]["ansible_facts"]["fleetfix_crun"]) for kind in builds)
    return fleet_rows(hostvars, list(builds))


def stale(root):
    tree = StorageTree(root)
    for number in range(3):
        tree.add_krun_config("c%d" % number, 0o700, uid=1234)
    os.symlink("/etc/shadow", os.path.join(tree.add_container("planted"), ".krun_config.json"))


def synthetic(rows, size, slices):
    """``slices`` dicts of rows (as each slice publishes them) for ``size`` hosts."""
    order = ["affected", "fixed", "fixed", "empty", "odd"]
    published = [{} for dummy in range(slices)]
    for number in range(size):
        published[number % slices]["host-%05d" % number] = rows[order[number % len(order)]]
    return published


def report(published, previous):
    merged = {}
    for part in published:
        merged.update(part)
    summary = fleet_summary({}, [], merged, None, previous)
    return [json.dumps(summary, sort_keys=True, indent=1), fleet_csv(summary, "hosts"), fleet_csv(summary, "files"),
            fleet_html(summary), fleet_junit(summary)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--slices", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = kinds()
    print("row size per host (bytes of JSON): %s" % ", ".join(
        "%s %d" % (kind, len(json.dumps(row))) for kind, row in sorted(rows.items())))
    first = None
    for size in (int(s) for s in args.sizes.split(",")):
        published = synthetic(rows, size, args.slices)
        previous = json.loads(report(published, None)[0])
        seconds = median_seconds(lambda: report(published, previous), args.repeat)
        per_host = seconds / size * 1e6
        first = first or per_host
        total = sum(len(json.dumps(part)) for part in published)
        print("%6d hosts: %7.2f s, %6.0f us per host (x%.2f of the first size); rows published %.1f MB, %.0f B per host"
              % (size, seconds, per_host, per_host / first, total / 1e6, total / size))


if __name__ == "__main__":
    main()
