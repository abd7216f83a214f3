# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: fleet_csv
version_added: 0.1.0
short_description: A fleet summary table as CSV
description:
  - Turns the C(hosts) or C(files) table of a P(fleetfix.crun.fleet_summary#filter) result into CSV text with a
    header row.
author: fleetfix.crun contributors
positional: table
options:
  _input:
    description: The output of P(fleetfix.crun.fleet_summary#filter).
    type: dict
    required: true
  table:
    description: Which table.
    type: str
    choices: [hosts, files]
    default: hosts
"""

EXAMPLES = r"""
- name: Write the hosts table
  ansible.builtin.copy:
    content: "{{ fleet | fleetfix.crun.fleet_csv('hosts') }}"
    dest: reports/hosts.csv
    mode: "0644"
  delegate_to: localhost
"""

RETURN = r"""
_value:
  description: CSV text, one row per host or per file.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.fleetfix.crun.plugins.plugin_utils import _fleet_report as report


def fleet_csv(summary, table="hosts"):
    try:
        return report.csv_table(summary, table)
    except report.ReportError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"fleet_csv": fleet_csv}
