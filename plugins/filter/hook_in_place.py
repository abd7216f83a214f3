# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.fleetfix.crun.plugins.module_utils._hooks import in_place


def hook_in_place(report, program, program_content, python, name, hooks_dirs=(), add_hooks_dir=""):
    if not isinstance(report, dict):
        raise AnsibleFilterError("hook_in_place expects the fleetfix_crun host report, got %s" % type(report).__name__)
    return in_place(report, program, program_content, python, name, hooks_dirs, add_hooks_dir)


class FilterModule(object):
    def filters(self):
        return {"hook_in_place": hook_in_place}
