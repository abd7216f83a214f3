"""Benchmark: the storage scan against a hostile tree stays linear in what the user wrote.

    scripts/bench hostile_scan [--sizes 100 200 400] [--repeat 3]

The tree of docs/security.md's output amplification: S stale layers stacked in one chain, under S
images whose top layers sit on it, so every stale layer is in every image (S layers and S images:
a few hundred of each took 25 KB of JSON in a user's storage). The scan named every image in every
layer's record: S x S entries, 13.9 MB of facts at a few hundred, 151 MB at a thousand.

For each size, side by side in one run:
- the floor: a bare walk that lstats each layer's config (what any scan must do) and parses
  images.json and layers.json once;
- the scan as root's own storage (in this process: its peak Python memory is measured);
- the scan of the same tree as a rootless user's storage (her child, as the module runs it).
Printed: medians, the scan / floor ratio, the result's JSON bytes, bytes per stale layer and the
growth from one size to the next. Linear means the ratios stay flat while the input doubles.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from conftest import link_collection  # noqa: E402
from support import StorageTree, median_seconds  # noqa: E402

link_collection()
from ansible_collections.fleetfix.crun.plugins.module_utils import _storage  # noqa: E402

USER = 20000
HOME = "/home/u0"


def build(root, size, owner=None):
    graphroot = HOME + "/.local/share/containers/storage" if owner else _storage.DEFAULT_GRAPHROOT
    tree = StorageTree(root, graphroot, owner=owner)
    tree.add_shared_stale_layers(size, size, names_per_image=3)
    return tree


def floor(tree):
    """What any scan must do: one lstat per layer's config, images.json and layers.json parsed once."""
    found = 0
    layers = os.path.join(tree.full, "overlay")
    for name in os.listdir(layers):
        try:
            os.lstat(os.path.join(layers, name, "diff", _storage.CONFIG_NAME))
            found += 1
        except FileNotFoundError:
            pass
    for kind in ("images", "layers"):
        with open(os.path.join(tree.full, "overlay-%s" % kind, "%s.json" % kind)) as handle:
            json.load(handle)
    return found


def measure(size, repeat):
    root = tempfile.mkdtemp(prefix="fleetfix-bench-hostile-")
    os.chmod(root, 0o755)
    try:
        os.makedirs(os.path.join(root, "etc"))
        with open(os.path.join(root, "etc/passwd"), "w") as handle:
            handle.write("root:x:0:0::/root:/bin/sh\n")
        rootful = build(root, size)
        result = _storage.scan(root)
        assert result["counts"]["image_layer"] == size and not result["errors"], result["errors"][:3]
        assert all(f["images_total"] == size for f in result["files"])
        row = {"size": size, "bytes": len(json.dumps(result)),
               "floor": median_seconds(lambda: floor(rootful), repeat),
               "scan": median_seconds(lambda: _storage.scan(root), repeat)}
        tracemalloc.start()
        _storage.scan(root)
        row["peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        shutil.rmtree(rootful.full)
        if os.geteuid() == 0:
            with open(os.path.join(root, "etc/passwd"), "a") as handle:
                handle.write("u0:x:%d:%d::%s:/bin/sh\n" % (USER, USER, HOME))
            build(root, size, owner=USER)
            result = _storage.scan(root)
            assert result["counts"]["image_layer"] == size and not result["errors"], result["errors"][:3]
            row["user_bytes"] = len(json.dumps(result))
            row["user_scan"] = median_seconds(lambda: _storage.scan(root), repeat)
        return row
    finally:
        shutil.rmtree(root)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 200, 400])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = [measure(size, args.repeat) for size in args.sizes]
    print("S stale layers under S images (every layer in every image); medians of %d" % args.repeat)
    print("| S | layer x image pairs | floor | scan (root's) | scan / floor | scan per layer | result | "
          "result per layer | peak Python memory | scan (her child) | her result |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print("| %d | %d | %.1f ms | %.1f ms | %.2f | %.0f us | %.0f KB | %.0f B | %.1f MiB | %s | %s |" % (
            row["size"], row["size"] ** 2, row["floor"] * 1e3, row["scan"] * 1e3, row["scan"] / row["floor"],
            row["scan"] / row["size"] * 1e6, row["bytes"] / 1024.0, row["bytes"] / float(row["size"]),
            row["peak"] / 1048576.0,
            "%.1f ms" % (row["user_scan"] * 1e3) if "user_scan" in row else "-",
            "%.0f KB" % (row["user_bytes"] / 1024.0) if "user_bytes" in row else "-"))
    for before, after in zip(rows, rows[1:]):
        grow = after["size"] / float(before["size"])
        print("S x%.1f: scan x%.2f, result x%.2f, memory x%.2f (linear: x%.1f; the old join: x%.1f)" % (
            grow, after["scan"] / before["scan"], after["bytes"] / float(before["bytes"]),
            after["peak"] / float(before["peak"]), grow, grow ** 2))


if __name__ == "__main__":
    main()
