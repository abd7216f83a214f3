import hashlib
import json
import os

import pytest

from ansible_collections.fleetfix.crun.plugins.module_utils import _hooks as hooks
from ansible_collections.fleetfix.crun.plugins.module_utils import _audit
from support import HOOK_NAME, HOOK_PROGRAM, install_hook_as_the_role_does, run_process, write

PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "/bin/sh"


def paths(root, **kwargs):
    return [d["path"] for d in hooks.hooks_dirs(str(root), **kwargs)[0]]


def test_podman_default_is_used_when_nothing_is_configured(tmp_path):
    assert paths(tmp_path) == ["/usr/share/containers/oci/hooks.d"]


def test_containers_conf_hooks_dir_replaces_the_default(tmp_path):
    write(str(tmp_path / "etc/containers/containers.conf"), '[engine]\nhooks_dir = ["/etc/containers/oci/hooks.d"]\n')
    assert paths(tmp_path) == ["/etc/containers/oci/hooks.d"]


def test_the_last_drop_in_that_sets_hooks_dir_wins(tmp_path):
    write(str(tmp_path / "etc/containers/containers.conf"), '[engine]\nhooks_dir = ["/a"]\n')
    write(str(tmp_path / "etc/containers/containers.conf.d/10-x.conf"), '[engine]\nhooks_dir = ["/b", "/c"]\n')
    write(str(tmp_path / "etc/containers/containers.conf.d/20-y.conf"), '[engine]\nruntime = "crun"\n')
    assert paths(tmp_path) == ["/b", "/c"]


def test_crio_hooks_dirs_are_added(tmp_path):
    write(str(tmp_path / "etc/crio/crio.conf.d/00-default.conf"),
          '[crio.runtime]\nhooks_dir = ["/usr/share/containers/oci/hooks.d", "/etc/crio/hooks.d"]\n')
    assert paths(tmp_path) == ["/usr/share/containers/oci/hooks.d", "/etc/crio/hooks.d"]


def test_our_own_drop_in_can_be_left_out_of_discovery(tmp_path):
    dropin = "/etc/containers/containers.conf.d/50-fleetfix-hooks-dir.conf"
    write(str(tmp_path / dropin.lstrip("/")), hooks.dropin_text(["/usr/share/containers/oci/hooks.d", "/extra"]))
    assert paths(tmp_path) == ["/usr/share/containers/oci/hooks.d", "/extra"]
    assert paths(tmp_path, skip_dropin=dropin) == ["/usr/share/containers/oci/hooks.d"]


def test_our_hook_document_is_valid():
    document = hooks.hook_document(PYTHON, "/usr/local/libexec/fleetfix-krun-hook")
    assert hooks.problems(document) == []
    assert document["stages"] == ["createRuntime"] and document["when"] == {"always": True}


@pytest.mark.parametrize("change, needle", [
    ({"version": "1.0"}, "version"),
    ({"hook": {"path": "relative"}}, "absolute"),
    ({"hook": {"path": "/nonexistent/python"}}, "does not exist"),
    ({"hook": {"path": PYTHON, "args": "python3 -I"}}, "args"),
    ({"hook": {"path": PYTHON, "timeout": 0}}, "timeout"),
    ({"when": {}}, "when must set"),
    ({"when": {"annotations": {"run.oci.handler": "("}}}, "regular expression"),
    ({"stages": []}, "stages"),
    ({"stages": ["createruntime"]}, "unknown stage"),
])
def test_documents_podman_would_refuse_are_refused(change, needle):
    document = dict(hooks.hook_document(PYTHON, "/x"), **change)
    assert any(needle in problem for problem in hooks.problems(document))


def test_invalid_existing_hook_files_are_listed_but_ours_is_not(tmp_path):
    write(str(tmp_path / "good.json"), json.dumps(hooks.hook_document(PYTHON, "/x")))
    write(str(tmp_path / "broken.json"), "{not json")
    write(str(tmp_path / "nostage.json"), json.dumps(dict(hooks.hook_document(PYTHON, "/x"), stages=[])))
    write(str(tmp_path / "ours.json"), "{stale")
    write(str(tmp_path / "notes.txt"), "not a hook")
    bad = dict(hooks.invalid_hook_files(str(tmp_path), "ours.json"))
    assert sorted(os.path.basename(p) for p in bad) == ["broken.json", "nostage.json"]


