import json
import os

import pytest

from ansible_collections.fleetfix.crun.plugins.module_utils import _audit, _files, _hooks, _remediate as remediate, _storage
from ansible_collections.fleetfix.crun.plugins.module_utils._params import mode_problem, problem
from ansible_collections.fleetfix.crun.plugins.plugin_utils._role_defaults import role_file
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


def test_facts_file_is_written_once_and_then_left_alone(tmp_path):
    path = str(tmp_path / "facts.d" / "fleetfix_crun.fact")
    assert _files.write_json_atomically(path, {"a": 1})[0] is True
    assert _files.write_json_atomically(path, {"a": 1})[0] is False
    with open(path) as handle:
        assert json.load(handle) == {"a": 1}
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"


def test_facts_file_in_check_mode_reports_change_and_writes_nothing(tmp_path):
    path = str(tmp_path / "fleetfix_crun.fact")
    assert _files.write_json_atomically(path, {"a": 1}, check_mode=True)[0] is True
    assert not os.path.exists(path)


@pytest.mark.parametrize("params, needle", [
    ({"root": "relative/dir"}, "root must be an absolute path"),
    ({"timeout": 0}, "timeout must be at least 1 second"),
    ({"storage_roots": ["/ok", "rel"]}, "storage_roots must hold absolute paths"),
    ({"facts_file": "facts.json"}, "facts_file must be an absolute path"),
])
def test_bad_options_get_a_message_naming_the_option(params, needle):
    assert needle in problem(params)


@pytest.mark.parametrize("mode, needle", [
    ("0700", "must let other users read"),
    ("0666", "must not let group or others write"),
    ("4444", "setuid"),
    ("rwx", "octal string"),
    ("", "octal string"),
    ("04444", "octal string"),
])
def test_bad_modes_are_refused(mode, needle):
    assert needle in mode_problem(mode)


@pytest.mark.parametrize("mode", ["0444", "444", "0644", "0604"])
def test_good_modes_are_accepted(mode):
    assert mode_problem(mode) is None
    assert problem({"mode": mode, "root": "/", "timeout": 5}) is None


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


HOOK_PROGRAM = "/usr/local/libexec/fleetfix-krun-hook"
HOOK_NAME = "50-fleetfix-krun.json"


def install_hook_as_the_role_does(root, content="# hook\n", python="/usr/bin/python3"):
    write(os.path.join(str(root), "usr/bin/python3"), "", 0o755)
    _hooks.install([os.path.join(str(root), "usr/share/containers/oci/hooks.d")], HOOK_NAME,
                   _hooks.hook_document(python, HOOK_PROGRAM),
                   program=(os.path.join(str(root), HOOK_PROGRAM.lstrip("/")), content))


def test_the_report_tells_the_hook_is_in_place_exactly(tmp_path):
    install_hook_as_the_role_does(tmp_path)
    report = audit(tmp_path)
    assert report["hooks_dirs"] == ["/usr/share/containers/oci/hooks.d"]
    assert report["hook_files"][0]["program_mode"] == "0755"
    assert _hooks.in_place(report, HOOK_PROGRAM, "# hook\n", "/usr/bin/python3", HOOK_NAME) is True


@pytest.mark.parametrize("change", ["content", "python", "mode", "another_dir", "name"])
def test_any_difference_means_the_hook_is_not_in_place(tmp_path, change):
    install_hook_as_the_role_does(tmp_path, python="/usr/bin/python3" if change != "python" else "/usr/bin/python3.11")
    write(os.path.join(str(tmp_path), "usr/bin/python3.11"), "", 0o755)
    if change == "mode":
        os.chmod(os.path.join(str(tmp_path), HOOK_PROGRAM.lstrip("/")), 0o644)
    if change == "another_dir":
        write(os.path.join(str(tmp_path), "etc/containers/containers.conf"),
              '[engine]\nhooks_dir = ["/usr/share/containers/oci/hooks.d", "/etc/containers/oci/hooks.d"]\n')
    report = audit(tmp_path)
    content = "# hook, newer\n" if change == "content" else "# hook\n"
    name = "60-other.json" if change == "name" else HOOK_NAME
    assert _hooks.in_place(report, HOOK_PROGRAM, content, "/usr/bin/python3", name) is False


def test_an_empty_report_never_says_in_place():
    assert _hooks.in_place({}, HOOK_PROGRAM, "# hook\n", "/usr/bin/python3", HOOK_NAME) is False


