"""The modules run through Ansible on localhost, against constructed trees.

Test stand-in: crun binaries are shell scripts printing real `--version` texts (or hanging);
the modules, Ansible's module execution, check mode and diff mode are real.
"""

import json
import os
import stat
import subprocess
import sys

import pytest
from ansible_collections.fleetfix.crun.plugins.module_utils import _hooks as hooks
from support import StorageTree, stand_in_crun


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_krun_config_fixes_with_diff_and_then_changes_nothing(module, tmp_path):
    path = StorageTree(tmp_path / "host").add_krun_config("c1", 0o700, name="webapp")
    args = {"root": str(tmp_path / "host"), "state": "fixed"}
    first = module(tmp_path, "fleetfix.crun.krun_config", args, "--diff")
    assert first["changed"] is True
    assert "mode=0700" in first["diff"]["before"] and "mode=0444" in first["diff"]["after"]
    assert mode_of(path) == 0o444
    assert module(tmp_path, "fleetfix.crun.krun_config", args)["changed"] is False


def test_krun_config_check_mode_predicts_and_changes_nothing(module, tmp_path):
    path = StorageTree(tmp_path / "host").add_krun_config("c1", 0o700)
    result = module(tmp_path, "fleetfix.crun.krun_config", {"root": str(tmp_path / "host"), "state": "fixed"},
                    "--check")
    assert (result["changed"], result["counts"]["changed"]) == (True, 1)
    assert mode_of(path) == 0o700


def test_krun_config_refuses_a_mode_others_cannot_read(module, tmp_path):
    path = StorageTree(tmp_path / "host").add_krun_config("c1", 0o700)
    result = module(tmp_path, "fleetfix.crun.krun_config",
                    {"root": str(tmp_path / "host"), "state": "fixed", "mode": "0700"})
    assert result["failed"] is True and "mode must let other users read" in result["msg"]
    assert mode_of(path) == 0o700


def test_krun_config_rejects_an_unknown_state_naming_the_option(module, tmp_path):
    result = module(tmp_path, "fleetfix.crun.krun_config", {"root": str(tmp_path), "state": "repaired"})
    assert result["failed"] is True and "state" in result["msg"]


def test_crun_info_survives_a_hanging_binary(module, tmp_path):
    stand_in_crun(tmp_path / "host", "/usr/bin/crun", script="sleep 60")
    result = module(tmp_path, "fleetfix.crun.crun_info", {"root": str(tmp_path / "host"), "timeout": 1})
    assert result.get("failed") is not True
    assert result["changed"] is False
    assert result["runtimes"][0]["advisories"][0]["status"] == "unknown"


def test_crun_upgrade_downgrade_needs_a_version(module, tmp_path):
    result = module(tmp_path, "fleetfix.crun.crun_upgrade", {"downgrade": True, "update_cache": False})
    assert result["failed"] is True and "downgrade is True but all of the following are missing: version" in \
        result["msg"], result


def test_a_file_left_alone_is_a_finding_and_neither_the_audit_nor_the_sweep_fails(module, tmp_path):
    """A hard-linked config in rootful storage is left alone (root never changes a file other
    names may share); ordinary image content must not fail the host and stop a rollout."""
    tree = StorageTree(tmp_path / "host")
    stale = tree.add_krun_config("stale", 0o700, uid=1234)
    linked = tree.add_krun_config("linked", 0o700, uid=1234)
    os.link(linked, str(tmp_path / "host" / "elsewhere.json"))
    for state in ("audited", "fixed"):
        result = module(tmp_path, "fleetfix.crun.krun_config", {"root": str(tmp_path / "host"), "state": state})
        assert not result.get("failed"), result.get("msg")
        assert result["counts"]["refused"] == 1 and "1 file(s) left alone" in result["msg"]
    assert os.stat(stale).st_mode & 0o777 == 0o444 and os.stat(linked).st_mode & 0o777 == 0o700


def test_a_hooks_directory_a_user_controls_is_refused_through_a_playbook_run(module, tmp_path):
    """add_hooks_dir is a free-text AWX survey answer: one below a user's directory would let her
    put hooks that podman runs as root. The module refuses it and writes nothing anywhere."""
    alice = tmp_path / "home-alice"
    (alice / "hooks.d").mkdir(parents=True)
    os.chown(str(alice), 1000, 1000)
    args = {"hooks_dirs": [str(tmp_path / "hooks.d")], "add_hooks_dir": str(alice / "hooks.d"),
            "dropin": str(tmp_path / "conf.d/50-fleetfix-hooks-dir.conf"),
            "program": str(tmp_path / "libexec/fleetfix-krun-hook"), "program_content": "#!/bin/sh\nexit 0\n"}
    result = module(tmp_path, "fleetfix.crun.oci_hook", args)
    assert result.get("failed") and "not root's alone" in result["msg"] and "belongs to uid 1000" in result["msg"]
    assert not (tmp_path / "hooks.d").exists() and not (tmp_path / "conf.d").exists()
    assert not (tmp_path / "libexec").exists() and os.listdir(str(alice / "hooks.d")) == []


def test_a_fifo_planted_as_the_package_file_is_refused_at_once_through_a_playbook_run(module, tmp_path):
    """package_file in a directory others may write: what is planted there is opened once, as a
    regular file only. A FIFO used to block the module's first look at it (dpkg-deb --field)."""
    info = subprocess.run(["crun", "--version"], capture_output=True, text=True, check=False).stdout
    if not info.startswith("crun version 1.8.1"):
        pytest.skip("needs this machine's affected crun 1.8.1 (setup-host installs it), which asks for an upgrade")
    fifo = tmp_path / "crun.deb"
    os.mkfifo(str(fifo))
    result = module(tmp_path, "fleetfix.crun.crun_upgrade", {"package_file": str(fifo), "update_cache": False},
                    "--check")
    assert result.get("failed") and "not a regular file" in result["msg"], result


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_a_hook_program_that_is_a_device_or_fifo_is_never_read_through_a_playbook_run(module, tmp_path, target):
    """An image mounted as audit_root whose hook program is a symlink to /dev/zero (read unbounded
    until MemoryError) or a FIFO: the audit finishes, and that hook does not count."""
    root = tmp_path / "image"
    program = "/usr/local/libexec/fleetfix-krun-hook"
    document = hooks.hook_document(sys.executable, program)
    hooks_dir = root / "usr/share/containers/oci/hooks.d"
    hooks_dir.mkdir(parents=True)
    (hooks_dir / "50-fleetfix-krun.json").write_text(json.dumps(document))
    (root / "usr/local/libexec").mkdir(parents=True)
    if target == "fifo":
        os.mkfifo(str(root / program.lstrip("/")))
    else:
        os.symlink(target, str(root / program.lstrip("/")))
    python = root / sys.executable.lstrip("/")  # the hook's interpreter, present in the image
    python.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(sys.executable, str(python))
    result = module(tmp_path, "fleetfix.crun.host_audit", {"root": str(root), "facts_file": ""})
    assert not result.get("failed"), result.get("msg")
    assert result["hooks"] == [], result["hooks"]
