# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report's filters; the report itself is plugin_utils/_fleet_report.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.fleetfix.crun.plugins.module_utils._advisories import ADVISORY_IDS
from ansible_collections.fleetfix.crun.plugins.plugin_utils import _fleet_report as report


def _summary(value, name):
    if not isinstance(value, dict) or "hosts" not in value or "counts" not in value:
        raise AnsibleFilterError("%s expects the output of fleetfix.crun.fleet_summary" % name)
    return value


def fleet_summary(hostvars, hosts):
    try:
        return report.summarise(hostvars, hosts)
    except report.ReportError as exc:
        raise AnsibleFilterError(str(exc))


def fleet_csv(summary, table="hosts"):
    try:
        return report.csv_table(summary, table)
    except report.ReportError as exc:
        raise AnsibleFilterError(str(exc))


def fleet_html(summary, title="fleetfix.crun fleet report"):
    return report.render_html(_summary(summary, "fleet_html"), title)


def fleet_junit(summary):
    return report.render_junit(_summary(summary, "fleet_junit"), ADVISORY_IDS)


class FilterModule(object):
    def filters(self):
        return {"fleet_summary": fleet_summary, "fleet_csv": fleet_csv, "fleet_html": fleet_html,
                "fleet_junit": fleet_junit}
