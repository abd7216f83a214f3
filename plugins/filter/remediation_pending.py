# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: remediation_pending
version_added: 0.2.0
short_description: Which hosts the remediation has something to do on
description:
  - From each host's C(fleetfix_crun) report (audited with O(fleetfix.crun.host_audit#module:check_upgrade=true)),
    says which hosts the C(fleetfix.crun.remediate) role would change or check, and why. The others can leave
    the run after their audit.
  - A host has something to do when owner-only files are to be fixed, when an affected crun may have a fixed
    version offered (the report cannot rule it out, or C(upgrade_update_cache) asks for a cache refresh), when
    the OCI hook is wanted and not exactly in place, or when C(remediate_canary) is set.
  - The remediate, upgrade and hook roles' settings come from each host's variables (inventory, extra vars)
    and otherwise from those roles' own defaults.
  - It errs towards work; a host it cannot judge goes to the roles, which decide exactly.
author: fleetfix.crun contributors
positional: hosts
options:
  _input:
    description: C(hostvars).
    type: dict
    required: true
  hosts:
    description: The hosts to judge, for example C(ansible_play_hosts).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Put the hosts with something to do into a group
  ansible.builtin.add_host:
    name: "{{ item.key }}"
    groups: fleetfix_crun_remediate
  loop: "{{ hostvars | fleetfix.crun.remediation_pending(ansible_play_hosts) | dict2items }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: Host name to the reasons it has something to do, for those hosts only.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.fleetfix.crun.plugins.module_utils._hooks import PROGRAM_NAME
from ansible_collections.fleetfix.crun.plugins.module_utils._remediate import pending
from ansible_collections.fleetfix.crun.plugins.plugin_utils._fleet_report import host_report
from ansible_collections.fleetfix.crun.plugins.plugin_utils._role_defaults import role_defaults, role_file

# The variables of the roles the remediate role runs that decide whether they would do anything.
SETTINGS = {
    "remediate": ("remediate_strategy", "remediate_canary"),
    "upgrade": ("upgrade_update_cache", "upgrade_packages", "upgrade_version", "upgrade_package_file", "upgrade_libkrun"),
    "hook": ("hook_program_path", "hook_python", "hook_json_name", "hook_dirs", "hook_add_hooks_dir"),
}


def remediation_pending(hostvars, hosts):
    try:
        defaults = {}
        for role, names in SETTINGS.items():
            defaults.update(role_defaults(role, names))
        program = role_file("hook", PROGRAM_NAME)
    except (IOError, OSError, ValueError) as exc:
        raise AnsibleFilterError("remediation_pending: %s" % exc)
    found = {}
    for host in hosts:
        variables = hostvars[host]
        settings = dict((name, variables[name] if name in variables else value) for name, value in defaults.items())
        try:
            reasons = pending(host_report(hostvars, host), settings, program)
        except (KeyError, TypeError, ValueError) as exc:
            reasons = ["its audit report or settings could not be judged here (%s): the roles decide" % exc]
        if reasons:
            found[host] = reasons
    return found


class FilterModule(object):
    def filters(self):
        return {"remediation_pending": remediation_pending}
