# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.fleetfix.crun.plugins.module_utils._remediate import upgrade_known_none as known_none


def upgrade_known_none(report, update_cache=True, packages=(), version="", package_file=""):
    if not isinstance(report, dict):
        raise AnsibleFilterError("upgrade_known_none expects the fleetfix_crun host report, got %s"
                                 % type(report).__name__)
    return known_none(report, {"upgrade_update_cache": update_cache, "upgrade_packages": packages,
                               "upgrade_version": version, "upgrade_package_file": package_file})


class FilterModule(object):
    def filters(self):
        return {"upgrade_known_none": upgrade_known_none}
