"""The remediate and rollback playbooks on this machine, end to end.

Real: podman, crun 1.8.1, the package manager (apt: asked for a fixed crun, which Debian 12 does
not offer, so the hook path is taken), the hook program, the canary container, every role.
Private: podman reads a private containers.conf and storage.conf (CONTAINERS_CONF,
CONTAINERS_STORAGE_CONF), so hooks and containers of this machine are never touched.
The affected crun named in audit_crun_paths (conftest's affected_podman) runs real upstream crun
1.8.1 code with the krun handler, so the canary runs the symptom itself through it: a non-root krun
container must receive its marker variable. TEST STAND-INS: its version (it prints crun 1.20's
--version text), its libkrun.so.1 (no microVM here), and the owner-only /.krun_config.json
planted in a real container's rootfs for the sweep.
"""

import json
import os
import stat

import pytest

from support import private_role_vars

pytestmark = pytest.mark.podman

SENTINEL_NAME = "fleetfix-remediate-sentinel"


@pytest.fixture
def host(affected_podman, tmp_path):
    sentinel = tmp_path / SENTINEL_NAME
    sentinel.write_text("sentinel")
    os.chmod(str(sentinel), 0o600)
    return affected_podman


def extra_vars(tmp_path, **more):
    values = dict(private_role_vars(tmp_path), upgrade_update_cache=False, remediate_canary=True)
    values.update(more)
    return ["-e", json.dumps(values)]


def facts(tmp_path):
    return json.loads((tmp_path / "facts.d/fleetfix_crun.fact").read_text())


def test_remediate_fixes_mitigates_is_idempotent_and_rolls_back(playbook, host, tmp_path):
    stale = host.plant("stale-user-1234")
    host.plant("planted-symlink", symlink_to=str(tmp_path / SENTINEL_NAME))
    hook_json = os.path.join(host.hooks_dir, "50-fleetfix-krun.json")

    check = playbook("fleetfix.crun.remediate", "--check", *extra_vars(tmp_path), env=host.env)
    assert check.rc == 0, check.failure_messages()
    assert host.config_mode(stale) == 0o700 and not os.path.exists(hook_json)

    run = playbook("fleetfix.crun.remediate", *extra_vars(tmp_path), env=host.env)
    assert run.rc == 0, run.failure_messages()
    # Debian 12 offers no fixed crun and the cache is not refreshed: the plan in the audit says so, the
    # upgrade role is not run and the hook mitigates.
    plan = run.results("Record what the remediation did")[0]["ansible_facts"]["remediate_result"]["plan"]
    assert plan["upgrade"]["wanted"] and plan["upgrade"]["known_none"]
    assert [c["text"] for c in plan["hook"]["clauses"]] == [
        "no fixed crun is offered, so the hook mitigates it",
        "stale owner-only files were found, so the hook stays as a safety net"]
    assert [c["text"] for c in plan["pending"]] == [
        "it is affected", "1 owner-only file to fix", "the hook is to be installed or brought up to date",
        "the canary runs (remediate_canary)"]
    assert run.results("Upgrade crun")[0].get("skipped") is True
    assert run.results("Upgrade crun when a fixed version is offered") == []
    assert host.config_mode(stale) == 0o444
    assert os.path.exists(hook_json)
    canary = run.results("Run the canary container")[0]
    assert (canary["status"], canary["kind"]) == ("passed", "symptom"), canary
    assert facts(tmp_path)["status"] == "mitigated"
    assert stat.S_IMODE(os.stat(str(tmp_path / SENTINEL_NAME)).st_mode) == 0o600
    remediation = run.results("Record what the remediation did")[0]["ansible_facts"]["remediate_result"]
    assert [f["container_name"] for f in remediation["restart_required"]] == ["stale-user-1234"]
    assert (remediation["status_before"], remediation["status"], remediation["changed"]) == ("affected", "mitigated", True)

    again = playbook("fleetfix.crun.remediate", *extra_vars(tmp_path), env=host.env)
    assert again.rc == 0 and again.stats["changed"] == 0, [
        t["task"]["name"] for p in again.data["plays"] for t in p["tasks"] if t["hosts"].get("localhost", {}).get("changed")]
    # On a remediated host only the audit goes to the host: the hook is seen in place, nothing is offered.
    assert again.results("Install the hook")[0].get("skipped") is True
    assert again.results("Place (or remove) the hook program and its hook JSON where podman and CRI-O read hooks") == []
    again_plan = again.results("Record what the remediation did")[0]["ansible_facts"]["remediate_result"]["plan"]
    assert again_plan["hook"]["in_place"] and [c["text"] for c in again_plan["pending"]] == [
        "the canary runs (remediate_canary)"]
    # With nothing to do (no canary asked for), the host leaves after its audit: the decision is one
    # task for the play, and no task of the remediation play runs.
    done = playbook("fleetfix.crun.remediate", *extra_vars(tmp_path, remediate_canary=False), env=host.env)
    assert done.rc == 0 and done.stats["changed"] == 0, done.failure_messages()
    assert done.results("Put the hosts with something to do")[0]["results"] == []
    assert len(done.results("Audit crun and container storage")) == 1
    assert done.results("Keep the audit and plan from before remediation") == []
    fleet = json.loads((tmp_path / "reports" / "fleet.json").read_text())
    assert (fleet["hosts_total"], fleet["hosts"][0]["host"], fleet["hosts"][0]["status"]) == (1, "localhost", "mitigated")
    check_after = playbook("fleetfix.crun.remediate", "--check", *extra_vars(tmp_path), env=host.env)
    assert check_after.rc == 0 and check_after.stats["changed"] == 0

    rollback = playbook("fleetfix.crun.rollback", *extra_vars(tmp_path), env=host.env)
    assert rollback.rc == 0, rollback.failure_messages()
    assert os.listdir(host.hooks_dir) == [] and not (tmp_path / "libexec/fleetfix-krun-hook").exists()
    assert facts(tmp_path)["status"] == "affected"