# What the remediate playbook decides from an audit alone (remediate.pending), on real audit reports.
SHIPPED_HOOK = role_file("hook", _hooks.PROGRAM_NAME)
DEFAULT_SETTINGS = dict(remediate_strategy="auto", remediate_canary=False, upgrade_update_cache=False,
                        upgrade_packages=[], upgrade_version="", upgrade_package_file="", upgrade_libkrun=True,
                        hook_program_path=HOOK_PROGRAM, hook_python="/usr/bin/python3", hook_json_name=HOOK_NAME,
                        hook_dirs=[], hook_add_hooks_dir="")
NOTHING_OFFERED = {"checked": True, "needed": {"crun": "1.21"}, "manager": "apt", "offered": ["1.20-1"],
                   "fixed_offered": None}


def remediated_host(root, offered=None):
    """A crun 1.20 host mitigated by the hook this collection ships; the package check's answer as
    host_audit's check_upgrade gives it (asked of no package manager here)."""
    stand_in_crun(root, "/usr/bin/crun", "fedora-41-crun-1.20-libkrun.txt")
    link(root, "/usr/bin/krun", "crun")
    install_hook_as_the_role_does(root, content=SHIPPED_HOOK)
    StorageTree(root).add_krun_config("fixed-before", 0o444)
    report = audit(root)
    report["upgrade"] = dict(offered or NOTHING_OFFERED)
    return report


def test_a_remediated_host_has_nothing_pending(tmp_path):
    report = remediated_host(tmp_path)
    assert report["status"] == "mitigated"
    assert remediate.pending(report, DEFAULT_SETTINGS, SHIPPED_HOOK) == []
    # what "-e upgrade_update_cache=false -e remediate_canary=no" gives: strings
    as_typed = dict(DEFAULT_SETTINGS, upgrade_update_cache="false", remediate_canary="no")
    assert remediate.pending(report, as_typed, SHIPPED_HOOK) == []


@pytest.mark.parametrize("change, needle", [
    ({"upgrade_update_cache": True}, "a fixed crun may be offered"),
    ({"upgrade_version": "1.21-1"}, "a fixed crun may be offered"),
    ({"hook_program_path": "/opt/hook"}, "the hook is to be installed"),
    ({"hook_dirs": ["/etc/containers/oci/hooks.d"]}, "the hook is to be installed"),
    ({"remediate_canary": True}, "the canary runs"),
])
def test_settings_that_ask_for_more_make_the_host_pending(tmp_path, change, needle):
    reasons = remediate.pending(remediated_host(tmp_path), dict(DEFAULT_SETTINGS, **change), SHIPPED_HOOK)
    assert any(needle in r for r in reasons), reasons


def test_an_offered_fix_an_unchecked_cache_or_a_newer_hook_program_make_the_host_pending(tmp_path):
    offered = remediated_host(tmp_path, dict(NOTHING_OFFERED, offered=["1.21-1"], fixed_offered="1.21-1"))
    assert remediate.pending(offered, DEFAULT_SETTINGS, SHIPPED_HOOK) == [
        "a fixed crun may be offered: the upgrade role asks the package manager"]
    unchecked = dict(offered, upgrade={"checked": False, "error": "apt-cache: timed out"})
    assert remediate.pending(unchecked, DEFAULT_SETTINGS, SHIPPED_HOOK)
    assert remediate.pending(dict(offered, upgrade=NOTHING_OFFERED), DEFAULT_SETTINGS, SHIPPED_HOOK + "# newer\n") == [
        "the hook is to be installed or brought up to date"]


def test_stale_files_an_affected_host_or_no_report_are_pending(tmp_path):
    report = remediated_host(tmp_path)
    StorageTree(tmp_path).add_krun_config("stale", 0o700)
    stale = audit(tmp_path)
    stale["upgrade"] = NOTHING_OFFERED
    assert remediate.pending(stale, DEFAULT_SETTINGS, SHIPPED_HOOK) == ["1 owner-only file to fix"]
    os.unlink(os.path.join(str(tmp_path), "usr/share/containers/oci/hooks.d", HOOK_NAME))
    bare = audit(tmp_path)
    bare["upgrade"] = NOTHING_OFFERED
    assert bare["affected"] and remediate.pending(bare, dict(DEFAULT_SETTINGS, remediate_strategy="upgrade"),
                                                  SHIPPED_HOOK) == ["it is affected", "1 owner-only file to fix"]
    assert report["status"] == "mitigated"
    assert remediate.pending(None, DEFAULT_SETTINGS, SHIPPED_HOOK) == ["no audit report"]


