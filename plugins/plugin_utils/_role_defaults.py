# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""This collection's role defaults, read from the roles' own defaults/main.yml.

The remediate playbook decides on the controller, in one task, which hosts need the roles at
all, before any of those roles is in scope. It reads their documented defaults from the one place
they are written, then lets each host's inventory and extra vars override them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import yaml

COLLECTION = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def role_defaults(role, names=None):
    """The literal defaults of ``role`` (all of them, or those in ``names``). A templated default
    cannot be evaluated outside its role, so asking for one is an error, never a guess."""
    with open(os.path.join(COLLECTION, "roles", role, "defaults", "main.yml")) as handle:
        defaults = yaml.safe_load(handle) or {}
    wanted = dict((k, v) for k, v in defaults.items() if names is None or k in names)
    templated = sorted(k for k, v in wanted.items() if "{{" in repr(v) or "{%" in repr(v))
    if templated:
        raise ValueError("role %s: default(s) %s are templates and cannot be read outside the role"
                         % (role, ", ".join(templated)))
    missing = sorted(set(names or ()) - set(wanted))
    if missing:
        raise ValueError("role %s has no default for %s" % (role, ", ".join(missing)))
    return wanted


def role_file(role, name):
    """The text of a file a role ships in its files/ directory."""
    with open(os.path.join(COLLECTION, "roles", role, "files", name), encoding="utf-8", newline="") as handle:
        return handle.read()
