import json
import sys
import os

import pytest

from ansible_collections.fleetfix.crun.plugins.module_utils import _audit, _hooks, _remediate, _storage
from support import StorageTree, link, run_process, stand_in_crun, write


def audit(root):
    return _audit.audit(run_process, root=str(root), timeout=2)


def test_stale_files_make_a_host_with_fixed_crun_affected(tmp_path):
    stand_in_crun(tmp_path, "/usr/bin/crun", "debian-13-crun-1.21.txt")
    StorageTree(tmp_path).add_krun_config("old", 0o700)
    report = audit(tmp_path)
    verdicts = {v["id"]: v for v in report["advisories"]}
    assert report["status"] == "affected"
    assert verdicts["crun-1685"]["status"] == "affected"
    assert "upgrading crun does not fix them" in verdicts["crun-1685"]["reason"]
    assert verdicts["CVE-2025-24965"]["status"] == "fixed"


def test_an_owner_only_file_in_a_root_container_breaks_nothing_and_is_still_fixed(tmp_path):
    """Root reads a 0700 file: the container keeps its environment. The host is not affected by it;
    the sweep still tidies it (an image committed from that container would carry it)."""
    stand_in_crun(tmp_path, "/usr/bin/crun", "debian-13-crun-1.21.txt")
    path = StorageTree(tmp_path).add_krun_config("root-ctr", 0o700, uid=0)
    report = audit(tmp_path)
    assert report["status"] == "fixed", report["summary"]
    assert (report["files"][0]["impact"], report["counts"]["root_only"]) == ("root_only", 1)
    assert "1 owner-only .krun_config.json in root containers (nothing lost" in report["summary"]
    fixed = _storage.scan(str(tmp_path), fix=True)
    assert fixed["counts"]["changed"] == 1 and oct(os.stat(path).st_mode & 0o777) == "0o444"


@pytest.mark.parametrize("uid, in_a_container, impact", [(1234, True, "env_lost"), (None, True, "env_lost"),
                                                         (0, False, "image_layer"), (1234, False, "image_layer")])
def test_an_owner_only_file_that_breaks_a_container_makes_the_host_affected(tmp_path, uid, in_a_container, impact):
    stand_in_crun(tmp_path, "/usr/bin/crun", "debian-13-crun-1.21.txt")
    tree = StorageTree(tmp_path)
    path = tree.add_krun_config("c1", 0o700, uid=uid if uid is not None else 0, write_json=in_a_container)
    if uid is None:  # a config whose user cannot be read: assume the worst
        with open(path, "w") as handle:
            handle.write("{not json")
    if not in_a_container:
        tree.containers = []
        tree.write_containers_json()
    report = audit(tmp_path)
    assert (report["status"], report["files"][0]["impact"], report["counts"][impact]) == ("affected", impact, 1)


def test_fixed_crun_with_clean_storage_is_fixed(tmp_path):
    stand_in_crun(tmp_path, "/usr/bin/crun", "debian-13-crun-1.21.txt")
    StorageTree(tmp_path).add_krun_config("new", 0o444)
    report = audit(tmp_path)
    assert (report["status"], report["affected"], report["files"]) == ("fixed", False, [])


def test_affected_crun_is_named_in_the_summary(tmp_path):
    stand_in_crun(tmp_path, "/usr/bin/crun", "fedora-41-crun-1.20-libkrun.txt")
    link(tmp_path, "/usr/bin/krun", "crun")
    report = audit(tmp_path)
    assert report["summary"].startswith("affected | crun-1685 affected: crun 1.20 with +LIBKRUN")


def test_suspicious_symlink_is_counted_in_the_summary(tmp_path):
    rootfs = StorageTree(tmp_path).add_container("evil")
    os.symlink("/etc/shadow", os.path.join(rootfs, ".krun_config.json"))
    report = audit(tmp_path)
    assert report["counts"]["suspicious"] == 1
    assert "1 suspicious .krun_config.json" in report["summary"]
    assert report["files"][0]["kind"] == "symlink"


def test_no_crun_and_no_storage_is_not_applicable(tmp_path):
    report = audit(tmp_path)
    assert report["status"] == "not_applicable"
    assert "no crun found" in report["summary"]


def test_report_is_json_serialisable(tmp_path):
    stand_in_crun(tmp_path, "/usr/bin/crun", "debian-12-crun-1.8.1.txt")
    json.dumps(audit(tmp_path))


def install_hook(root, program_exists=True, stage="createRuntime"):
    program = "/usr/local/libexec/fleetfix-krun-hook"
    if program_exists:
        write(os.path.join(str(root), program.lstrip("/")), "# hook\n", 0o755)
    write(os.path.join(str(root), "usr/bin/python3"), "", 0o755)
    document = dict(_hooks.hook_document("/usr/bin/python3", program), stages=[stage])
    write(os.path.join(str(root), "usr/share/containers/oci/hooks.d/50-fleetfix-krun.json"), json.dumps(document))