def test_what_needs_a_person_does_not_count_against_the_remediation(tmp_path):
    """A fixed crun with libkrun 1.17 (Fedora 42-44) is affected by libkrun-env-escapes, which only a
    libkrun upgrade fixes, and a hard-linked stale file is left alone by the rules: both need a
    person; neither makes remediation fail the host, nor sends it into the remediation."""
    stand_in_crun(tmp_path, "/usr/bin/crun", script="echo 'crun version 1.21'; echo '+SYSTEMD +LIBKRUN +YAJL'")
    write(str(tmp_path / "usr/lib64/libkrun.so.1.17.4"), "")
    link(tmp_path, "/usr/lib64/libkrun.so.1", "libkrun.so.1.17.4")
    tree = StorageTree(tmp_path)
    linked = tree.add_krun_config("linked", 0o700, uid=1234)
    os.link(linked, str(tmp_path / "elsewhere.json"))
    report = audit(tmp_path)
    assert (report["status"], report["fixable"]) == ("affected", False)
    assert report["needs_person"] == [
        "libkrun-env-escapes: upgrade libkrun to 1.18.1 or newer: fleetfix.crun.remediate does it where the "
        "package manager offers one (neither a crun upgrade nor the hook helps)",
        "1 .krun_config.json left alone that break a container (see each file's error)"]
    assert "it is affected" not in remediate.pending(report, DEFAULT_SETTINGS, role_file("hook", "fleetfix-krun-hook"))


def libkrun_offered(*offered, **extra):
    """What the audit's check_upgrade says of a libkrun 1.17.4 package that libkrun-env-escapes asks to upgrade."""
    row = {"name": "libkrun", "path": "/usr/lib64/libkrun.so.1", "installed": "1.17.4-1", "minimum": "1.18.1",
           "advisories": ["libkrun-env-escapes"], "offered": list(offered), "target_version": None,
           "fixed_offered": next((v for v in offered if v.startswith("1.18")), None)}
    return dict({"checked": True, "needed": {}, "manager": "dnf", "offered": [], "fixed_offered": None,
                 "libkrun": [row], "libkrun_unowned": [], "error": None}, **extra)


def fedora_with_libkrun_1_17(tmp_path):
    stand_in_crun(tmp_path, "/usr/bin/crun", script="echo 'crun version 1.21'; echo '+SYSTEMD +LIBKRUN +YAJL'")
    write(str(tmp_path / "usr/lib64/libkrun.so.1.17.4"), "")
    link(tmp_path, "/usr/lib64/libkrun.so.1", "libkrun.so.1.17.4")
    report = audit(tmp_path)
    assert report["status"] == "affected", report["summary"]
    return report


def test_a_libkrun_with_no_fixed_version_offered_needs_a_person_and_no_remediation(tmp_path):
    report = fedora_with_libkrun_1_17(tmp_path)
    upgrade = libkrun_offered("1.17.4-1")
    report.update(upgrade=upgrade, needs_person=_audit.libkrun_left(report["advisories"], upgrade))
    assert report["needs_person"] == [
        "libkrun-env-escapes: upgrade libkrun to 1.18.1 or newer: no fixed version offered (the package cache offers "
        "libkrun 1.17.4-1) (neither a crun upgrade nor the hook helps)"]
    assert remediate.pending(report, DEFAULT_SETTINGS, role_file("hook", "fleetfix-krun-hook")) == []
    assert "no fixed libkrun is offered for libkrun: a person must find one" in remediate.recommended_action(report)


def test_a_libkrun_with_a_fixed_version_offered_is_the_remediations_to_upgrade(tmp_path):
    report = fedora_with_libkrun_1_17(tmp_path)
    upgrade = libkrun_offered("1.17.4-1", "1.18.1-1")
    report.update(upgrade=upgrade, needs_person=_audit.libkrun_left(report["advisories"], upgrade))
    assert report["needs_person"] == []
    assert remediate.plan(report)["upgrade"] is True
    assert remediate.pending(report, DEFAULT_SETTINGS, role_file("hook", "fleetfix-krun-hook")) == [
        "a fixed libkrun may be offered: the upgrade role asks the package manager"]
    assert remediate.pending(report, dict(DEFAULT_SETTINGS, upgrade_libkrun=False),
                             role_file("hook", "fleetfix-krun-hook")) == []
    assert "a person must find one" not in remediate.recommended_action(report)


def test_a_stale_file_the_sweep_may_change_keeps_the_host_fixable(tmp_path):
    stand_in_crun(tmp_path, "/usr/bin/crun", "debian-13-crun-1.21.txt")
    StorageTree(tmp_path).add_krun_config("old", 0o700)
    report = audit(tmp_path)
    assert (report["fixable"], report["needs_person"]) == (True, [])
