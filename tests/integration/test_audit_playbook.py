"""The audit playbook against a constructed host tree (audit_root).

Test stand-in: the crun 1.20 binary is a shell script printing the real Fedora 41 crun-1.20
`--version` text, since no affected libkrun crun package can be installed here. The playbook,
roles, modules, filter plugin and report files are all real.
"""

import csv
import json
import os
import stat

import pytest

from support import StorageTree, link, stand_in_crun


@pytest.fixture
def affected_tree(tmp_path):
    root = tmp_path / "host"
    stand_in_crun(root, "/usr/bin/crun", "fedora-41-crun-1.20-libkrun.txt")
    link(root, "/usr/bin/krun", "crun")
    tree = StorageTree(root)
    tree.add_krun_config("c-stale", 0o700, uid=1234, name="webapp")
    tree.add_krun_config("c-fine", 0o444, uid=0, name="rootapp")
    rootfs = tree.add_container("c-evil", name="planted")
    sentinel = tmp_path / "sentinel"
    sentinel.write_text("host secret")
    os.chmod(str(sentinel), 0o600)
    os.symlink(str(sentinel), os.path.join(rootfs, ".krun_config.json"))
    return root, sentinel


def audit_args(tmp_path, root, *extra):
    return ["-e", "audit_root=%s" % root, "-e", "audit_facts_file=%s" % (tmp_path / "facts.d/fleetfix_crun.fact"),
            "-e", "report_dir=%s" % (tmp_path / "reports")] + list(extra)


def test_audit_reports_the_affected_host_and_its_containers(playbook, tmp_path, affected_tree):
    root, sentinel = affected_tree
    run = playbook("fleetfix.crun.audit", *audit_args(tmp_path, root))
    assert run.rc == 0, run.failure_messages()
    fleet = json.loads((tmp_path / "reports/fleet.json").read_text())
    assert fleet["counts"]["affected"] == 1
    assert fleet["affected_hosts"] == ["localhost"]
    assert [c["container_name"] for c in fleet["affected_containers"]] == ["webapp"]
    assert fleet["file_counts"] == {"total": 3, "ok": 1, "unreadable_by_user": 1, "suspicious": 1,
                                    "env_lost": 1, "image_layer": 0, "root_only": 0}
    assert stat.S_IMODE(os.stat(str(sentinel)).st_mode) == 0o600


def test_facts_file_and_report_agree(playbook, tmp_path, affected_tree):
    root, _sentinel = affected_tree
    assert playbook("fleetfix.crun.audit", *audit_args(tmp_path, root)).rc == 0
    facts = json.loads((tmp_path / "facts.d/fleetfix_crun.fact").read_text())
    with open(str(tmp_path / "reports/hosts.csv")) as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["host"], r["status"]) for r in rows] == [("localhost", facts["status"])]
    assert facts["status"] == "affected"
    assert rows[0]["crun_versions"] == "/usr/bin/crun=1.20"
    with open(str(tmp_path / "reports/files.csv")) as handle:
        assert sorted(r["status"] for r in csv.DictReader(handle)) == ["suspicious", "unreadable_by_user"]


def test_second_audit_changes_nothing(playbook, tmp_path, affected_tree):
    root, _sentinel = affected_tree
    first = playbook("fleetfix.crun.audit", *audit_args(tmp_path, root))
    second = playbook("fleetfix.crun.audit", *audit_args(tmp_path, root))
    assert first.results("Audit crun")[0]["changed"] is True
    assert second.results("Audit crun")[0]["changed"] is False


def test_check_mode_audit_writes_no_facts_file_but_still_reports(playbook, tmp_path, affected_tree):
    root, _sentinel = affected_tree
    run = playbook("fleetfix.crun.audit", "--check", *audit_args(tmp_path, root))
    assert run.rc == 0, run.failure_messages()
    assert not (tmp_path / "facts.d").exists()
    assert run.results("Audit crun")[0]["changed"] is True, "check mode must predict the facts file write"
    assert json.loads((tmp_path / "reports/fleet.json").read_text())["counts"]["affected"] == 1


def test_empty_facts_file_disables_it(playbook, tmp_path, affected_tree):
    root, _sentinel = affected_tree
    run = playbook("fleetfix.crun.audit", *audit_args(tmp_path, root, "-e", "audit_facts_file="))
    assert run.rc == 0 and run.results("Audit crun")[0]["changed"] is False


@pytest.mark.parametrize("extra, needle", [
    (["-e", "audit_timeout=soon"], "audit_timeout"),
    (["-e", "audit_root=relative/dir"], "root must be an absolute path"),
    (["-e", "report_dir=reports"], "report_dir must be an absolute path"),
])
def test_bad_variables_fail_with_a_message_naming_them(playbook, tmp_path, affected_tree, extra, needle):
    root, _sentinel = affected_tree
    run = playbook("fleetfix.crun.audit", *audit_args(tmp_path, root, *extra))
    assert run.rc != 0
    assert any(needle in message for message in run.failure_messages()), run.failure_messages()


def test_clean_host_is_not_affected(playbook, tmp_path):
    root = tmp_path / "clean"
    stand_in_crun(root, "/usr/bin/crun", "debian-13-crun-1.21.txt")
    assert playbook("fleetfix.crun.audit", *audit_args(tmp_path, root)).rc == 0
    fleet = json.loads((tmp_path / "reports/fleet.json").read_text())
    assert (fleet["counts"]["fixed"], fleet["affected_hosts"]) == (1, [])


def test_a_users_storage_conf_pointing_at_shadow_leaks_nothing_anywhere(playbook, tmp_path, searchable_tmp):
    """The review's finding, through a real playbook run: mallory's storage.conf is a symlink to the
    root's /etc/shadow (a constructed root; this machine's is not touched). Nothing of it may reach
    the module result, the facts file (now 0600), the reports or the play's output."""
    root = searchable_tmp
    secret = "root:$y$j9T$SECRETSECRETSECRET:19000:0:99999:7:::"
    os.makedirs(os.path.join(root, "etc"))
    with open(os.path.join(root, "etc/passwd"), "w") as handle:
        handle.write("root:x:0:0::/root:/bin/sh\nmallory:x:1000:1000::/home/mallory:/bin/sh\n")
    with open(os.path.join(root, "etc/shadow"), "w") as handle:
        handle.write(secret + "\n")
    os.chmod(os.path.join(root, "etc/shadow"), 0o600)
    StorageTree(root, "/home/mallory/.local/share/containers/storage", owner=1000)
    conf = os.path.join(root, "home/mallory/.config/containers/storage.conf")
    os.makedirs(os.path.dirname(conf))
    os.symlink(os.path.join(root, "etc/shadow"), conf)
    for path in (os.path.dirname(os.path.dirname(conf)), os.path.dirname(conf), conf):
        os.lchown(path, 1000, 1000)
    run = playbook("fleetfix.crun.audit", *audit_args(tmp_path, root))
    assert run.rc == 0, run.failure_messages()
    result = run.results("Audit crun")[0]
    assert any("storage.conf" in e["error"] for e in result["errors"]), result["errors"]
    facts = tmp_path / "facts.d/fleetfix_crun.fact"
    assert stat.S_IMODE(os.stat(str(facts)).st_mode) == 0o600
    outputs = [json.dumps(run.data), facts.read_text()] + [
        (tmp_path / "reports" / name).read_text() for name in os.listdir(str(tmp_path / "reports"))]
    assert not any("SECRET" in text or "j9T" in text for text in outputs)
