"""Benchmark: the krun_config storage scan over generated c/storage trees.

    scripts/bench scan_storage [--containers 10000] [--users 100] [--per-user 100] [--repeat 5]

Rootful: one overlay graphroot with N containers (one layer each, a few files in every rootfs, a
.krun_config.json in every tenth: half of them stale 0700, plus a planted symlink), the module's
scan (audited) against the floor: a bare os.scandir over the same layer directories listing each
rootfs top. Targets (issues 5, 11): scan <= 1 s and <= 1.5x the floor at 10,000 containers.

Rootless (needs root): U users, each owning a home with its own graphroot of P containers built
the same way. The scan forks once per user and scans as that user (docs/security.md). Two
floors: the bare walk in this process, and the bare walk done the same way the design demands,
in one child per user that has dropped to the user (hostfs.run_as_user). Target: <= 1.5x the
second floor; the first ratio says what the privilege drop costs.
Prints medians, ratios and the rootful scan's peak memory.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from conftest import link_collection  # noqa: E402
from support import StorageTree, median_seconds  # noqa: E402

link_collection()
from ansible_collections.fleetfix.crun.plugins.module_utils import _hostfs  # noqa: E402
from ansible_collections.fleetfix.crun.plugins.module_utils import _storage  # noqa: E402

FIRST_UID = 20000
ROOTLESS = ".local/share/containers/storage"


def build(root, containers, graphroot="/var/lib/containers/storage"):
    tree = StorageTree(root, graphroot)
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
    return walk_layers(tree.full)


def walk_layers(graphroot):
    found = 0
    with os.scandir(os.path.join(graphroot, "overlay")) as layers:
        for layer in layers:
            with os.scandir(os.path.join(layer.path, "diff")) as entries:
                found += sum(1 for entry in entries if entry.name == ".krun_config.json")
    return found


def build_rootless(root, users, per_user):
    """U users in the root's /etc/passwd, each with a home and a graphroot of their own."""
    passwd = ["root:x:0:0::/root:/bin/sh"]
    trees = []
    for number in range(users):
        uid, home = FIRST_UID + number, "/home/u%d" % number
        passwd.append("u%d:x:%d:%d::%s:/bin/sh" % (number, uid, uid, home))
        tree = build(root, per_user, graphroot="%s/%s" % (home, ROOTLESS))
        tree.owner = uid
        tree.chown()  # once per tree: a user's storage is theirs
        trees.append((uid, tree))
    os.makedirs(os.path.join(root, "etc"), exist_ok=True)
    with open(os.path.join(root, "etc/passwd"), "w") as handle:
        handle.write("\n".join(passwd) + "\n")
    with open(os.path.join(root, "etc/group"), "w") as handle:
        handle.write("root:x:0:\n")
    return trees


def walk_as_each_user(trees):
    return sum(_hostfs.run_as_user(uid, uid, [], walk_layers, (tree.full,)) for uid, tree in trees)


def rootless(args):
    root = tempfile.mkdtemp(prefix="fleetfix-bench-rootless-")
    os.chmod(root, 0o755)  # the users walk down from it
    try:
        started = time.perf_counter()
        trees = build_rootless(root, args.users, args.per_user)
        print("\nrootless: built %d users x %d containers in %.1f s under %s"
              % (args.users, args.per_user, time.perf_counter() - started, root))
        result = _storage.scan(root)
        assert len(result["storage_roots"]) == args.users, result["errors"][:3]
        assert not result["errors"], result["errors"][:3]
        assert walk_as_each_user(trees) == result["counts"]["total"]
        scan_s = median_seconds(lambda: _storage.scan(root), args.repeat)
        forked_s = median_seconds(lambda: walk_as_each_user(trees), args.repeat)
        bare_s = median_seconds(lambda: sum(walk_layers(tree.full) for _uid, tree in trees), args.repeat)
        containers = args.users * args.per_user
        print("files found: %s" % result["counts"])
        print("scan (module, audited, a child per user):   %.3f s median of %d" % (scan_s, args.repeat))
        print("floor A (bare walk, this process, as root):  %.3f s median of %d" % (bare_s, args.repeat))
        print("floor B (bare walk, a child per user):       %.3f s median of %d" % (forked_s, args.repeat))
        print("ratio scan / floor B:                        %.2fx   (target <= 1.5x)" % (scan_s / forked_s))
        print("ratio scan / floor A:                        %.2fx   (what dropping to each user costs)"
              % (scan_s / bare_s))
        print("scan per container:                          %.1f us" % (scan_s / containers * 1e6))
        print("scan per user:                               %.2f ms" % (scan_s / args.users * 1e3))
    finally:
        shutil.rmtree(root)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--containers", type=int, default=10000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--per-user", type=int, default=100)
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
    if os.geteuid() == 0:
        rootless(args)
    else:
        print("\nrootless: skipped (needs root, to drop to each user as the module does)")


if __name__ == "__main__":
    main()
