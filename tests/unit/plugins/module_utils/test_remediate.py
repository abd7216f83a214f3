import ast
import hashlib
import os

import pytest
import yaml

from ansible_collections.fleetfix.crun.plugins.module_utils import _audit, _hooks, _remediate as remediate
from ansible_collections.fleetfix.crun.plugins.module_utils._params import (
    DISCOVERY_SPEC, HOST_ROOT_SPEC, REMEDIATION_SPEC, STORAGE_SPEC)
from support import (HOOK_NAME, REPO, StorageTree, install_hook_as_the_role_does, link, run_process,
                     stand_in_crun, write)

with open(os.path.join(REPO, "roles", "hook", "files", _hooks.PROGRAM_NAME), encoding="utf-8", newline="") as _handle:
    SHIPPED_HOOK = _handle.read()


def settings(strategy="auto", canary=False, upgrade=None, hook=None):
    """host_audit's remediation option as AnsibleModule hands it over: every sub-option filled in."""
    spec = REMEDIATION_SPEC
    return {"strategy": strategy, "canary": canary,
            "upgrade": dict(dict((k, v["default"]) for k, v in spec["upgrade"]["options"].items()),
                            **dict({"update_cache": False}, **(upgrade or {}))),
            "hook": dict(dict((k, v.get("default")) for k, v in spec["hook"]["options"].items()),
                         **dict({"program_sha256": hashlib.sha256(SHIPPED_HOOK.encode("utf-8")).hexdigest()},
                                **(hook or {})))}


def plan(report, strategy="auto", **change):
    return remediate.plan(report, settings(strategy, **change))


def texts(clauses):
    return [c["text"] for c in clauses]


def pending(report, **change):
    return texts(plan(report, change.pop("strategy", "auto"), **change)["pending"])


def report(runtime_status="not_applicable", stale=0, hooks=(), offered=None):
    found = {"runtimes": [{"path": "/usr/bin/crun", "version": "1.20",
                           "advisories": [{"id": "crun-1685", "status": runtime_status}]}],
             "counts": {"unreadable_by_user": stale}, "hooks": list(hooks)}
    if offered is not None:
        found["upgrade"] = offered
    return found


NOTHING_OFFERED = {"checked": True, "needed": {"crun": "1.21"}, "manager": "apt", "offered": ["1.20-1"],
                   "fixed_offered": None}


@pytest.mark.parametrize("host, expected", [
    # (upgrade wanted, upgrade known to find nothing, hook wanted, hook if the upgrade finds none)
    (report("affected"), (True, False, False, True)),
    (report("affected", offered=NOTHING_OFFERED), (True, True, True, False)),
    (report("fixed", stale=3), (False, False, True, False)),
    (report("mitigated", hooks=["/h.json"], offered=NOTHING_OFFERED), (True, True, True, False)),
    (report("fixed", hooks=["/h.json"]), (False, False, True, False)),
    (report("not_applicable"), (False, False, False, False)),
])
def test_auto_strategy(host, expected):
    decided = plan(host)
    assert (decided["upgrade"]["wanted"], decided["upgrade"]["known_none"], decided["hook"]["wanted"],
            decided["hook"]["if_no_fixed_crun"]) == expected
    assert all(c["text"] for part in ("upgrade", "hook") for c in decided[part]["clauses"])


def test_each_reason_names_its_advisory_and_its_evidence():
    decided = plan(report("affected", stale=2, offered=NOTHING_OFFERED))
    assert decided["upgrade"]["clauses"][0] == {"text": "an affected crun should be upgraded",
                                                "advisories": ["crun-1685"], "evidence": ["/usr/bin/crun 1.20"]}
    assert texts(decided["hook"]["clauses"]) == [
        "no fixed crun is offered, so the hook mitigates it",
        "stale owner-only files were found, so the hook stays as a safety net"]
    assert decided["hook"]["clauses"][1]["evidence"] == ["2 file(s)"]
    assert decided["sweep"] == {"wanted": True, "clauses": [
        {"text": "2 owner-only files to fix", "advisories": ["crun-1685"], "evidence": []}]}


