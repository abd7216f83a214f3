"""The audit playbook against a constructed host tree (audit_root).

Test stand-in: the crun 1.20 binary is a shell script printing the real Fedora 41 crun-1.20
`--version` text, since no affected libkrun crun package can be installed here. The playbook,
roles, modules, filter plugin and report files are all real.
"""

import csv
import json
import os
import stat
import subprocess
import time

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


def rootless_user(root, uid, name="mallory"):
    """A constructed root with one rootless user and her (empty) storage; the tree to fill."""
    os.makedirs(os.path.join(root, "etc"), exist_ok=True)
    with open(os.path.join(root, "etc/passwd"), "w") as handle:
        handle.write("root:x:0:0::/root:/bin/sh\n%s:x:%d:%d::/home/%s:/bin/sh\n" % (name, uid, uid, name))
    return StorageTree(root, "/home/%s/.local/share/containers/storage" % name, owner=uid)


def test_a_users_layers_shared_by_hundreds_of_images_give_a_bounded_report(playbook, tmp_path, searchable_tmp):
    """Output amplification, through a real playbook run: 300 stale layers under 300 images in her
    storage (91 KB of her JSON) made every layer's record name every image, a 28 MB facts
    file and module result. Each record now names a few images and counts them all."""
    rootless_user(searchable_tmp, 1000).add_shared_stale_layers(300, 300, names_per_image=3)
    run = playbook("fleetfix.crun.audit", *audit_args(tmp_path, searchable_tmp))
    assert run.rc == 0, run.failure_messages()
    result = run.results("Audit crun")[0]
    assert result["counts"]["image_layer"] == 300 and result["listed"]["omitted"]["files"] == 0
    assert all(f["images_total"] == 300 and len(f["images"]) == 5 for f in result["files"])
    facts = tmp_path / "facts.d/fleetfix_crun.fact"
    assert facts.stat().st_size < 1024 * 1024, facts.stat().st_size
    assert json.loads((tmp_path / "reports/fleet.json").read_text())["file_counts"]["image_layer"] == 300


def test_a_user_stopping_every_process_she_may_signal_does_not_stall_the_audit(playbook, tmp_path, searchable_tmp):
    """kill -STOP -1 in a loop, by the user whose storage is being scanned, through a real playbook
    run: her scan child used to stop with her processes, holding the module until its timeout. It
    now keeps root as its real and saved uid, so her signals do not reach it."""
    uid = 4242  # nobody else on this machine: her kill -1 reaches only processes of this uid
    rootless_user(searchable_tmp, uid).add_krun_config("c1", 0o700, uid=uid)

    def become_her():
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)

    stopper = subprocess.Popen(["/bin/sh", "-c", "while :; do kill -STOP -1 2>/dev/null; done"],
                               preexec_fn=become_her)  # pylint: disable=subprocess-popen-preexec-fn
    try:
        started = time.monotonic()
        run = playbook("fleetfix.crun.audit", *audit_args(tmp_path, searchable_tmp))
        elapsed = time.monotonic() - started
    finally:
        stopper.kill()
        stopper.wait()
    assert run.rc == 0, run.failure_messages()
    result = run.results("Audit crun")[0]
    assert result["errors"] == [] and result["counts"]["env_lost"] == 1, result["errors"]
    assert elapsed < 50, elapsed  # her budget is 60 s: a stopped child would cost all of it


def test_one_layer_her_child_cannot_enter_costs_that_layer_alone_through_a_playbook_run(
        playbook, tmp_path, searchable_tmp):
    """A layer of hers that her child cannot enter (a directory of another id, 0700) lost her whole
    scan: now it is one error, named, her other stale file is still found, and the host is unknown
    (not everything was seen), not fixed."""
    tree = rootless_user(searchable_tmp, 1000)
    tree.add_krun_config("c1", 0o700, uid=1000)
    closed = os.path.dirname(os.path.dirname(tree.add_krun_config("c2", 0o700, uid=1000)))
    os.chown(closed, 0, 0)
    os.chmod(closed, 0o700)
    run = playbook("fleetfix.crun.audit", *audit_args(tmp_path, searchable_tmp))
    assert run.rc == 0, run.failure_messages()
    result = run.results("Audit crun")[0]
    assert [f["container_id"] for f in result["files"]] == ["c1"]
    assert len(result["errors"]) == 1 and "layer-c2" in result["errors"][0]["path"], result["errors"]
    assert result["coverage"]["complete"] is False and result["status"] != "fixed"
