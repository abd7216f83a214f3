"""State after remediate (and, in the second verify, after rollback) on each kind of host.

On the podman host the proof is the container itself: created under real crun 1.8.1, where it
started without its environment (prepare.yml asserts that), it is started again after the upgrade
and the sweep and must print its environment, before the rollback and after it (the rollback
removes the hook, so the swept file alone must carry the cure). Its libkrun is the TEST STAND-IN
(tests/realcrun/libkrun-standin.c), which reads /.krun_config.json as the container's user.
"""

import json
import os

import pytest

STALE = "/var/lib/containers/storage/overlay/" + "5ca1ab1e" * 8 + "/diff/.krun_config.json"
EVIL = "/var/lib/containers/storage/overlay/" + "bad0" * 16 + "/diff/.krun_config.json"
HOOK_JSON = "/usr/share/containers/oci/hooks.d/50-fleetfix-krun.json"
HOOK_PROGRAM = "/usr/local/libexec/fleetfix-krun-hook"
REPORTS = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "reports")

# instance -> (status after remediate, crun --version line or None, hook installed, status after rollback)
EXPECTED = {
    "fleetfix-rem-krun": ("fixed", "crun version 1.21", True, "fixed"),
    "fleetfix-rem-pkgfile": ("fixed", "crun version 1.21", True, "fixed"),
    "fleetfix-rem-podman": ("fixed", "crun version 1.21", True, "fixed"),
    "fleetfix-rem-trixie": ("fixed", "crun version 1.21", True, "fixed"),
    "fleetfix-rem-nocrun": ("not_applicable", None, False, "not_applicable"),
}


# the hosts whose storage prepare.yml planted (a stale layer and a hostile symlink)
PLANTED = ("fleetfix-rem-krun", "fleetfix-rem-pkgfile", "fleetfix-rem-trixie")
PODMAN = "PODMAN_IGNORE_CGROUPSV1_WARNING=1 podman "


def rolled_back(host):
    return host.file("/var/tmp/fleetfix-phase").exists


def test_the_container_real_crun_broke_gets_its_environment_back(host):
    if host.backend.name != "fleetfix-rem-podman":
        pytest.skip("only the podman host runs containers")
    started = host.run(PODMAN + "start --attach webapp")
    assert started.rc == 0, started.stderr
    assert started.stdout.strip() == "marker TEST=here container=oci"
    rootfs = host.check_output(PODMAN + "mount webapp")
    config = host.file(rootfs + "/.krun_config.json")
    assert (config.mode, config.user) == (0o444, "root")
    assert "TEST=here" in json.loads(config.content_string)["process"]["env"]


def test_host_status_is_as_expected(host):
    remediated, _version, _hook, after_rollback = EXPECTED[host.backend.name]
    report = json.loads(host.file("/etc/ansible/facts.d/fleetfix_crun.fact").content_string)
    assert report["status"] == (after_rollback if rolled_back(host) else remediated)
    if not rolled_back(host):
        assert report["affected"] is False


def test_crun_version(host):
    version = EXPECTED[host.backend.name][1]
    if version is None:
        assert not host.exists("crun")
    else:
        assert host.check_output("crun --version").splitlines()[0] == version


def test_stale_file_was_fixed_in_place(host):
    stale = host.file(STALE)
    if host.backend.name not in PLANTED:
        assert not stale.exists
    else:
        assert (stale.mode, stale.user, stale.is_file) == (0o444, "root", True)
        assert json.loads(stale.content_string)["process"]["user"]["uid"] == 1234


def test_symlink_was_never_followed(host):
    if host.backend.name not in PLANTED:
        assert not host.file(EVIL).exists
        return
    assert host.file(EVIL).is_symlink
    sentinel = host.file("/var/tmp/fleetfix-sentinel")
    assert (sentinel.mode, sentinel.content_string) == (0o600, "sentinel")


def test_hook_is_installed_where_needed_and_gone_after_rollback(host):
    expected = EXPECTED[host.backend.name][2] and not rolled_back(host)
    assert host.file(HOOK_JSON).exists == expected
    assert host.file(HOOK_PROGRAM).exists == expected
    if expected:
        document = json.loads(host.file(HOOK_JSON).content_string)
        assert document["stages"] == ["createRuntime"]
        assert document["hook"]["args"] == ["python3", "-I", "-S", HOOK_PROGRAM]
        assert host.file(HOOK_PROGRAM).mode == 0o755


def test_fleet_report_lists_every_host(host):
    with open(os.path.join(REPORTS, "fleet.json")) as handle:
        fleet = json.load(handle)
    assert fleet["hosts_total"] == len(EXPECTED)
    row = next(r for r in fleet["hosts"] if r["host"] == host.backend.name)
    remediated, _version, _hook, after_rollback = EXPECTED[host.backend.name]
    assert row["status"] == (after_rollback if rolled_back(host) else remediated)