def test_the_hook_waits_for_the_upgrade_only_when_nothing_else_wants_it():
    waits = plan(report("affected"))["hook"]
    assert texts(waits["clauses"]) == ["the hook is installed if the upgrade finds no fixed crun"]
    wanted = plan(report("affected", stale=2))["hook"]
    assert (wanted["wanted"], wanted["if_no_fixed_crun"]) == (True, False)
    assert texts(wanted["clauses"]) == ["stale owner-only files were found, so the hook stays as a safety net"]


@pytest.mark.parametrize("strategy, expected", [
    ("upgrade", (True, False)), ("hook", (False, True)), ("upgrade_and_hook", (True, True))])
def test_explicit_strategies_do_what_they_say(strategy, expected):
    decided = plan(report("not_applicable"), strategy)
    assert (decided["upgrade"]["wanted"], decided["hook"]["wanted"]) == expected
    assert texts(decided["hook" if "hook" in strategy else "upgrade"]["clauses"]) == ["remediate_strategy is " + strategy]


def test_an_unknown_strategy_names_the_variable():
    with pytest.raises(ValueError, match="remediate_strategy must be one of"):
        plan(report(), "fast")


def test_the_modules_defaults_are_the_roles_defaults():
    """host_audit's remediation option documents the roles' defaults; a role changing one must change it too."""
    def defaults(role):
        with open(os.path.join(REPO, "roles", role, "defaults", "main.yml")) as handle:
            return yaml.safe_load(handle)
    spec = REMEDIATION_SPEC
    assert (spec["strategy"]["default"], spec["canary"]["default"]) == (
        defaults("remediate")["remediate_strategy"], defaults("remediate")["remediate_canary"])
    for role, part in (("upgrade", "upgrade"), ("hook", "hook")):
        role_defaults = defaults(role)
        for name, option in spec[part]["options"].items():
            variable = "%s_%s" % (role, name)
            if name == "program_sha256":
                continue  # the role ships the program; the remediate role passes its digest
            assert option["default"] == role_defaults[variable], variable


def test_the_audit_roles_defaults_are_host_audits_own():
    """The remediate role's audit entry point calls host_audit itself and omits an audit_* variable the
    host leaves unset: the module's default must then be the audit role's."""
    with open(os.path.join(REPO, "roles", "audit", "defaults", "main.yml")) as handle:
        role = yaml.safe_load(handle)
    with open(os.path.join(REPO, "plugins", "modules", "host_audit.py")) as handle:
        documented = yaml.safe_load(next(node.value.value for node in ast.parse(handle.read()).body if isinstance(
            node, ast.Assign) and node.targets[0].id == "DOCUMENTATION"))["options"]
    spec = dict(HOST_ROOT_SPEC, **dict(DISCOVERY_SPEC, **STORAGE_SPEC))
    for variable, option in (("audit_root", "root"), ("audit_crun_paths", "paths"), ("audit_timeout", "timeout"),
                             ("audit_storage_roots", "storage_roots")):
        assert spec[option]["default"] == role[variable], variable
    assert documented["facts_file"]["default"] == role["audit_facts_file"]


def test_an_old_libkrun_is_named_as_its_own_action_and_the_upgrade_is_libkruns_alone():
    report = {"status": "affected", "counts": {}, "hooks": [],
              "runtimes": [{"advisories": [{"id": "crun-1685", "status": "fixed"},
                                           {"id": "libkrun-command", "status": "affected"}]}],
              "advisories": [{"id": "crun-1685", "status": "fixed"}, {"id": "libkrun-command", "status": "affected"}]}
    action = remediate.recommended_action(report)
    assert action.startswith("upgrade libkrun to 1.8 or newer: ")
    assert action.endswith("fleetfix.crun.remediate upgrades it where the package manager offers a fixed one")
    assert "upgrade crun" not in action and "fleetfix.crun.remediate does this" not in action
    decided = plan(report)
    assert (decided["upgrade"]["wanted"], decided["hook"]["wanted"]) == (True, False)
    assert decided["upgrade"]["clauses"] == [{"text": "an affected libkrun should be upgraded to 1.8 or newer (no hook "
                                                      "helps)", "advisories": ["libkrun-command"], "evidence": []}]


