"""scripts/setup-host on a machine that looks fresh to it, without touching this machine's state.

tests/fresh-machine makes a private mount namespace look like a new machine of this kind (hugetlb
in the unified cgroup hierarchy, no ulimits drop-in, empty podman storage; one TEST STAND-IN piece,
described there, plays the kernel's cgroup file). There, crun must refuse a container before
setup-host runs, setup-host must succeed, and a container must start after it.
"""

import os
import shutil
import subprocess

import pytest

from support import REPO, build_busybox_image

pytestmark = [
    pytest.mark.podman,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("podman") is None or shutil.which("unshare") is None,
                       reason="needs root, unshare and podman (scripts/setup-host installs podman)"),
    pytest.mark.skipif(not os.path.exists("/sys/fs/cgroup/unified/cgroup.controllers"),
                       reason="the machine has no hybrid cgroup layout to fake"),
]

# Runs on the fresh-looking machine. $1: the checkout, $2: the image to load into empty storage.
CHECKS = r"""
set -u
podman load --quiet -i "$WORK/probe.tar" >/dev/null
echo "controllers before: $(cat /sys/fs/cgroup/unified/cgroup.controllers)"
echo "before: $(podman run --rm --network none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 \
  "$2" /bin/true 2>&1 && echo started)"
echo "before, podman's default rlimits: $(podman run --rm --network none "$2" /bin/true 2>&1 && echo started)"
"$1/scripts/setup-host" 2>&1 | sed 's/^/setup-host: /'
echo "setup-host rc: ${PIPESTATUS[0]}"
echo "controllers after: $(cat /sys/fs/cgroup/unified/cgroup.controllers)"
echo "drop-in after: $(ls /etc/containers/containers.conf.d)"
echo "after: $(podman run --rm --network none "$2" /bin/sh -c 'echo started' 2>&1)"
"""


@pytest.fixture
def probe_tar(tmp_path):
    """A one-binary busybox image saved to a tar, to load into the namespace's empty storage."""
    def podman(*args, stdin=None):
        subprocess.run(["podman"] + list(args), input=stdin, check=True, capture_output=True)
    name = build_busybox_image(podman, "localhost/fleetfix-fresh-probe", config_mode=None)
    try:
        podman("save", "--quiet", "-o", str(tmp_path / "probe.tar"), name)
    finally:
        subprocess.run(["podman", "rmi", "--force", name], capture_output=True, check=False)
    return tmp_path


def run_on_a_fresh_looking_machine(work):
    proc = subprocess.run(
        [os.path.join(REPO, "tests", "fresh-machine"), "bash", "-c", CHECKS, "checks", REPO,
         "localhost/fleetfix-fresh-probe"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ, WORK=str(work)), check=False)
    lines = {}
    for line in proc.stdout.splitlines():
        key, _sep, value = line.partition(": ")
        lines.setdefault(key, value)
    return proc, lines


def test_setup_host_makes_a_fresh_machine_start_containers(probe_tar):
    proc, lines = run_on_a_fresh_looking_machine(probe_tar)
    report = proc.stdout + proc.stderr
    # The namespace really looks fresh: crun refuses exactly as on a new machine.
    assert lines.get("controllers before") == "hugetlb", report
    assert "cgroups in hybrid mode not supported" in lines.get("before", ""), report
    assert "setrlimit" in lines.get("before, podman's default rlimits", ""), report
    assert lines.get("setup-host rc") == "0", report
    assert lines.get("controllers after") == "", report
    assert lines.get("drop-in after") == "50-fleetfix-testbed-ulimits.conf", report
    assert lines.get("after") == "started", report
