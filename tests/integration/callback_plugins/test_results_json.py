# Test-only stdout callback: prints every task result and the stats as one JSON document,
# in the shape the integration tests read (plays -> tasks -> hosts, and stats).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
name: test_results_json
type: stdout
short_description: Task results and stats as one JSON document, for this collection's tests
description: Test helper; not part of the collection.
"""

import json

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "test_results_json"

    def __init__(self):
        super(CallbackModule, self).__init__()
        self.plays = []

    def v2_playbook_on_play_start(self, play):
        self.plays.append({"play": {"name": play.get_name()}, "tasks": []})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.plays[-1]["tasks"].append({"task": {"name": task.get_name()}, "hosts": {}})

    v2_playbook_on_handler_task_start = v2_playbook_on_task_start

    def _record(self, result, **extra):
        data = dict(self._convert(result._result), **extra)
        self.plays[-1]["tasks"][-1]["hosts"][result._host.get_name()] = data

    @staticmethod
    def _convert(value):
        return json.loads(json.dumps(value, default=str))

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(stats.processed.keys())
        print(json.dumps({"plays": self.plays, "stats": dict((h, stats.summarize(h)) for h in hosts)}))
