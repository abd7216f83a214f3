#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: report_files
short_description: Write the fleet report's files on the controller in one step
version_added: 0.2.0
description:
  - Writes each of O(files) into O(dest) on the controller, atomically and with mode C(0644), creating O(dest)
    (C(0755)) when missing. A file whose content and mode are already right is left alone, so an unchanged
    fleet changes nothing.
  - An action plugin - it runs on the controller whatever the host, and costs no module run per file (the report
    role used to run M(ansible.builtin.copy) five times).
author: Fleetfix crun maintainers (@fleetfix)
extends_documentation_fragment:
  - fleetfix.crun.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
options:
  dest:
    description: The directory on the controller. Must be absolute.
    type: path
    required: true
  files:
    description: File name (a plain name, no directory) to the text to write.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Write the fleet report
  fleetfix.crun.report_files:
    dest: /srv/reports/crun
    files:
      fleet.json: "{{ report_fleet | to_nice_json }}"
      hosts.csv: "{{ report_fleet | fleetfix.crun.fleet_csv('hosts') }}"
  run_once: true
"""

RETURN = r"""
dest:
  description: The directory.
  returned: always
  type: str
files:
  description: Every file of the report, as paths.
  returned: always
  type: list
  elements: str
written:
  description: The paths created or replaced (would be, in check mode), the directory first when it was missing.
  returned: always
  type: list
  elements: str
"""
