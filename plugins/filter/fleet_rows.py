# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: fleet_rows
version_added: 0.2.0
short_description: Each host's verdict cut down to what the fleet report reads, to publish and merge later
description:
  - From the C(ansible_facts.fleetfix_crun) fact of each host in O(hosts), the part P(fleetfix.crun.fleet_summary#filter)
    reads (status, summary, why, verdicts, the runtimes' versions and packages, counts, files, hooks, coverage, what the
    package manager offers, when it was audited); null for a host without the fact.
  - A sliced job publishes these rows (C(set_stats)) under a key of its own; the report playbook merges every slice's
    rows into one fleet report, the same as from the facts.
author: fleetfix.crun contributors
positional: hosts
options:
  _input:
    description: C(hostvars).
    type: dict
    required: true
  hosts:
    description: The hosts, usually C(ansible_play_hosts_all).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Publish this run's rows where a later job finds them
  ansible.builtin.set_stats:
    data: "{{ {'fleetfix_crun_rows_' ~ (awx_job_id | default('local')): hostvars | fleetfix.crun.fleet_rows(ansible_play_hosts_all)} }}"
    per_host: false
  run_once: true
"""

RETURN = r"""
_value:
  description: Host name to its row, or null when the host has no verdict.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.fleetfix.crun.plugins.plugin_utils import _fleet_report as report


def fleet_rows(hostvars, hosts):
    try:
        return report.host_rows(hostvars, hosts)
    except report.ReportError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"fleet_rows": fleet_rows}
