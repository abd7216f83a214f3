# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.fleetfix.crun.plugins.module_utils._hooks import PROGRAM_NAME
from ansible_collections.fleetfix.crun.plugins.module_utils._remediate import pending
from ansible_collections.fleetfix.crun.plugins.plugin_utils._role_defaults import role_defaults, role_file

# The variables of the roles the remediate role runs that decide whether they would do anything.
SETTINGS = {
    "remediate": ("remediate_strategy", "remediate_canary"),
    "upgrade": ("upgrade_update_cache", "upgrade_packages", "upgrade_version", "upgrade_package_file"),
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
            reasons = pending(variables.get("fleetfix_crun"), settings, program)
        except (KeyError, TypeError, ValueError) as exc:
            reasons = ["its audit report or settings could not be judged here (%s): the roles decide" % exc]
        if reasons:
            found[host] = reasons
    return found


class FilterModule(object):
    def filters(self):
        return {"remediation_pending": remediation_pending}
