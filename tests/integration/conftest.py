"""Run the installed collection through the real ansible-playbook command."""

import json
import os

import pytest

from ansible_run import ansible_playbook

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
