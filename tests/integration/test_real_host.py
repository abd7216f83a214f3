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
import subprocess

import pytest

from support import PrivatePodman, build_busybox_image

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


@pytest.fixture
def podman_storage(tmp_path):
    """podman whose storage is <root>/var/lib/containers/storage, where the module's root option looks."""
    if PODMAN is None:
        pytest.fail("podman is not installed: scripts/setup-host installs it")
    podman = PrivatePodman(str(tmp_path), PODMAN, graphroot=str(tmp_path / "host/var/lib/containers/storage"))
    podman.root = str(tmp_path / "host")
    build_busybox_image(podman, "localhost/fleetfix-test-busybox", config_mode=None)
    yield podman
    podman.close()


def test_stale_file_in_a_real_podman_container_is_found_and_fixed(module, tmp_path, podman_storage):
    cid = podman_storage.plant("fleetfix-user-1234", 1234)
    args = {"root": podman_storage.root}
    audited = module(tmp_path, "fleetfix.crun.krun_config", args)
    assert [(f["container_id"], f["container_name"], f["status"], f["process_uid"]) for f in audited["files"]] == \
        [(cid, "fleetfix-user-1234", "unreadable_by_user", 1234)]
    assert audited["storage_roots"][0]["containers"] == 1
    fixed = module(tmp_path, "fleetfix.crun.krun_config", dict(args, state="fixed"))
    assert fixed["changed"] is True
    assert podman_storage.config_mode(cid) == 0o444
    assert module(tmp_path, "fleetfix.crun.krun_config", dict(args, state="fixed"))["changed"] is False
    inspect = json.loads(podman_storage("inspect", cid))
    assert inspect[0]["Config"]["User"] == "1234"
