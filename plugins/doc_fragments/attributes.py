# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # Descriptions only; each module states its own level of support.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
"""

    # Options shared by the modules that read a host's crun and container storage; their argument
    # specs are module_utils/_params.py HOST_ROOT_SPEC, DISCOVERY_SPEC and STORAGE_SPEC.
    HOST_ROOT = r"""
options:
  root:
    description:
      - An alternate filesystem root for every file, configuration and package-database look-up,
        for example a mounted image. Paths in the result are shown as seen from inside O(root).
    type: path
    default: /
"""

    DISCOVERY = r"""
options:
  paths:
    description:
      - Further crun binaries to inspect, besides those found on their own. Paths are inside O(root).
    type: list
    elements: path
    default: []
  timeout:
    description:
      - Seconds each external command (C(crun --version), a package-manager query) may take before it is killed.
    type: int
    default: 5
"""

    STORAGE = r"""
options:
  storage_roots:
    description:
      - Further container storage graphroots to scan, besides those detected under O(root).
    type: list
    elements: path
    default: []
"""
