# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: fleet_summary
version_added: 0.1.0
short_description: Summarise the fleet's crun krun verdicts
description:
  - Reads the C(ansible_facts.fleetfix_crun) fact that M(fleetfix.crun.host_audit) sets on each host and summarises the
    fleet with JMESPath queries - counts per host status and per advisory, the affected hosts, the affected
    containers and every file that is not C(ok).
  - A host in O(hosts) without the fact (unreachable, failed, or not audited) counts as C(no_data).
  - With O(rows) (host rows that earlier runs published, see P(fleetfix.crun.fleet_rows#filter)) every host with a row
    is summarised, and a host's verdict is the newest (by C(audited_at)) of its row, its fact and its row in
    O(fallback); the summary is the same as from the hosts' facts.
  - Needs the Python library C(jmespath) on the controller.
author: fleetfix.crun contributors
positional: hosts, rows, max_age, previous, fallback, with_rows
options:
  _input:
    description: C(hostvars).
    type: dict
    required: true
  hosts:
    description: The hosts to summarise, usually C(ansible_play_hosts_all).
    type: list
    elements: str
    required: true
  rows:
    description:
      - Host name to its row (or null, no verdict), from earlier runs; or a list of such mappings, each a mapping or
        its JSON text (as runs publish them in C(fleetfix_crun_rows_*)), later ones winning.
    type: raw
    default: {}
  max_age:
    description: With it, list in C(stale_hosts) the hosts whose verdict is older than this many seconds (or of unknown
      age). The time stays out of the rows, so an unchanged fleet still gives identical files.
    type: int
  previous:
    description: An earlier summary (the content of a C(fleet.json), or the C(fleetfix_crun_report) artifact of the
      report playbook); with it, C(changes) says what changed since.
    type: dict
  fallback:
    description: Host name to its row, for the hosts of O(hosts) without a row in O(rows) nor a fact (such as what
      the lookup fleetfix.crun.cached_reports reads from a fact cache directory).
    type: dict
    default: {}
  with_rows:
    description: Also return C(rows_json), the rows of O(hosts) as compact JSON text, to publish.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Summarise the fleet
  ansible.builtin.set_fact:
    fleet: "{{ hostvars | fleetfix.crun.fleet_summary(ansible_play_hosts_all) }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: The fleet summary.
  type: dict
  contains:
    hosts_total:
      description: Hosts summarised.
      type: int
    counts:
      description: Hosts per status (C(affected), C(unknown), C(fixed), C(not_applicable), C(no_data)).
      type: dict
    affected_hosts:
      description: Names of affected hosts.
      type: list
      elements: str
    unknown_hosts:
      description: Names of hosts whose status could not be decided.
      type: list
      elements: str
    no_data_hosts:
      description: Names of hosts without a verdict.
      type: list
      elements: str
    advisories:
      description: Per advisory id, hosts per status.
      type: dict
    files:
      description: Every C(.krun_config.json) that is not C(ok), with its C(host).
      type: list
      elements: dict
    file_counts:
      description: >-
        C(.krun_config.json) files found in total, C(ok), C(unreadable_by_user) and C(suspicious); and of the
        unreadable ones, C(env_lost), C(image_layer) and C(root_only) (see the C(impact) of
        M(fleetfix.crun.krun_config)).
      type: dict
    next_steps:
      description: >-
        What to do next across the fleet, in order - each with C(step) (in words), the C(hosts) it covers, C(files)
        (the files or images it covers, where it counts them) and C(command) (how).
      type: list
      elements: dict
    images_to_rebuild:
      description: >-
        Per host, each image whose layer holds an owner-only C(.krun_config.json) - C(host), C(id), C(names),
        C(digest) and the C(containers) there that use it.
      type: list
      elements: dict
    affected_containers:
      description: C(host), C(container_id), C(container_name), C(path) of each unreadable file.
      type: list
      elements: dict
    hosts:
      description: One row per host - C(host), C(status), C(summary), C(why), C(crun_versions), C(packages),
        C(unreadable_files), C(suspicious_files), C(advisories), and C(action) - what to do about the host,
        in one sentence.
      type: list
      elements: dict
    stale_hosts:
      description: With O(max_age), the hosts whose verdict is older than that, or of unknown age.
      type: list
      elements: str
    rows_json:
      description: With O(with_rows), the rows of O(hosts) (host name to its row, or null) as compact JSON text.
      type: str
    changes:
      description:
        - With O(previous), what changed since - C(newly_affected), C(newly_fixed) (affected before; fixed, not
          applicable or mitigated now), C(still_affected), C(other_changes) (each a list of C(host), C(was),
          C(status)), C(new_hosts), C(disappeared), their C(counts), and C(hosts_before).
      type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.fleetfix.crun.plugins.plugin_utils import _fleet_report as report


def fleet_summary(hostvars, hosts, rows=None, max_age=None, previous=None, fallback=None, with_rows=False):
    try:
        return report.summarise(hostvars, hosts, rows, max_age, previous=previous, fallback=fallback,
                                with_rows=with_rows)
    except report.ReportError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"fleet_summary": fleet_summary}
