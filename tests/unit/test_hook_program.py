"""The hook program, run as the runtime runs it: a separate process, OCI state on stdin.

Nothing is a stand-in here except the bundle, which the tests lay out as a runtime would
(config.json with root.path, the rootfs beside it).
"""

import glob
import json
import os
import shutil
import socket
import threading
import stat
import subprocess
import sys

import pytest

from support import REPO, krun_config

HOOK = os.path.join(REPO, "roles", "hook", "files", "fleetfix-krun-hook")


def run_hook(stdin, timeout=10):
    return subprocess.run([sys.executable, "-I", "-S", HOOK], input=stdin, capture_output=True, timeout=timeout,
                          check=False)


def bundle(tmp_path, root_path="rootfs", mode=0o700):
    """A bundle as crun sees it; returns (state bytes, path of the rootfs's .krun_config.json)."""
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    (tmp_path / "config.json").write_text(json.dumps({"ociVersion": "1.0.2", "root": {"path": root_path}}))
    config = rootfs / ".krun_config.json"
    if mode is not None:
        config.write_text(krun_config(1234))
        os.chmod(str(config), mode)
    state = {"ociVersion": "1.0.2", "id": "c1", "status": "creating", "pid": 1, "bundle": str(tmp_path)}
    return json.dumps(state).encode(), str(config)


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_owner_only_file_becomes_world_readable(tmp_path):
    state, config = bundle(tmp_path)
    result = run_hook(state)
    assert result.returncode == 0
    assert mode_of(config) == 0o444
    assert b"0700 -> 0444" in result.stderr


def test_relative_root_path_is_joined_to_the_bundle(tmp_path):
    state, config = bundle(tmp_path, root_path="rootfs")
    run_hook(state)
    assert mode_of(config) == 0o444


def test_absolute_root_path_is_used_as_is(tmp_path):
    state, config = bundle(tmp_path, root_path=str(tmp_path / "rootfs"))
    run_hook(state)
    assert mode_of(config) == 0o444


def test_readable_file_is_left_alone_silently(tmp_path):
    state, config = bundle(tmp_path, mode=0o644)
    result = run_hook(state)
    assert (result.returncode, result.stderr, mode_of(config)) == (0, b"", 0o644)


def test_missing_file_is_silent(tmp_path):
    state, _config = bundle(tmp_path, mode=None)
    result = run_hook(state)
    assert (result.returncode, result.stderr) == (0, b"")


def test_symlink_to_a_host_file_is_never_followed(tmp_path):
    state, config = bundle(tmp_path, mode=None)
    sentinel = tmp_path / "sentinel"
    sentinel.write_text("secret")
    os.chmod(str(sentinel), 0o600)
    os.symlink(str(sentinel), config)
    result = run_hook(state)
    assert result.returncode == 0
    assert mode_of(str(sentinel)) == 0o600
    assert b"symlink (never followed)" in result.stderr


def test_fifo_does_not_block_the_container_start(tmp_path):
    state, config = bundle(tmp_path, mode=None)
    os.mkfifo(config, 0o600)
    result = run_hook(state, timeout=10)
    assert result.returncode == 0 and b"not a regular file" in result.stderr
    assert mode_of(config) == 0o600


def test_a_fifo_under_the_name_is_never_opened(tmp_path):
    """A writer blocked in open(O_WRONLY) is released only when somebody opens the FIFO to read."""
    state, config = bundle(tmp_path, mode=None)
    os.mkfifo(config, 0o600)
    opened = threading.Event()

    def wait_for_a_reader():
        fd = os.open(config, os.O_WRONLY)
        opened.set()
        os.close(fd)
    writer = threading.Thread(target=wait_for_a_reader, daemon=True)
    writer.start()
    result = run_hook(state, timeout=10)
    assert result.returncode == 0 and b"never opened" in result.stderr
    assert not opened.wait(0.5), "the hook opened the FIFO"
    os.close(os.open(config, os.O_RDONLY | os.O_NONBLOCK))
    writer.join(5)


def test_a_hard_linked_config_is_left_alone(tmp_path):
    state, config = bundle(tmp_path)
    os.link(config, str(tmp_path / "elsewhere"))
    result = run_hook(state)
    assert result.returncode == 0 and b"hard links" in result.stderr
    assert mode_of(config) == 0o700


def test_the_log_line_names_the_container(tmp_path):
    state, _config = bundle(tmp_path)
    result = run_hook(state)
    assert b"container " in result.stderr and b"fixed" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs a private mount namespace")
def test_every_fix_and_refusal_reaches_the_system_log(tmp_path):
    """crun drops a hook's stderr by default; the operator's record is syslog. The hook runs where
    /dev is a private directory whose `log` is this test's socket (the machine's /dev is untouched)."""
    dev = tmp_path / "dev"
    dev.mkdir()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(dev / "log"))
    listener.settimeout(5)
    try:
        for case, mode in (("fixed", 0o700), ("refused", None)):
            work = tmp_path / case
            work.mkdir()
            state, config = bundle(work, mode=mode)
            if mode is None:
                os.symlink("/etc/shadow", config)
            subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            'mount --bind "$0" /dev && exec "$1" -I -S "$2"', str(dev), sys.executable, HOOK],
                           input=state, capture_output=True, timeout=10, check=True)
            message = listener.recv(4096).decode()
            # <LOG_AUTHPRIV | LOG_NOTICE> = <85>: where sshd and sudo log, readable by root only
            assert message.startswith("<85>") and "fleetfix-krun-hook" in message and "container c1: " in message
            assert ("fixed " in message) if case == "fixed" else ("is a symlink (never followed)" in message)
    finally:
        listener.close()


