"""Benchmark: the krun_config storage scan over a generated c/storage tree.

    scripts/bench scan_storage [--containers 10000] [--repeat 5]

Builds an overlay graphroot with N containers (one layer each, a few files in every rootfs, a
.krun_config.json in every tenth: half of them stale 0700, plus a planted symlink), then times
the module's scan (audited) against the floor: a bare os.scandir over the same layer
directories listing each rootfs top. Prints medians, the ratio and the scan's peak memory.
Targets (issue 5): scan <= 1 s and <= 1.5x the floor at 10,000 containers.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from conftest import link_collection  # noqa: E402
from support import StorageTree  # noqa: E402

link_collection()
from ansible_collections.fleetfix.crun.plugins.module_utils import _storage  # noqa: E402


def build(root, containers):
    tree = StorageTree(root)
    for index in range(containers):
        cid = "%064x" % index
        if index % 10 == 0:
            mode = 0o700 if index % 20 == 0 else 0o444
            tree.add_krun_config(cid, mode, uid=1000 + index % 7, name="c%d" % index, write_json=False)
        else:
            tree.add_container(cid, name="c%d" % index, write_json=False)
        rootfs = tree.rootfs("layer-" + cid)
        for name in ("etc", "usr", "var"):
            os.mkdir(os.path.join(rootfs, name))
    os.symlink("/etc/shadow", os.path.join(tree.add_container("planted", write_json=False), ".krun_config.json"))
    tree.write_containers_json()
    return tree


def bare_walk(tree):
    found = 0
    with os.scandir(os.path.join(tree.full, "overlay")) as layers:
        for layer in layers:
            with os.scandir(os.path.join(layer.path, "diff")) as entries:
                found += sum(1 for entry in entries if entry.name == ".krun_config.json")
    return found


def median_seconds(func, repeat):
    times = []
    for dummy in range(repeat):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--containers", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="fleetfix-bench-")
    try:
        started = time.perf_counter()
        tree = build(root, args.containers)
        print("built %d containers in %.1f s under %s" % (args.containers, time.perf_counter() - started, root))
        result = _storage.scan(root)
        assert result["storage_roots"][0]["containers"] == args.containers + 1, result["storage_roots"]
        assert bare_walk(tree) == result["counts"]["total"]
        scan_s = median_seconds(lambda: _storage.scan(root), args.repeat)
        floor_s = median_seconds(lambda: bare_walk(tree), args.repeat)
        tracemalloc.start()
        _storage.scan(root)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print("files found: %s" % result["counts"])
        print("scan (module, audited):      %.3f s median of %d" % (scan_s, args.repeat))
        print("floor (bare os.scandir walk): %.3f s median of %d" % (floor_s, args.repeat))
        print("ratio scan / floor:           %.2fx   (target <= 1.5x)" % (scan_s / floor_s))
        print("scan per container:           %.1f us" % (scan_s / args.containers * 1e6))
        print("scan peak Python memory:      %.1f MiB" % (peak / 1048576.0))
        print("target scan <= 1 s:           %s" % ("met" if scan_s <= 1 else "NOT met"))
    finally:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
