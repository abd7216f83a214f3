"""Benchmark: what the OCI hook adds to a container start.

    scripts/bench hook_overhead [--runs 20] [--krun]

Starts `podman run --rm --network none IMAGE true` --runs times with the hook and as many times
without it (interleaved, so drift hits both alike), from a busybox image whose rootfs holds a
0444 /.krun_config.json (the steady state: the hook checks and changes nothing). podman uses a
private containers.conf and storage under a temporary directory. Also times the hook program
alone. Prints medians and the ratio. Target (issue 3): the hook adds <= 5 %.

--krun: the same through the krun handler of real crun 1.8.1 (tests/realcrun/build) with the
TEST STAND-IN libkrun, run as --user 1234: a krun start as crun makes it, minus the microVM boot.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TESTS)
from support import REPO, PrivatePodman, build_busybox_image  # noqa: E402

HOOK = os.path.join(REPO, "roles", "hook", "files", "fleetfix-krun-hook")
IMAGE = "localhost/fleetfix-bench-busybox"


def timed(argv, env=None, stdin=None):
    started = time.perf_counter()
    subprocess.run(argv, env=env, input=stdin, capture_output=True, check=True)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--krun", action="store_true", help="through real crun 1.8.1's krun handler")
    args = parser.parse_args()
    runtime = []
    if args.krun:
        built = subprocess.run([os.path.join(TESTS, "realcrun", "build"), "--dir"], capture_output=True, text=True,
                               check=False)
        if built.returncode != 0:
            raise SystemExit(built.stderr.strip())
        runtime = ["--runtime", os.path.join(built.stdout.strip(), "crun-1.8.1", "bin", "krun"), "--user", "1234"]
    base = tempfile.mkdtemp(prefix="fleetfix-bench-hook-")
    podman = PrivatePodman(base, shutil.which("podman") or "podman")
    try:
        build_busybox_image(podman, IMAGE, config_mode=0o444)
        program = os.path.join(base, "fleetfix-krun-hook")
        shutil.copy(HOOK, program)
        os.makedirs(podman.hooks_dir)
        empty = os.path.join(base, "no-hooks.d")
        os.makedirs(empty)
        # the floor of any compiled hook: a hook that execs and exits at once
        exec_only = os.path.join(base, "true-hooks.d")
        os.makedirs(exec_only)
        with open(os.path.join(exec_only, "50-true.json"), "w") as handle:
            json.dump({"version": "1.0.0", "hook": {"path": "/bin/true"}, "when": {"always": True},
                       "stages": ["createRuntime"]}, handle)
        document = {"version": "1.0.0", "hook": {"path": "/usr/bin/python3", "args": ["python3", "-I", "-S", program]},
                    "when": {"always": True}, "stages": ["createRuntime"]}
        with open(os.path.join(podman.hooks_dir, "50-fleetfix-krun.json"), "w") as handle:
            json.dump(document, handle)
        env = dict(os.environ, **podman.env)
        run = [podman.podman, "run", "--rm", "--network", "none"] + runtime
        with_hook, without, with_true = [], [], []
        for dummy in range(2):  # warm caches
            timed(run + ["--hooks-dir", empty, IMAGE, "true"], env)
        for dummy in range(args.runs):
            without.append(timed(run + ["--hooks-dir", empty, IMAGE, "true"], env))
            with_hook.append(timed(run + ["--hooks-dir", podman.hooks_dir, IMAGE, "true"], env))
            with_true.append(timed(run + ["--hooks-dir", exec_only, IMAGE, "true"], env))
        bundle = os.path.join(base, "bundle")
        os.makedirs(os.path.join(bundle, "rootfs"))
        with open(os.path.join(bundle, "config.json"), "w") as handle:
            json.dump({"root": {"path": "rootfs"}}, handle)
        state = json.dumps({"bundle": bundle}).encode()
        alone = [timed(["/usr/bin/python3", "-I", "-S", program], stdin=state) for dummy in range(50)]
        median_with, median_without = statistics.median(with_hook), statistics.median(without)
        crun = subprocess.run([runtime[1] if runtime else "crun", "--version"], capture_output=True, text=True,
                              check=True).stdout
        print("%s, %s%s" % (podman("--version"), crun.splitlines()[0],
                            " (krun handler, stand-in libkrun, --user 1234)" if runtime else ""))
        print("podman run --rm --network none %sIMAGE true, median of %d each:"
              % ("--runtime krun --user 1234 " if runtime else "", args.runs))
        print("  without the hook: %.3f s" % median_without)
        print("  with the hook:    %.3f s" % median_with)
        print("  ratio with/without: %.3f   (target <= 1.05)" % (median_with / median_without))
        median_true = statistics.median(with_true)
        print("  with /bin/true as the hook (any compiled hook's floor): %.3f s, ratio %.3f"
              % (median_true, median_true / median_without))
        print("hook program alone (python3 -I -S), median of 50: %.1f ms" % (statistics.median(alone) * 1000))
    finally:
        podman.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