@pytest.mark.parametrize("stdin", [b"", b"garbage", b"[]", b'{"id": "x"}', b'{"bundle": 7}', b"\xff\xfe"])
def test_malformed_state_exits_zero_with_one_line(stdin):
    result = run_hook(stdin)
    assert result.returncode == 0
    assert result.stderr.count(b"\n") == 1 and result.stderr.startswith(b"fleetfix-krun-hook: ") \
        and b"skipped" in result.stderr


def test_missing_bundle_exits_zero(tmp_path):
    result = run_hook(json.dumps({"bundle": str(tmp_path / "gone")}).encode())
    assert result.returncode == 0 and b"skipped" in result.stderr


def test_read_only_rootfs_exits_zero_and_changes_nothing(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to make a read-only bind mount")
    state, config = bundle(tmp_path)
    rootfs = str(tmp_path / "rootfs")
    subprocess.run(["mount", "--bind", rootfs, rootfs], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", rootfs], check=True)
        result = run_hook(state)
        assert result.returncode == 0 and b"Read-only file system" in result.stderr
        assert mode_of(config) == 0o700
    finally:
        subprocess.run(["umount", rootfs], check=True)


def load_hook_module():
    import importlib.machinery
    import importlib.util
    loader = importlib.machinery.SourceFileLoader("fleetfix_krun_hook", HOOK)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def test_fast_json_parser_agrees_with_json_loads_on_an_oci_config():
    config = {"ociVersion": "1.0.2", "root": {"path": "/var/lib/containers/storage/overlay/abc/merged",
                                              "readonly": False},
              "process": {"user": {"uid": 1234, "gid": 1234}, "env": ["container=oci", "GRÜSSE=\u00e9\u4e2d"],
                          "args": ["/bin/sh", "-c", "echo \"hi\"\\n"], "rlimits": [{"hard": 1.5e3, "soft": -1}]},
              "annotations": {"run.oci.handler": "krun"}, "linux": {"namespaces": [], "maskedPaths": None}}
    data = json.dumps(config, ensure_ascii=False).encode("utf-8")
    assert load_hook_module().loads(b"  \n" + data + b"\n") == json.loads(data)


@pytest.mark.parametrize("data", [b"", b"   ", b'{"a": 1} trailing', b'{"a": '])
def test_fast_json_parser_refuses_what_json_refuses(data):
    with pytest.raises(ValueError):
        load_hook_module().loads(data)


def test_hook_does_not_import_the_json_module():
    """Start-up time is the hook's whole cost at every container start; json would double it."""
    probe = "import runpy, sys; sys.argv = ['hook']; sys.stdin = open('/dev/null'); " \
            "runpy.run_path(%r, run_name='not_main'); print('json' in sys.modules)" % HOOK
    result = subprocess.run([sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def oldest_hook_python():
    """Python 3.6, the oldest the README promises for hook_python (RHEL 8's /usr/bin/python3):
    on PATH or under pyenv, as this machine kind carries it."""
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.6.*/bin/python3.6"))) + [
        shutil.which("python3.6")]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 6)"],
                               capture_output=True, check=False)
        if probe.returncode == 0:  # not a pyenv shim without a version behind it
            return candidate
    return None


def test_the_hook_fixes_the_file_on_the_oldest_python_it_claims(tmp_path):
    python = oldest_hook_python()
    if python is None:
        pytest.skip("no Python 3.6 on this machine to run the hook with")
    state, config = bundle(tmp_path)
    result = subprocess.run([python, "-I", "-S", HOOK], input=state, capture_output=True, timeout=10, check=False)
    assert result.returncode == 0 and b"0700 -> 0444" in result.stderr, result.stderr
    assert mode_of(config) == 0o444


def test_a_hidden_bundle_is_found_through_the_root_crun_hands_every_hook(tmp_path):
    """crun before 1.27 can hand createRuntime hooks "bundle": "/" (crun#2025: getcwd() of its own
    process, fixed by 6c5c957e). crun has always put the config's root.path in the state as
    "root" (do_hooks), so the hook finds the rootfs there and fixes the file."""
    _state, config = bundle(tmp_path, root_path=str(tmp_path / "rootfs"))
    state = {"ociVersion": "1.0", "id": "c1", "pid": 1, "bundle": "/", "root": str(tmp_path / "rootfs"),
             "status": "created"}
    result = run_hook(json.dumps(state).encode())
    assert result.returncode == 0 and mode_of(config) == 0o444, result.stderr


def test_a_hidden_bundle_with_a_relative_root_is_logged_not_guessed(tmp_path):
    _state, config = bundle(tmp_path)
    state = {"ociVersion": "1.0", "id": "c1", "pid": 1, "bundle": "/", "root": "rootfs", "status": "created"}
    result = run_hook(json.dumps(state).encode())
    assert result.returncode == 0 and mode_of(config) == 0o700
    assert b"cannot find the rootfs" in result.stderr and b"bundle" in result.stderr, result.stderr


def test_the_hook_program_names_the_file_and_mode_the_advisory_table_does():
    """The program stands alone (it runs at every container start, importing nothing of ours), so it
    repeats the file name and the fixed mode: held here to the one definition."""
    import ast
    from ansible_collections.fleetfix.crun.plugins.module_utils import _advisories as advisories
    with open(HOOK) as handle:
        tree = ast.parse(handle.read())
    constants = dict((node.targets[0].id, ast.literal_eval(node.value)) for node in tree.body
                     if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                     and node.targets[0].id in ("CONFIG_NAME", "FIXED_MODE"))
    assert constants == {"CONFIG_NAME": advisories.CONFIG_NAME, "FIXED_MODE": advisories.FIXED_MODE}