def test_install_is_idempotent_and_uninstall_removes_everything(tmp_path):
    document = hooks.hook_document(PYTHON, "/x")
    dirs = [str(tmp_path / "a"), str(tmp_path / "b")]
    dropin = str(tmp_path / "conf.d/50-fleetfix.conf")
    changes, diff = hooks.install(dirs, "h.json", document, dropin, ["/a", "/b"])
    assert len(changes) == 3 and '"createRuntime"' in diff["after"]
    assert hooks.install(dirs, "h.json", document, dropin, ["/a", "/b"])[0] == []
    assert len(hooks.uninstall(dirs, "h.json", dropin)[0]) == 3
    assert not any(os.path.exists(os.path.join(d, "h.json")) for d in dirs) and not os.path.exists(dropin)


def test_install_in_check_mode_writes_nothing(tmp_path):
    changes, _diff = hooks.install([str(tmp_path / "a")], "h.json", hooks.hook_document(PYTHON, "/x"),
                                   check_mode=True)
    assert changes and not (tmp_path / "a").exists()


def test_a_drop_in_that_is_not_ours_is_never_removed(tmp_path):
    dropin = tmp_path / "50-fleetfix.conf"
    dropin.write_text('[engine]\nhooks_dir = ["/mine"]\n')
    assert hooks.uninstall([], "h.json", str(dropin))[0] == []
    assert dropin.exists()


def test_containers_conf_environment_variable_is_the_only_file_read(tmp_path, monkeypatch):
    private = tmp_path / "containers.conf"
    private.write_text('[engine]\nhooks_dir = ["%s"]\n' % (tmp_path / "hooks.d"))
    monkeypatch.setenv("CONTAINERS_CONF", str(private))
    assert paths("/") == [str(tmp_path / "hooks.d")]


def test_program_is_written_before_the_json_and_removed_after_it(tmp_path):
    program = str(tmp_path / "libexec/fleetfix-krun-hook")
    document = hooks.hook_document(PYTHON, program)
    changes, _diff = hooks.install([str(tmp_path / "hooks.d")], "h.json", document, program=(program, "# hook\n"))
    assert changes == [program, str(tmp_path / "hooks.d/h.json")]
    assert oct(os.stat(program).st_mode & 0o777) == "0o755"
    assert hooks.install([str(tmp_path / "hooks.d")], "h.json", document, program=(program, "# hook\n"))[0] == []
    changes, _diff = hooks.uninstall([str(tmp_path / "hooks.d")], "h.json", program=program)
    assert changes == [str(tmp_path / "hooks.d/h.json"), program]
    assert not os.path.exists(program)


def test_a_hooks_directory_another_user_controls_is_refused(tmp_path):
    """podman runs as root every hook named in its hooks directories: one a user owns, or one below
    a directory others may write, would let her run code as root."""
    theirs = tmp_path / "home-alice" / "hooks.d"
    theirs.mkdir(parents=True)
    os.chown(str(tmp_path / "home-alice"), 1000, 1000)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(str(shared), 0o777)
    ours = tmp_path / "root-only" / "hooks.d"
    assert "belongs to uid 1000" in hooks.unsafe_hooks_dir(str(theirs))
    assert "others may write it" in hooks.unsafe_hooks_dir(str(shared / "hooks.d"))
    assert hooks.unsafe_hooks_dir(str(ours)) is None  # not there yet: root creates it


def test_an_invalid_hook_file_is_described_without_its_content(tmp_path):
    """A *.json linked to a root-only file: its field values never reach a message."""
    secret = str(tmp_path / "secret.json")
    write(secret, json.dumps({"version": "SECRET-1", "hook": {"path": "SECRET-2"}, "stages": ["SECRET-3"]}), 0o600)
    os.makedirs(str(tmp_path / "hooks.d"))
    os.symlink(secret, str(tmp_path / "hooks.d" / "linked.json"))
    os.mkfifo(str(tmp_path / "hooks.d" / "fifo.json"))
    bad = dict(hooks.invalid_hook_files(str(tmp_path / "hooks.d"), "ours.json"))
    assert sorted(os.path.basename(p) for p in bad) == ["fifo.json", "linked.json"]
    assert "SECRET" not in json.dumps(bad) and "not a regular file" in bad[str(tmp_path / "hooks.d" / "fifo.json")]


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_a_hook_program_that_is_a_device_or_fifo_under_an_alternate_root_is_not_read(tmp_path, target):
    """An image mounted as audit_root whose hook program is a symlink to /dev/zero (read unbounded,
    MemoryError) or a FIFO (a blocking open): no hook counts, and the audit goes on."""
    document = hooks.hook_document(PYTHON, "/usr/local/libexec/fleetfix-krun-hook")
    write(str(tmp_path / "usr/share/containers/oci/hooks.d/50-fleetfix-krun.json"), json.dumps(document))
    program = tmp_path / "usr/local/libexec/fleetfix-krun-hook"
    os.makedirs(str(program.parent))
    if target == "fifo":
        os.mkfifo(str(program))
    else:
        os.symlink(target, str(program))
    if os.path.exists(PYTHON):
        os.makedirs(str(tmp_path / os.path.dirname(PYTHON).lstrip("/")), exist_ok=True)
        os.symlink(PYTHON, str(tmp_path / PYTHON.lstrip("/")))
    assert hooks.installed_hooks(str(tmp_path)) == []