def test_strategy_upgrade_alone_leaves_an_unfixable_host_failed(playbook, host, tmp_path):
    run = playbook("fleetfix.crun.remediate", *extra_vars(tmp_path, remediate_strategy="upgrade",
                                                          remediate_canary=False), env=host.env)
    assert run.rc != 0
    assert any("still affected after remediation" in m for m in run.failure_messages())
    assert not os.path.exists(os.path.join(host.hooks_dir, "50-fleetfix-krun.json"))


def test_restart_true_restarts_the_running_container_whose_file_was_fixed(playbook, host, tmp_path):
    cid = host.plant("running-1234")
    host("start", cid)
    started = host("inspect", "--format", "{{.State.StartedAt}}", cid)
    run = playbook("fleetfix.crun.remediate", *extra_vars(tmp_path, remediate_restart="restart",
                                                          remediate_canary=False), env=host.env)
    assert run.rc == 0, run.failure_messages()
    assert host("inspect", "--format", "{{.State.StartedAt}}", cid) != started
    assert host("inspect", "--format", "{{.State.Running}}", cid) == "true"


@pytest.mark.parametrize("extra, needle", [
    ({"remediate_strategy": "fast"}, "remediate_strategy"),
    ({"remediate_restart": "maybe"}, "remediate_restart"),
    ({"remediate_restart": True}, "remediate_restart"),
    # the audit role's variables, which the remediate playbook checks against that role's specification
    ({"audit_timeout": "soon"}, "audit_timeout"),
    ({"audit_storage_roots": {"not": "a list"}}, "audit_storage_roots"),
])
def test_bad_variables_fail_before_any_change(playbook, host, tmp_path, extra, needle):
    stale = host.plant("untouched")
    run = playbook("fleetfix.crun.remediate", *extra_vars(tmp_path, **extra), env=host.env)
    assert run.rc != 0 and any(needle in m for m in run.failure_messages()), run.failure_messages()
    # nothing reached a host: the audit never ran
    assert run.results("Audit crun and container storage") == []
    assert host.config_mode(stale) == 0o700
