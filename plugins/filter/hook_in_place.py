# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: hook_in_place
version_added: 0.1.0
short_description: Whether a host already has exactly this OCI hook
description:
  - From a fresh C(fleetfix_crun) report of M(fleetfix.crun.host_audit), says whether every hooks directory
    the host reads holds the hook JSON O(name) exactly as M(fleetfix.crun.oci_hook) would write it, running
    O(program) with O(python), and whether O(program) holds O(program_content) with mode C(0755).
  - True means installing the hook again would change nothing, so the hook role can skip its round trip.
    False when unsure (an empty report, a missing directory, any difference).
author: fleetfix.crun contributors
positional: program, program_content, python, name, hooks_dirs, add_hooks_dir
options:
  _input:
    description: The host report (the C(fleetfix_crun) fact), fresh from the same play.
    type: dict
    required: true
  program:
    description: The hook program's path on the host.
    type: str
    required: true
  program_content:
    description: The hook program's content.
    type: str
    required: true
  python:
    description: The Python that runs the program.
    type: str
    required: true
  name:
    description: The hook JSON's file name.
    type: str
    required: true
  hooks_dirs:
    description: Hooks directories given explicitly to the installer; when any is given the answer is false.
    type: list
    elements: str
    default: []
  add_hooks_dir:
    description: A hooks directory the installer adds to containers.conf; when given the answer is false.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Install the hook unless the audit shows it in place
  fleetfix.crun.oci_hook:
    program_content: "{{ lookup('ansible.builtin.file', 'fleetfix-krun-hook', rstrip=false) }}"
  when: >-
    not (ansible_facts.fleetfix_crun | fleetfix.crun.hook_in_place('/usr/local/libexec/fleetfix-krun-hook',
    lookup('ansible.builtin.file', 'fleetfix-krun-hook', rstrip=false), '/usr/bin/python3', '50-fleetfix-krun.json'))
"""

RETURN = r"""
_value:
  description: Whether the hook is in place exactly.
  type: bool
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.fleetfix.crun.plugins.module_utils._hooks import in_place


def hook_in_place(report, program, program_content, python, name, hooks_dirs=(), add_hooks_dir=""):
    if not isinstance(report, dict):
        raise AnsibleFilterError("hook_in_place expects the fleetfix_crun host report, got %s" % type(report).__name__)
    return in_place(report, program, program_content, python, name, hooks_dirs, add_hooks_dir)


class FilterModule(object):
    def filters(self):
        return {"hook_in_place": hook_in_place}