def audit(root):
    return _audit.audit(run_process, root=str(root), timeout=2)


# What the remediate playbook decides from an audit alone (plan()["pending"]), on real audit reports.
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
    assert pending(report) == []


@pytest.mark.parametrize("change, needle", [
    ({"upgrade": {"update_cache": True}}, "a fixed crun may be offered"),
    ({"upgrade": {"version": "1.21-1"}}, "a fixed crun may be offered"),
    ({"hook": {"program_path": "/opt/hook"}}, "the hook is to be installed"),
    ({"hook": {"dirs": ["/etc/containers/oci/hooks.d"]}}, "the hook is to be installed"),
    ({"hook": {"program_sha256": None}}, "the hook is to be installed"),
    ({"canary": True}, "the canary runs"),
])
def test_settings_that_ask_for_more_make_the_host_pending(tmp_path, change, needle):
    reasons = pending(remediated_host(tmp_path), **change)
    assert any(needle in r for r in reasons), reasons


def test_an_offered_fix_an_unchecked_cache_or_a_newer_hook_program_make_the_host_pending(tmp_path):
    offered = remediated_host(tmp_path, dict(NOTHING_OFFERED, offered=["1.21-1"], fixed_offered="1.21-1"))
    assert pending(offered) == ["a fixed crun may be offered: the upgrade role asks the package manager"]
    unchecked = dict(offered, upgrade={"checked": False, "error": "apt-cache: timed out"})
    assert pending(unchecked)
    newer = hashlib.sha256((SHIPPED_HOOK + "# newer\n").encode("utf-8")).hexdigest()
    assert pending(dict(offered, upgrade=NOTHING_OFFERED), hook={"program_sha256": newer}) == [
        "the hook is to be installed or brought up to date"]


def test_stale_files_an_affected_host_or_no_report_are_pending(tmp_path):
    report = remediated_host(tmp_path)
    StorageTree(tmp_path).add_krun_config("stale", 0o700)
    stale = audit(tmp_path)
    stale["upgrade"] = NOTHING_OFFERED
    assert pending(stale) == ["1 owner-only file to fix"]
    os.unlink(os.path.join(str(tmp_path), "usr/share/containers/oci/hooks.d", HOOK_NAME))
    bare = audit(tmp_path)
    bare["upgrade"] = NOTHING_OFFERED
    assert bare["affected"] and pending(bare, strategy="upgrade") == ["it is affected", "1 owner-only file to fix"]
    assert report["status"] == "mitigated"


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
    assert "it is affected" not in pending(report)


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
    assert pending(report) == []
    assert "no fixed libkrun is offered for libkrun: a person must find one" in remediate.recommended_action(report)


def test_a_libkrun_with_a_fixed_version_offered_is_the_remediations_to_upgrade(tmp_path):
    report = fedora_with_libkrun_1_17(tmp_path)
    upgrade = libkrun_offered("1.17.4-1", "1.18.1-1")
    report.update(upgrade=upgrade, needs_person=_audit.libkrun_left(report["advisories"], upgrade))
    assert report["needs_person"] == []
    assert plan(report)["upgrade"]["wanted"] is True
    assert pending(report) == ["a fixed libkrun may be offered: the upgrade role asks the package manager"]
    assert pending(report, upgrade={"libkrun": False}) == []
    assert "a person must find one" not in remediate.recommended_action(report)
