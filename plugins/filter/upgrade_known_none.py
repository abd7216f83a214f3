# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: upgrade_known_none
version_added: 0.2.0
short_description: Whether an audit already shows that no fixed crun (nor a needed fixed libkrun) is offered
description:
  - From a C(fleetfix_crun) report of M(fleetfix.crun.host_audit) run with O(fleetfix.crun.host_audit#module:check_upgrade=true),
    says whether the package cache offers no fixed crun, so an upgrade with these settings would change nothing
    and need not ask the host again.
  - False when unsure (no upgrade check in the report) or when the settings ask for more than the cache holds
    (a cache refresh, chosen packages, a version or a package file).
author: fleetfix.crun contributors
positional: update_cache, packages, version, package_file, libkrun
options:
  _input:
    description: The host report (the C(fleetfix_crun) fact).
    type: dict
    required: true
  update_cache:
    description: Whether the upgrade refreshes the package cache first.
    type: bool
    default: true
  packages:
    description: Package names chosen explicitly.
    type: list
    elements: str
    default: []
  version:
    description: A version chosen explicitly.
    type: str
    default: ""
  package_file:
    description: A package file chosen explicitly.
    type: str
    default: ""
  libkrun:
    description: Whether the upgrade also upgrades a libkrun that a libkrun advisory asks for; then a fixed libkrun
      offered makes this false.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Upgrade unless the audit already shows nothing fixed is offered
  fleetfix.crun.crun_upgrade:
    update_cache: false
  when: not (ansible_facts.fleetfix_crun | fleetfix.crun.upgrade_known_none(false))
"""

RETURN = r"""
_value:
  description: Whether the audit shows that no fixed crun is offered.
  type: bool
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.fleetfix.crun.plugins.module_utils._remediate import upgrade_known_none as known_none


def upgrade_known_none(report, update_cache=True, packages=(), version="", package_file="", libkrun=True):
    if not isinstance(report, dict):
        raise AnsibleFilterError("upgrade_known_none expects the fleetfix_crun host report, got %s"
                                 % type(report).__name__)
    return known_none(report, {"upgrade_update_cache": update_cache, "upgrade_packages": packages,
                               "upgrade_version": version, "upgrade_package_file": package_file,
                               "upgrade_libkrun": libkrun})


class FilterModule(object):
    def filters(self):
        return {"upgrade_known_none": upgrade_known_none}