def image_with_the_hook(image, interpreter_target=None):
    """An image (audit_root) holding the hook JSON and program as the hook role writes them, and
    the interpreter the JSON names: a program file, or a link to ``interpreter_target``."""
    document = hooks.hook_document("/usr/bin/python3", "/usr/local/libexec/fleetfix-krun-hook")
    write(str(image / "usr/share/containers/oci/hooks.d/50-fleetfix-krun.json"), json.dumps(document))
    write(str(image / "usr/local/libexec/fleetfix-krun-hook"), "#!/usr/bin/python3\n", 0o755)
    if interpreter_target is None:
        write(str(image / "usr/bin/python3"), "#!/bin/sh\n", 0o755)
    else:
        os.makedirs(str(image / "usr/bin"), exist_ok=True)
        os.symlink(interpreter_target, str(image / "usr/bin/python3"))


def test_a_hook_whose_interpreter_is_in_the_image_counts(tmp_path):
    image_with_the_hook(tmp_path / "img")
    found = hooks.installed_hooks(str(tmp_path / "img"))
    assert [h["path"] for h in found] == ["/usr/share/containers/oci/hooks.d/50-fleetfix-krun.json"]
    assert found[0]["program_mode"] == "0755"


def test_a_hook_whose_interpreter_links_out_of_the_image_is_no_mitigation(tmp_path):
    """The image's /usr/bin/python3 is an absolute link to a program that exists on the machine
    doing the audit, not in the image: podman in that image could not run the hook."""
    outside = str(tmp_path / "outside" / "python3")
    write(outside, "#!/bin/sh\n", 0o755)
    image_with_the_hook(tmp_path / "img", interpreter_target=outside)
    assert hooks.installed_hooks(str(tmp_path / "img")) == []


def test_a_hooks_directory_linked_out_of_the_image_is_read_inside_it(tmp_path):
    """hooks.d is an absolute link: podman in the image follows it inside the image; the machine's
    own directory of that name (holding a valid hook) is never listed."""
    image_with_the_hook(tmp_path / "elsewhere")
    image_with_the_hook(tmp_path / "img")
    hooks_d = tmp_path / "img/usr/share/containers/oci/hooks.d"
    os.rename(str(hooks_d), str(tmp_path / "img/srv-hooks"))
    os.symlink(str(tmp_path / "elsewhere/usr/share/containers/oci/hooks.d"), str(hooks_d))
    assert hooks.installed_hooks(str(tmp_path / "img")) == []
    os.unlink(str(hooks_d))
    os.symlink("/srv-hooks", str(hooks_d))
    assert len(hooks.installed_hooks(str(tmp_path / "img"))) == 1


# Whether an audit report shows exactly the hook the hook role writes (hooks.in_place), on real audits.
def sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def audit(root):
    return _audit.audit(run_process, root=str(root), timeout=2)


def test_the_report_tells_the_hook_is_in_place_exactly(tmp_path):
    install_hook_as_the_role_does(tmp_path)
    report = audit(tmp_path)
    assert report["hooks_dirs"] == ["/usr/share/containers/oci/hooks.d"]
    assert report["hook_files"][0]["program_mode"] == "0755"
    assert hooks.in_place(report, HOOK_PROGRAM, sha256("# hook\n"), "/usr/bin/python3", HOOK_NAME) is True
    assert hooks.in_place(report, HOOK_PROGRAM, None, "/usr/bin/python3", HOOK_NAME) is False


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
    assert hooks.in_place(report, HOOK_PROGRAM, sha256(content), "/usr/bin/python3", name) is False


def test_an_empty_report_never_says_in_place():
    assert hooks.in_place({}, HOOK_PROGRAM, sha256("# hook\n"), "/usr/bin/python3", HOOK_NAME) is False
