# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.fleetfix.crun.plugins.module_utils._remediate import plan


def remediation_plan(report, strategy="auto", upgrade_available=None):
    if not isinstance(report, dict):
        raise AnsibleFilterError("remediation_plan expects the fleetfix_crun host report, got %s"
                                 % type(report).__name__)
    try:
        return plan(report, strategy, upgrade_available)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"remediation_plan": remediation_plan}
