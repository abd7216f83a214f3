"""This machine's real crun, and real container storage made by this machine's podman.

Test stand-in: an affected crun (1.7.1-1.20 with libkrun) cannot be installed here, so the owner-
only /.krun_config.json it would write is written by the test into a real podman container's
rootfs (through `podman mount`), with the mode and content crun 1.20 uses. The storage layout,
containers.json, overlay layers, the module and Ansible are all real. The podman storage is a
private graphroot under a temporary root, so the machine's own containers are never touched.
"""

import json
import os
import shutil
import stat
import subprocess
import tarfile
import tempfile

import pytest

from support import krun_config

pytestmark = pytest.mark.podman

CRUN = shutil.which("crun")
PODMAN = shutil.which("podman")


def real_crun_version():
    out = subprocess.run([CRUN, "--version"], capture_output=True, text=True, check=True).stdout
    version = out.splitlines()[0].split()[-1]
    features = [t for line in out.splitlines() if line.startswith("+") for t in line.split()]
    return version, features


@pytest.mark.skipif(CRUN is None, reason="no crun on this machine (scripts/setup-host installs it)")
def test_audit_reports_this_machines_real_crun(module, tmp_path):
    version, features = real_crun_version()
    report = module(tmp_path, "fleetfix.crun.host_audit", {"facts_file": ""})
    runtime = next(r for r in report["runtimes"] if r["realpath"] == os.path.realpath(CRUN))
    assert (runtime["version"], runtime["features"]) == (version, features)
    status = {v["id"]: v["status"] for v in runtime["advisories"]}["crun-1685"]
    if "+LIBKRUN" not in features:
        assert status == "not_applicable"
    if os.path.exists("/var/lib/dpkg/status"):
        assert runtime["package"]["manager"] == "dpkg" and runtime["package"]["upstream_version"] == version


class PrivatePodman:
    """podman with its storage under <root>/var/lib/containers/storage, as the module expects it."""

    def __init__(self, root):
        self.root = root
        self.graphroot = os.path.join(root, "var/lib/containers/storage")
        # podman refuses a runroot longer than 50 characters; it holds no layers, so it lives apart.
        self.runroot = tempfile.mkdtemp(prefix="fleetfix-run-", dir="/tmp")

    def __call__(self, *args, **kwargs):
        argv = [PODMAN, "--root", self.graphroot, "--runroot", self.runroot, "--storage-driver", "overlay"]
        proc = subprocess.run(argv + list(args), capture_output=True, text=True, check=False, **kwargs)
        if proc.returncode != 0:
            raise AssertionError("podman %s failed (%d): %s" % (" ".join(args), proc.returncode, proc.stderr.strip()))
        return proc.stdout.strip()


@pytest.fixture
def podman_storage(tmp_path):
    if PODMAN is None:
        pytest.fail("podman is not installed: scripts/setup-host installs it")
    root = str(tmp_path / "host")
    podman = PrivatePodman(root)
    image_dir = tmp_path / "image"
    image_dir.mkdir()
    (image_dir / "hello").write_text("hello\n")
    with tarfile.open(str(tmp_path / "image.tar"), "w") as tar:
        tar.add(str(image_dir), arcname=".")
    with open(str(tmp_path / "image.tar"), "rb") as tar:
        podman("import", "-", "localhost/fleetfix-test-rootfs", stdin=tar)
    yield podman
    podman("rm", "--all", "--force")
    podman("rmi", "--all", "--force")
    subprocess.run(["umount", "-R", podman.runroot], capture_output=True, check=False)
    shutil.rmtree(podman.runroot, ignore_errors=True)


def plant_stale_config(podman, name, uid):
    """Stand-in for crun 1.20's write: an owner-only config in the container's rootfs."""
    cid = podman("create", "--name", name, "--user", str(uid), "localhost/fleetfix-test-rootfs", "/hello")
    merged = podman("mount", cid)
    path = os.path.join(merged, ".krun_config.json")
    with open(path, "w") as handle:
        handle.write(krun_config(uid))
    os.chmod(path, 0o700)
    podman("umount", cid)
    return cid


def merged_mode(podman, cid):
    merged = podman("mount", cid)
    try:
        return stat.S_IMODE(os.lstat(os.path.join(merged, ".krun_config.json")).st_mode)
    finally:
        podman("umount", cid)


def test_stale_file_in_a_real_podman_container_is_found_and_fixed(module, tmp_path, podman_storage):
    cid = plant_stale_config(podman_storage, "fleetfix-user-1234", 1234)
    args = {"root": podman_storage.root}
    audited = module(tmp_path, "fleetfix.crun.krun_config", args)
    assert [(f["container_id"], f["container_name"], f["status"], f["process_uid"]) for f in audited["files"]] == \
        [(cid, "fleetfix-user-1234", "unreadable_by_user", 1234)]
    assert audited["storage_roots"][0]["containers"] == 1
    fixed = module(tmp_path, "fleetfix.crun.krun_config", dict(args, state="fixed"))
    assert fixed["changed"] is True
    assert merged_mode(podman_storage, cid) == 0o444
    assert module(tmp_path, "fleetfix.crun.krun_config", dict(args, state="fixed"))["changed"] is False
    inspect = json.loads(podman_storage("inspect", cid))
    assert inspect[0]["Config"]["User"] == "1234"
