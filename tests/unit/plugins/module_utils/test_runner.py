"""The command runner every external command goes through (the host-access layer's), on a real
AnsibleModule and real processes."""

import json
import os
import time

import pytest

from ansible_collections.fleetfix.crun.plugins.module_utils import _hostfs as hostfs


@pytest.fixture
def module_run(monkeypatch):
    """The runner the modules use, on a real AnsibleModule."""
    from ansible.module_utils import basic
    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:  # before ansible-core 2.19: the arguments are a module global
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": {}}).encode())
        yield hostfs.module_runner(basic.AnsibleModule(argument_spec={}))
        return
    with patch_module_args({}):
        yield hostfs.module_runner(basic.AnsibleModule(argument_spec={}))


def test_module_runner_runs_in_the_c_locale_without_expanding_arguments(module_run):
    rc, out, _err = module_run(["/bin/sh", "-c", 'printf "%s %s" "$LANG" "$1"', "sh", "$HOME~"], 5)
    assert (rc, out) == (0, "C $HOME~")
    assert module_run(["cat"], 5, stdin=b"\x00tar bytes") == (0, "\x00tar bytes", "")


def test_module_runner_kills_a_hung_command_and_its_children(module_run, tmp_path):
    pidfile = tmp_path / "child.pid"
    started = time.monotonic()
    with pytest.raises(hostfs.CommandTimeout, match="timed out after 1s"):
        module_run(["/bin/sh", "-c", 'sleep 60 & echo $! > "$0"; sleep 60', str(pidfile)], 1)
    assert time.monotonic() - started < 10
    child = int(pidfile.read_text())
    time.sleep(0.2)
    assert not os.path.exists("/proc/%d" % child) or "Z" in open("/proc/%d/stat" % child).read().split()[2]


def test_module_runner_raises_oserror_for_a_missing_program(module_run, tmp_path):
    with pytest.raises(OSError):
        module_run([str(tmp_path / "no-such-crun"), "--version"], 5)
