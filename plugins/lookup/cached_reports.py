# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: cached_reports
version_added: 0.2.0
short_description: Each host's fleetfix.crun verdict from a jsonfile fact cache directory, in either layout
description:
  - Reads a directory that the C(ansible.builtin.jsonfile) fact cache plugin (or AWX, for a job with
    C(use_fact_cache)) wrote, and returns one mapping - host name to its C(fleetfix_crun) fact, as
    P(fleetfix.crun.fleet_rows#filter) cuts it down.
  - Understands both layouts, whatever ansible-core runs the lookup - C(<prefix><host>), plain JSON (ansible-core 2.18
    and older, and what AWX writes before a job from its database); and C(<prefix>s1_<host>), the JSON text of the
    facts under C(__payload__) with Ansible's type tags (ansible-core 2.19 and newer). When a host has both, the file
    written last wins. ansible-core 2.19+ reading the cache itself sees only the second layout, so the facts AWX puts
    there are invisible to it; this lookup sees both.
  - A host whose file cannot be read or parsed is returned as C(malformed), so the report shows it as unknown; a host
    without the fact is left out (the report counts it as C(no_data) if it is one of its hosts). Files that are not
    regular files, or larger than 64 MiB, are not read.
author: Fleetfix crun maintainers (@fleetfix)
options:
  _terms:
    description: Fact cache directories (C(fact_caching_connection)); later ones win for a host in several.
    type: list
    elements: path
    required: true
  prefix:
    description: The cache's key prefix (C(fact_caching_prefix)).
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Report from the fact cache AWX wrote for this job, whatever ansible-core the execution environment has
  ansible.builtin.set_fact:
    cached: "{{ lookup('fleetfix.crun.cached_reports', lookup('ansible.builtin.env', 'ANSIBLE_CACHE_PLUGIN_CONNECTION')) }}"
  run_once: true
"""

RETURN = r"""
_raw:
  description: One mapping, host name to its cut-down C(fleetfix_crun) fact (or C(malformed)).
  type: list
  elements: dict
"""

import json
import os
import stat

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.fleetfix.crun.plugins.plugin_utils import _fleet_report as report

FACT = "fleetfix_crun"
MAX_FILE_BYTES = 64 * 1024 * 1024
# ansible-core 2.19+ keys (lib/ansible/_internal/_plugins/_cache.py PluginInterposer): "s<schema id>_",
# the facts' JSON under "__payload__", every tagged value as {"__ansible_type": ..., "value": ...}.
SCHEMA_PREFIX = "s1_"
PAYLOAD = "__payload__"


def untag(value):
    """A value of the 2.19+ cache profile without Ansible's type tags."""
    if isinstance(value, dict):
        if "__ansible_type" in value and "value" in value:
            return untag(value["value"])
        return dict((key, untag(item)) for key, item in value.items())
    if isinstance(value, list):
        return [untag(item) for item in value]
    return value


def _read(path):
    """(facts or None, mtime) of one cache file; None for what cannot be read as facts."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
            return None, st.st_mtime
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = json.loads(handle.read(MAX_FILE_BYTES + 1).decode("utf-8"))
    finally:
        os.close(fd)
    if isinstance(data, dict) and set(data) == {PAYLOAD} and isinstance(data[PAYLOAD], str):
        data = untag(json.loads(data[PAYLOAD]))
    return (data if isinstance(data, dict) else None), st.st_mtime


def read_directory(directory, prefix=""):
    """{host: compact fleetfix_crun fact or "malformed"} of one jsonfile cache directory."""
    found = {}
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        raise AnsibleLookupError("cannot list the fact cache directory %s: %s" % (directory, exc))
    for name in names:
        if name.startswith(".") or not name.startswith(prefix):
            continue
        key = name[len(prefix):]
        host = key[len(SCHEMA_PREFIX):] if key.startswith(SCHEMA_PREFIX) else key
        try:
            facts, mtime = _read(os.path.join(directory, name))
        except (OSError, ValueError, UnicodeDecodeError):
            facts, mtime = "malformed", 0
        if host in found and found[host][1] > mtime:
            continue
        if facts == "malformed" or facts is None:
            found[host] = ("malformed", mtime)
        elif FACT in facts:
            found[host] = (report.compact(facts[FACT]), mtime)
    return dict((host, value) for host, (value, _mtime) in found.items())


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        merged = {}
        for directory in terms:
            merged.update(read_directory(directory, self.get_option("prefix")))
        return [merged]
