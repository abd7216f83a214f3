"""Run ansible-playbook on the installed collection and read its results as JSON."""

import json
import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INVENTORY = os.path.join(REPO, "inventory", "localhost.yml")
CALLBACKS = os.path.join(REPO, "tests", "integration", "callback_plugins")


def ansible_env(extra=None):
    """The environment for ansible-playbook; fails clearly when the collection is not installed."""
    paths = os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep)
    if not any(os.path.isdir(os.path.join(p, "ansible_collections", "fleetfix", "crun")) for p in paths if p):
        raise RuntimeError("the collection is not installed for this run: use scripts/test, which installs it")
    return dict(os.environ, ANSIBLE_STDOUT_CALLBACK="test_results_json", ANSIBLE_NOCOLOR="1",
                ANSIBLE_CALLBACK_PLUGINS=CALLBACKS, **(extra or {}))


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

    def results(self, task_name, host="localhost"):
        """The results of every task whose name contains task_name, in order."""
        found = []
        for play in self.data["plays"]:
            for task in play["tasks"]:
                if task_name in task["task"]["name"] and host in task["hosts"]:
                    found.append(task["hosts"][host])
        return found

    def failure_messages(self):
        return [host.get("msg", "") for play in self.data["plays"] for task in play["tasks"]
                for host in task["hosts"].values() if host.get("failed")]


def ansible_playbook(args, env=None, inventory=INVENTORY, cwd=REPO):
    proc = subprocess.run(["ansible-playbook", "-i", inventory] + list(args), env=ansible_env(env),
                          capture_output=True, text=True, cwd=cwd, check=False)
    return Run(proc)
