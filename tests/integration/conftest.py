"""Run the installed collection through the real ansible-playbook command."""

import json
import os
import shutil

import pytest

from ansible_run import ansible_playbook
from support import PrivatePodman, build_busybox_image, link, stand_in_crun

PLAYBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks")


@pytest.fixture
def playbook():
    def run(name, *args, env=None):
        if name.endswith(".yml"):
            name = os.path.join(PLAYBOOKS, name)
        return ansible_playbook([name] + list(args), env=env)
    return run


@pytest.fixture
def module(tmp_path):
    """Run one module on localhost as a one-task playbook, so the callback reports it."""
    def run(tmp_path, name, args, *flags):
        play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{"name": "under test", name: args}]}]
        path = tmp_path / ("play-%s.json" % name.replace(".", "_"))
        path.write_text(json.dumps(play))
        return ansible_playbook([str(path)] + list(flags)).results("under test")[0]
    return run


@pytest.fixture
def affected_podman(tmp_path):
    """Real podman on private storage and hooks (nothing of this machine's is touched), with a
    TEST STAND-IN affected crun: tmp_path/bin/crun prints the real crun 1.20 (+LIBKRUN) --version
    text, next to a krun symlink, since no affected crun can be installed here."""
    podman_binary = shutil.which("podman")
    if podman_binary is None:
        pytest.fail("podman is not installed: scripts/setup-host installs it")
    podman = PrivatePodman(str(tmp_path), podman_binary)
    build_busybox_image(podman, "localhost/fleetfix-test-busybox", config_mode=None)
    stand_in_crun(tmp_path, "/bin/crun", "fedora-41-crun-1.20-libkrun.txt")
    link(tmp_path, "/bin/krun", "crun")
    yield podman
    podman.close()
