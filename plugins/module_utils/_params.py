# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks on module options that an argument_spec cannot express; each message names the option."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import stat

# The argument specs of the options several modules share, documented once each in the doc
# fragment plugins/doc_fragments/attributes.py (HOST_ROOT, DISCOVERY, STORAGE).
HOST_ROOT_SPEC = dict(root=dict(type="path", default="/"))
DISCOVERY_SPEC = dict(paths=dict(type="list", elements="path", default=[]), timeout=dict(type="int", default=5))
STORAGE_SPEC = dict(storage_roots=dict(type="list", elements="path", default=[]))

STRATEGIES = ("auto", "upgrade", "hook", "upgrade_and_hook")
# host_audit's ``remediation`` option: the remediate, upgrade and hook roles' settings as they apply
# to the host (the remediate role passes them). The defaults are those roles' defaults, and a test
# holds them to it. Its planner, _remediate, is compiled only when the option is given.
REMEDIATION_SPEC = dict(
    strategy=dict(type="str", choices=list(STRATEGIES), default="auto"),
    canary=dict(type="bool", default=False),
    upgrade=dict(type="dict", default={}, options=dict(
        update_cache=dict(type="bool", default=True),
        packages=dict(type="list", elements="str", default=[]),
        version=dict(type="str", default=""),
        package_file=dict(type="str", default=""),
        libkrun=dict(type="bool", default=True),
    )),
    hook=dict(type="dict", default={}, options=dict(
        program_path=dict(type="str", default="/usr/local/libexec/fleetfix-krun-hook"),
        program_sha256=dict(type="str"),
        python=dict(type="str", default="/usr/bin/python3"),
        json_name=dict(type="str", default="50-fleetfix-krun.json"),
        dirs=dict(type="list", elements="str", default=[]),
        add_hooks_dir=dict(type="str", default=""),
    )),
)


def argument_spec(*shared, **own):
    """One module's argument spec: the shared specs it documents through the fragment, then its own."""
    spec = {}
    for part in shared:
        spec.update(part)
    spec.update(own)
    return spec


def problem(params):
    """Return a message for the first invalid option among those present, or None."""
    root = params.get("root")
    if root is not None and not root.startswith("/"):
        return "root must be an absolute path, got %r" % root
    timeout = params.get("timeout")
    if timeout is not None and timeout < 1:
        return "timeout must be at least 1 second, got %d" % timeout
    for path in params.get("storage_roots") or []:
        if not path.startswith("/"):
            return "storage_roots must hold absolute paths, got %r" % path
    facts_file = params.get("facts_file")
    if facts_file and not facts_file.startswith("/"):
        return "facts_file must be an absolute path or empty, got %r" % facts_file
    mode = params.get("mode")
    if mode is not None:
        return mode_problem(mode)
    return None


def parse_mode(mode):
    """Octal mode string ('0444', '444') to int; ValueError on anything else."""
    text = str(mode).strip()
    if not text or any(c not in "01234567" for c in text) or len(text) > 4:
        raise ValueError(text)
    return int(text, 8)


def mode_problem(mode):
    try:
        value = parse_mode(mode)
    except ValueError:
        return "mode must be an octal string such as '0444', got %r" % mode
    if value & ~0o777:
        return "mode must not set setuid, setgid or sticky bits, got %r" % mode
    if not value & stat.S_IROTH:
        return "mode must let other users read the file (for example '0444'), got %r" % mode
    if value & (stat.S_IWGRP | stat.S_IWOTH):
        return "mode must not let group or others write the file, got %r" % mode
    return None
