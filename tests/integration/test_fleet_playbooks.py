"""The audit and remediate playbooks over a small fleet as every supported ansible-core runs them
(scripts/test runs this file once per line of its version matrix).

Three hosts: an affected one and a fixed one, each a constructed host tree (audit_root) reached
over the local connection, and one that cannot be reached (SSH to a closed loopback port). TEST
STAND-IN: each crun is a shell script printing a real `crun --version` text.
"""

import json
import os
import socket

import pytest
import yaml

from ansible_run import ansible_playbook
from support import REPO, StorageTree, link, stand_in_crun

# ansible-core 2.24 turns top-level fact injection off by default; some sites do it today.
FACT_INJECTION = pytest.mark.parametrize("env", [{}, {"ANSIBLE_INJECT_FACT_VARS": "False"}],
                                         ids=["facts-injected", "facts-not-injected"])


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def fleet(tmp_path):
    affected, fixed = tmp_path / "affected", tmp_path / "fixed"
    stand_in_crun(affected, "/usr/bin/crun", "fedora-41-crun-1.20-libkrun.txt")
    link(affected, "/usr/bin/krun", "crun")
    StorageTree(affected).add_krun_config("c-stale", 0o700, uid=1234, name="webapp")
    stand_in_crun(fixed, "/usr/bin/crun", "debian-13-crun-1.21.txt")
    StorageTree(fixed).add_krun_config("c-new", 0o444, uid=1234, name="newapp")
    local = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
             "audit_facts_file": ""}
    inventory = {"all": {"hosts": {
        "web-01": dict(local, audit_root=str(affected)),
        "db-01": dict(local, audit_root=str(fixed)),
        "gone-01": {"ansible_host": "127.0.0.1", "ansible_port": closed_port(), "ansible_connection": "ssh",
                    "ansible_ssh_common_args": "-o ConnectTimeout=5 -o StrictHostKeyChecking=no"},
    }}}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    return str(path)


def run(name, fleet, tmp_path, env, *args):
    return ansible_playbook([name, "-e", "report_dir=%s" % (tmp_path / "reports")] + list(args),
                            env=env, inventory=fleet)


def grouped_for_remediation(result):
    """The hosts the remediate playbook's decision put into the remediation group."""
    for play in result.data["plays"]:
        for task in play["tasks"]:
            if "Put the hosts with something to do into the group" in task["task"]["name"]:
                return [item["item"] for host in task["hosts"].values() for item in host.get("results", [])]
    raise AssertionError("the decision task did not run")


def warnings(result):
    return [line for line in result.stderr.splitlines() if "WARNING" in line]


@FACT_INJECTION
def test_the_report_names_the_affected_the_fixed_and_the_unreachable_host(fleet, tmp_path, env):
    audit = run("fleetfix.crun.audit", fleet, tmp_path, env)
    assert audit.rc == 4, (audit.rc, audit.failure_messages(), audit.stderr)  # 4: a host was unreachable
    report = json.loads((tmp_path / "reports/fleet.json").read_text())
    assert (report["affected_hosts"], report["unknown_hosts"], report["no_data_hosts"]) == (["web-01"], [], ["gone-01"])
    assert report["counts"]["fixed"] == 1 and report["hosts_total"] == 3
    assert [c["container_name"] for c in report["affected_containers"]] == ["webapp"]
    junit = (tmp_path / "reports/junit.xml").read_text()
    assert 'name="crun-1685"' in junit and 'failures="1"' in junit
    assert "web-01" in (tmp_path / "reports/fleet.html").read_text()
    assert warnings(audit) == []


@FACT_INJECTION
def test_remediate_in_check_mode_plans_only_the_affected_host(fleet, tmp_path, env):
    check = run("fleetfix.crun.remediate", fleet, tmp_path, env, "--check", "-e", "upgrade_update_cache=false")
    assert check.rc == 4, (check.rc, check.failure_messages(), check.stderr)
    assert grouped_for_remediation(check) == ["web-01"]
    assert check.results("Keep the audit and plan from before remediation", host="web-01")
    assert not check.results("Keep the audit and plan from before remediation", host="db-01")
    report = json.loads((tmp_path / "reports/fleet.json").read_text())
    assert (report["affected_hosts"], report["no_data_hosts"]) == (["web-01"], ["gone-01"])
    assert warnings(check) == []


def test_a_fleet_with_nothing_to_remediate_runs_without_warnings(fleet, tmp_path):
    with open(fleet) as handle:
        inventory = yaml.safe_load(handle)
    del inventory["all"]["hosts"]["web-01"], inventory["all"]["hosts"]["gone-01"]
    with open(fleet, "w") as handle:
        yaml.safe_dump(inventory, handle)
    done = run("fleetfix.crun.remediate", fleet, tmp_path, {}, "-e", "upgrade_update_cache=false")
    assert done.rc == 0, done.failure_messages()
    assert grouped_for_remediation(done) == []
    assert [play["play"]["name"] for play in done.data["plays"] if play["tasks"]] == [
        "Audit every host and decide which need remediation", "Report on the fleet"]
    assert warnings(done) == []


def test_the_decision_groups_the_hosts_whose_plan_has_something_pending_or_that_have_no_plan(tmp_path):
    """decide.yml reads each host's facts once: a plan with nothing pending leaves the host out; one
    with something pending, a report without a plan and no report at all send it to the remediation."""
    inventory = tmp_path / "decide.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": dict(
        ("decide_" + name, {"ansible_connection": "local"}) for name in "abcd")}}))
    done = ansible_playbook([os.path.join(REPO, "tests", "integration", "playbooks", "decide.yml")],
                            inventory=str(inventory))
    assert done.rc == 0, done.failure_messages()
    assert done.results("Show the group", host="decide_a")[0]["msg"] == ["decide_b", "decide_c", "decide_d"]
    labels = [r["_ansible_item_label"] for r in done.results("Put the hosts with something to do", host="decide_a")[0]["results"]]
    assert labels == ["decide_b: 1 owner-only file to fix", "decide_c: no plan in its audit",
                      "decide_d: no plan in its audit"]
