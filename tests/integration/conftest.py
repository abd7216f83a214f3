"""Run the installed collection through the real ansible-playbook / ansible commands."""

import json
import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INVENTORY = os.path.join(REPO, "inventory", "localhost.yml")
PLAYBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks")


def _env():
    paths = os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep)
    if not any(os.path.isdir(os.path.join(p, "ansible_collections", "fleetfix", "crun")) for p in paths if p):
        pytest.fail("the collection is not installed for this run: use scripts/test, which installs it")
    return dict(os.environ, ANSIBLE_STDOUT_CALLBACK="test_results_json", ANSIBLE_NOCOLOR="1",
                ANSIBLE_CALLBACK_PLUGINS=os.path.join(os.path.dirname(os.path.abspath(__file__)), "callback_plugins"))


class Run:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stderr = proc.stderr
        try:
            self.data = json.loads(proc.stdout[proc.stdout.index("{"):])
        except ValueError:
            raise AssertionError("no JSON from ansible (rc=%s):\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr))

    @property
    def stats(self):
        return self.data["stats"]["localhost"]

    def results(self, task_name):
        """The results of every task whose name contains task_name, in order."""
        found = []
        for play in self.data["plays"]:
            for task in play["tasks"]:
                if task_name in task["task"]["name"]:
                    found.append(task["hosts"]["localhost"])
        return found

    def failure_messages(self):
        return [host.get("msg", "") for play in self.data["plays"] for task in play["tasks"]
                for host in task["hosts"].values() if host.get("failed")]


@pytest.fixture
def playbook():
    def run(name, *args, env=None):
        if name.endswith(".yml"):
            name = os.path.join(PLAYBOOKS, name)
        proc = subprocess.run(["ansible-playbook", "-i", INVENTORY, name] + list(args), env=dict(_env(), **(env or {})),
                              capture_output=True, text=True, cwd=REPO, check=False)
        return Run(proc)
    return run


@pytest.fixture
def module():
    """Run one module on localhost as a one-task playbook, so the JSON callback reports it."""
    def run(tmp_path, name, args, *flags):
        play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{"name": "under test", name: args}]}]
        path = tmp_path / ("play-%s.json" % name.replace(".", "_"))
        path.write_text(json.dumps(play))
        proc = subprocess.run(["ansible-playbook", "-i", INVENTORY, str(path)] + list(flags), env=_env(),
                              capture_output=True, text=True, cwd=REPO, check=False)
        return Run(proc).results("under test")[0]
    return run