def test_an_installed_hook_mitigates_the_file_mode_bug(tmp_path):
    stand_in_crun(tmp_path, "/usr/bin/crun", "fedora-41-crun-1.20-libkrun.txt")
    link(tmp_path, "/usr/bin/krun", "crun")
    install_hook(tmp_path)
    report = audit(tmp_path)
    assert (report["status"], report["affected"]) == ("mitigated", False)
    assert report["hooks"] == ["/usr/share/containers/oci/hooks.d/50-fleetfix-krun.json"]
    assert "mitigated at every container start" in report["summary"]


def test_the_hook_does_not_mitigate_the_symlink_cve(tmp_path):
    stand_in_crun(tmp_path, "/usr/bin/crun", "source-build-crun-1.7.2-libkrun.txt")
    link(tmp_path, "/usr/bin/krun", "crun")
    install_hook(tmp_path)
    verdicts = {v["id"]: v["status"] for v in audit(tmp_path)["advisories"]}
    assert (verdicts["crun-1685"], verdicts["CVE-2025-24965"]) == ("mitigated", "affected")


@pytest.mark.parametrize("kwargs", [{"program_exists": False}, {"stage": "poststop"}])
def test_a_broken_or_misplaced_hook_is_no_mitigation(tmp_path, kwargs):
    stand_in_crun(tmp_path, "/usr/bin/crun", "fedora-41-crun-1.20-libkrun.txt")
    link(tmp_path, "/usr/bin/krun", "crun")
    install_hook(tmp_path, **kwargs)
    assert audit(tmp_path)["status"] == "affected"


def test_a_stale_file_the_sweep_may_change_keeps_the_host_fixable(tmp_path):
    stand_in_crun(tmp_path, "/usr/bin/crun", "debian-13-crun-1.21.txt")
    StorageTree(tmp_path).add_krun_config("old", 0o700)
    report = audit(tmp_path)
    assert (report["fixable"], report["needs_person"]) == (True, [])


BOUND = [{"id": "crun-1685", "status": "affected"}]


@pytest.mark.parametrize("version, verdicts, remediation, asks", [
    ("1.21", [], None, False),  # nothing below its fix
    ("1.20", [], None, True),  # check_upgrade alone asks about every package below its fix
    ("1.8.1", [], {"strategy": "auto"}, False),  # below the fix, but no advisory binds it: no plan upgrades it
    ("1.8.1", BOUND, {"strategy": "auto"}, True),
    ("1.8.1", [], {"strategy": "upgrade"}, True),  # this strategy upgrades whatever the verdicts
    ("1.8.1", [], {"strategy": "hook"}, False),
])
def test_the_package_managers_are_compiled_and_asked_only_for_a_package_the_plan_could_upgrade(
        monkeypatch, version, verdicts, remediation, asks):
    """check_upgrade on a host whose packages need nothing answers without compiling _packages (a
    remediated fleet's hosts), and a remediation's audit asks only about what its plan could
    upgrade; a package it asks about goes to the package manager (here one no adapter knows, so
    nothing runs)."""
    name = "ansible_collections.fleetfix.crun.plugins.module_utils._packages"
    parent = sys.modules["ansible_collections.fleetfix.crun.plugins.module_utils"]
    monkeypatch.delitem(sys.modules, name, raising=False)
    if hasattr(parent, "_packages"):
        monkeypatch.delattr(parent, "_packages")
    runtimes = [{"version": version, "advisories": verdicts,
                 "package": {"manager": "nonesuch", "name": "crun", "version": version + "-1"}}]
    monkeypatch.setattr(_audit._crun, "crun_info", lambda runner, root, paths, timeout: {"runtimes": runtimes})
    monkeypatch.setattr(_audit.storage, "scan", lambda root, extra_roots: {})
    monkeypatch.setattr(_audit.hooks, "hooks_dirs", lambda root: ([], []))
    monkeypatch.setattr(_audit.hooks, "installed_hooks", lambda root, dirs: [])
    monkeypatch.setattr(_audit, "host_report", lambda crun, scan, hook_files, dirs, upgrade: {"upgrade": upgrade})
    monkeypatch.setattr(_remediate, "plan", lambda report, settings: "planned")
    report = _audit.audit(run_process, root="/", check_upgrade=True, remediation=remediation)
    assert (name in sys.modules) is asks
    assert report["upgrade"]["needed"] == ({"crun": version + "-1"} if asks else {})
    assert report["upgrade"]["checked"] is not asks  # the unknown package manager could not be asked
    assert report.get("plan") == ("planned" if remediation else None)
