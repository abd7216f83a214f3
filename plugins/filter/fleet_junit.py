# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: fleet_junit
version_added: 0.1.0
short_description: The fleet report as JUnit XML for CI dashboards
description:
  - Renders the output of P(fleetfix.crun.fleet_summary#filter) as JUnit XML - one test suite per advisory,
    one test case per host.
  - C(affected) is a failure (with the reason and the recommended action), C(unknown) and hosts without a
    verdict are errors, C(not_applicable) is skipped, C(fixed) and C(mitigated) pass.
author: fleetfix.crun contributors
options:
  _input:
    description: The fleet summary.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Write the JUnit report
  ansible.builtin.copy:
    content: "{{ hostvars | fleetfix.crun.fleet_summary(ansible_play_hosts_all) | fleetfix.crun.fleet_junit }}"
    dest: /srv/reports/junit.xml
    mode: "0644"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
_value:
  description: The XML document.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.fleetfix.crun.plugins.module_utils._advisories import ADVISORY_IDS
from ansible_collections.fleetfix.crun.plugins.plugin_utils import _fleet_report as report


def fleet_junit(summary):
    try:
        return report.render_junit(report.require_summary(summary, "fleet_junit"), ADVISORY_IDS)
    except report.ReportError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"fleet_junit": fleet_junit}
