"""Run the installed collection through the real ansible-playbook command."""

import json
import os
import shutil
import subprocess

import pytest

from ansible_run import ansible_playbook
from support import REPO, VERSION_FIXTURES, PrivatePodman, build_busybox_image, link, write

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


@pytest.fixture(scope="session")
def realcrun():
    """The directory of the real crun 1.8.1 and 1.21 builds with the krun handler and the TEST
    STAND-IN libkrun (tests/realcrun/build; scripts/test builds them first)."""
    proc = subprocess.run([os.path.join(REPO, "tests", "realcrun", "build"), "--dir"], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(proc.stderr.strip())
    return proc.stdout.strip()


@pytest.fixture
def affected_podman(tmp_path, realcrun):
    """Real podman on private storage and hooks (nothing of this machine's is touched), with an
    affected crun 1.20 (+LIBKRUN) at tmp_path/bin/crun, next to a krun symlink, as a Fedora
    crun-krun host has them.

    TEST STAND-IN for the version only: no crun 1.20 build is reachable here (Debian carries 1.8.1
    and 1.21), and 1.8.1 is also affected by CVE-2025-24965, which no hook mitigates. So
    `--version` prints the real Fedora 41 crun 1.20 text, and everything else runs real upstream
    crun 1.8.1 with the krun handler (tests/realcrun/build), whose crun-1685 behaviour (the 0700
    file) is the same as 1.20's; its libkrun is the stand-in too."""
    podman_binary = shutil.which("podman")
    if podman_binary is None:
        pytest.fail("podman is not installed: scripts/setup-host installs it")
    podman = PrivatePodman(str(tmp_path), podman_binary)
    build_busybox_image(podman, "localhost/fleetfix-test-busybox", config_mode=None)
    write(str(tmp_path / "bin" / "crun"),
          '#!/bin/bash\nif [ "${1:-}" = --version ]; then cat "%s"; else exec -a "${0##*/}" "%s" "$@"; fi\n'
          % (os.path.join(VERSION_FIXTURES, "fedora-41-crun-1.20-libkrun.txt"),
             os.path.join(realcrun, "crun-1.8.1", "bin", "crun")), 0o755)
    link(tmp_path, "/bin/krun", "crun")
    yield podman
    podman.close()
