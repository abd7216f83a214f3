# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.fleetfix.crun.plugins.module_utils._advisories import ADVISORY_IDS
from ansible_collections.fleetfix.crun.plugins.plugin_utils._fleet_report import render_html, render_junit


def _summary(value, name):
    if not isinstance(value, dict) or "hosts" not in value or "counts" not in value:
        raise AnsibleFilterError("%s expects the output of fleetfix.crun.fleet_summary" % name)
    return value


def fleet_html(summary, title="fleetfix.crun fleet report"):
    return render_html(_summary(summary, "fleet_html"), title)


def fleet_junit(summary):
    return render_junit(_summary(summary, "fleet_junit"), ADVISORY_IDS)


class FilterModule(object):
    def filters(self):
        return {"fleet_html": fleet_html, "fleet_junit": fleet_junit}
