"""The remediate playbook's one decision on the controller: which audited hosts go on to remediation."""

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.fleetfix.crun.plugins.filter import remediation_pending as module
from ansible_collections.fleetfix.crun.plugins.filter.remediation_pending import remediation_pending
from ansible_collections.fleetfix.crun.plugins.plugin_utils._role_defaults import role_defaults

DONE = {"affected": False, "status": "fixed", "counts": {"unreadable_by_user": 0}, "hooks": [], "hook_files": [],
        "hooks_dirs": ["/usr/share/containers/oci/hooks.d"],
        "runtimes": [{"advisories": [{"id": "crun-1685", "status": "fixed"}]}], "advisories": [],
        "upgrade": {"checked": True, "needed": {}, "offered": ["1.21-1"], "fixed_offered": "1.21-1"}}


def test_each_hosts_own_variables_override_the_roles_defaults():
    hostvars = {"done": {"ansible_facts": {"fleetfix_crun": DONE}},
                "canary": {"ansible_facts": {"fleetfix_crun": DONE}, "remediate_canary": True},
                "hooked": {"ansible_facts": {"fleetfix_crun": DONE}, "remediate_strategy": "hook"},
                "unaudited": {}}
    assert remediation_pending(hostvars, ["done", "canary", "hooked", "unaudited"]) == {
        "canary": ["the canary runs (remediate_canary)"],
        "hooked": ["the hook is to be installed or brought up to date"],
        "unaudited": ["no audit report"]}


def test_a_bad_setting_sends_the_host_to_the_roles_which_name_it():
    found = remediation_pending({"h": {"ansible_facts": {"fleetfix_crun": DONE}, "remediate_strategy": "fast"}}, ["h"])
    assert "remediate_strategy must be one of" in found["h"][0]


def test_the_defaults_read_are_the_roles_own():
    assert role_defaults("upgrade", ["upgrade_update_cache"]) == {"upgrade_update_cache": True}
    assert set(role_defaults("hook")) >= set(module.SETTINGS["hook"])


def test_a_templated_default_is_refused_not_guessed(monkeypatch):
    with pytest.raises(ValueError, match="report_dir"):
        role_defaults("report", ["report_dir"])
    monkeypatch.setitem(module.SETTINGS, "report", ("report_dir",))
    with pytest.raises(AnsibleFilterError, match="templates"):
        remediation_pending({}, [])
