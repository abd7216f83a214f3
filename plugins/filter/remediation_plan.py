# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: remediation_plan
version_added: 0.1.0
short_description: Decide which remedies a host gets
description:
  - From a host's C(fleetfix_crun) report and a strategy, says whether to upgrade crun and whether to install
    the OCI hook, with the reason.
  - C(auto) upgrades an affected crun; it installs the hook when no fixed crun is offered
    (O(upgrade_available=false)), and keeps it while the host has held stale owner-only files or already has it.
author: fleetfix.crun contributors
positional: strategy, upgrade_available
options:
  _input:
    description: The host report (the C(fleetfix_crun) fact).
    type: dict
    required: true
  strategy:
    description: The remediation strategy.
    type: str
    choices: [auto, upgrade, hook, upgrade_and_hook]
    default: auto
  upgrade_available:
    description: Whether a fixed crun is offered; null when not yet known.
    type: bool
"""

EXAMPLES = r"""
- name: Decide
  ansible.builtin.set_fact:
    plan: "{{ ansible_facts.fleetfix_crun | fleetfix.crun.remediation_plan('auto', upgrade_available | default(none)) }}"
"""

RETURN = r"""
_value:
  description: C(upgrade) (bool), C(hook) (bool) and C(reason) (str).
  type: dict
"""

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
