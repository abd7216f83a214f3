import os

import pytest

from ansible_collections.fleetfix.crun.plugins.module_utils import _audit, _hooks, _remediate as remediate
from ansible_collections.fleetfix.crun.plugins.plugin_utils._role_defaults import role_file
from support import (HOOK_NAME, HOOK_PROGRAM, StorageTree, install_hook_as_the_role_does, link, run_process,
                     stand_in_crun, write)
from ansible_collections.fleetfix.crun.plugins.module_utils._remediate import plan


def report(runtime_status="not_applicable", stale=0, hooks=()):
    return {"runtimes": [{"advisories": [{"id": "crun-1685", "status": runtime_status}]}],
            "counts": {"unreadable_by_user": stale}, "hooks": list(hooks)}


@pytest.mark.parametrize("host, available, expected", [
    (report("affected"), None, (True, False)),
    (report("affected"), True, (True, False)),
    (report("affected"), False, (True, True)),
    (report("fixed", stale=3), None, (False, True)),
    (report("mitigated", hooks=["/h.json"]), False, (True, True)),
    (report("fixed", hooks=["/h.json"]), None, (False, True)),
    (report("not_applicable"), None, (False, False)),
])
def test_auto_strategy(host, available, expected):
    decided = plan(host, "auto", available)
    assert (decided["upgrade"], decided["hook"]) == expected
    assert decided["reason"]


@pytest.mark.parametrize("strategy, expected", [
    ("upgrade", (True, False)), ("hook", (False, True)), ("upgrade_and_hook", (True, True))])
def test_explicit_strategies_do_what_they_say(strategy, expected):
    decided = plan(report("not_applicable"), strategy)
    assert (decided["upgrade"], decided["hook"]) == expected


def test_an_unknown_strategy_names_the_variable():
    with pytest.raises(ValueError, match="remediate_strategy must be one of"):
        plan(report(), "fast")


def test_an_old_libkrun_is_named_as_its_own_action_and_the_upgrade_is_libkruns_alone():
    report = {"status": "affected", "counts": {}, "hooks": [],
              "runtimes": [{"advisories": [{"id": "crun-1685", "status": "fixed"},
                                           {"id": "libkrun-command", "status": "affected"}]}],
              "advisories": [{"id": "crun-1685", "status": "fixed"}, {"id": "libkrun-command", "status": "affected"}]}
    action = remediate.recommended_action(report)
    assert action.startswith("upgrade libkrun to 1.8 or newer: ")
    assert action.endswith("fleetfix.crun.remediate upgrades it where the package manager offers a fixed one")
    assert "upgrade crun" not in action and "fleetfix.crun.remediate does this" not in action
    decided = remediate.plan(report)
    assert (decided["upgrade"], decided["hook"]) == (True, False)
    assert decided["reason"] == "an affected libkrun should be upgraded to 1.8 or newer (no hook helps)"


def audit(root):
    return _audit.audit(run_process, root=str(root), timeout=2)


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
