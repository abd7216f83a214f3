# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Advisory data and evaluation: the one place that knows which crun versions are affected.

Everything else (modules, roles, the hook, reports) asks this module; none of them copies a
version number.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

AFFECTED = "affected"
FIXED = "fixed"
NOT_APPLICABLE = "not_applicable"
UNKNOWN = "unknown"
# An affected crun whose effect an installed OCI hook undoes at every container start.
MITIGATED = "mitigated"

# Worst first: merging several verdicts for one advisory keeps the first that occurs.
STATUS_SEVERITY = (AFFECTED, UNKNOWN, MITIGATED, FIXED, NOT_APPLICABLE)

# crun writes .krun_config.json only when the krun handler runs, and that handler exists only in
# builds with this feature tag.
LIBKRUN_FEATURE = "+LIBKRUN"

# The krun handler (and so the file) first shipped in crun 1.7.1 (crun PR 1071).
KRUN_CONFIG_INTRODUCED = (1, 7, 1)

ADVISORIES = (
    {
        "id": "crun-1685",
        "title": "krun handler writes /.krun_config.json owner-only (0700), so a non-root "
                 "container loses its environment",
        "introduced": KRUN_CONFIG_INTRODUCED,
        "last_affected": (1, 20, 0),
        "fixed": (1, 21, 0),
        "url": "containers/crun issue 1685",
        # A SEV guest reads its configuration from the encrypted disk image (krun-sev.json and
        # krun_set_root_disk), never from /.krun_config.json: a crun that can load only
        # libkrun-sev.so.1 writes the file but nothing reads it.
        "sev_guests_read_the_file": False,
    },
    {
        "id": "CVE-2025-24965",
        "title": "krun handler writes /.krun_config.json through a symlink planted in the rootfs",
        "introduced": KRUN_CONFIG_INTRODUCED,
        "last_affected": (1, 19, 0),
        "fixed": (1, 20, 0),
        "url": "CVE-2025-24965",
        # crun writes the file on the host side for every krun container, SEV or not.
        "sev_guests_read_the_file": True,
    },
)

ADVISORY_IDS = tuple(advisory["id"] for advisory in ADVISORIES)
FILE_MODE_ADVISORY = "crun-1685"
SYMLINK_ADVISORY = "CVE-2025-24965"

_VERSION_RE = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
_EPOCH_RE = re.compile(r"^\d+:")


def parse_version(text):
    """Return the leading X.Y[.Z] of a version string as a 3-tuple, or None.

    Accepts crun's own output (``crun version 1.20``), git builds (``1.20.0.0.0.1-abcd``) and
    distribution package versions (``1.20-2.fc41``, ``2:1.8.1-1+deb12u1``).
    """
    if not text:
        return None
    text = text.strip()
    if text.startswith("crun version"):
        text = text[len("crun version"):].strip()
    text = _EPOCH_RE.sub("", text)
    match = _VERSION_RE.match(text)
    if not match:
        return None
    major, minor, patch = match.groups()
    return (int(major), int(minor), int(patch or 0))


def format_version(version):
    if version is None:
        return None
    major, minor, patch = version
    return "%d.%d.%d" % (major, minor, patch) if patch else "%d.%d" % (major, minor)


def get_advisory(advisory_id):
    for advisory in ADVISORIES:
        if advisory["id"] == advisory_id:
            return advisory
    raise KeyError("unknown advisory id: %s" % advisory_id)


def fixed_version(advisory_id=FILE_MODE_ADVISORY):
    """The first crun version that fixes the advisory, as a string (e.g. ``1.21``)."""
    return format_version(get_advisory(advisory_id)["fixed"])


def _verdict(advisory, status, reason):
    return {"id": advisory["id"], "status": status, "reason": reason}


LIBKRUN_PLAIN = "libkrun.so.1"
LIBKRUN_SEV = "libkrun-sev.so.1"


def evaluate_runtime(advisory, version, features, libkrun, krun_entrypoints):
    """Evaluate one advisory for one crun binary.

    ``version`` is a 3-tuple or None; ``features`` a list of ``+TAG`` strings, or None when the
    binary did not report them; ``libkrun`` the libkrun flavours this crun would load, as
    {soname: path} (None or {} when none is found); ``krun_entrypoints`` a list of paths through
    which crun runs as its krun handler.
    """
    flavours = libkrun or {}
    usable = [flavours[s] for s in (LIBKRUN_PLAIN, LIBKRUN_SEV) if s in flavours
              and (s == LIBKRUN_PLAIN or advisory.get("sev_guests_read_the_file"))]
    if version is None:
        return _verdict(advisory, UNKNOWN, "crun version could not be determined")
    shown = format_version(version)
    if version < advisory["introduced"]:
        return _verdict(advisory, NOT_APPLICABLE, "crun %s predates the krun handler (introduced in %s)"
                        % (shown, format_version(advisory["introduced"])))
    if version >= advisory["fixed"]:
        return _verdict(advisory, FIXED, "crun %s is at or above the fixed version %s"
                        % (shown, format_version(advisory["fixed"])))
    if features is None:
        return _verdict(advisory, UNKNOWN, "crun %s is in the affected range but its build features "
                        "are unknown, so libkrun support cannot be ruled out" % shown)
    if LIBKRUN_FEATURE not in features:
        return _verdict(advisory, NOT_APPLICABLE, "crun %s is built without %s: the krun handler "
                        "cannot run" % (shown, LIBKRUN_FEATURE))
    if not usable and LIBKRUN_SEV in flavours:
        return _verdict(advisory, NOT_APPLICABLE, "crun %s can load only %s (%s): its SEV guests read their "
                        "configuration from the encrypted disk image, not from /.krun_config.json, and "
                        "other krun containers cannot start" % (shown, LIBKRUN_SEV, flavours[LIBKRUN_SEV]))
    if not usable and not krun_entrypoints:
        return _verdict(advisory, NOT_APPLICABLE, "crun %s is built with %s, but neither libkrun nor a "
                        "krun entry point was found" % (shown, LIBKRUN_FEATURE))
    evidence = []
    if krun_entrypoints:
        evidence.append("krun entry point %s" % ", ".join(krun_entrypoints))
    if usable:
        evidence.append("libkrun at %s" % ", ".join(usable))
    return _verdict(advisory, AFFECTED, "crun %s with %s (%s); fixed in %s"
                    % (shown, LIBKRUN_FEATURE, "; ".join(evidence), format_version(advisory["fixed"])))


def evaluate_runtimes(version, features, libkrun, krun_entrypoints):
    return [evaluate_runtime(advisory, version, features, libkrun, krun_entrypoints)
            for advisory in ADVISORIES]


def mitigate(verdicts, advisory_id, by):
    """Mark the affected verdicts of one advisory as mitigated, naming what mitigates them."""
    for verdict in verdicts:
        if verdict["id"] == advisory_id and verdict["status"] == AFFECTED:
            verdict["status"] = MITIGATED
            verdict["reason"] = "%s; mitigated at every container start by the OCI hook %s" % (
                verdict["reason"], ", ".join(by))
    return verdicts


def merge(verdict_lists):
    """Merge per-runtime (or per-source) verdicts into one verdict per advisory id.

    The worst status wins; its reasons are kept, one per source, so the evidence stays visible.
    With no verdicts at all every advisory is not applicable: there is no crun to be affected.
    """
    merged = []
    for advisory in ADVISORIES:
        verdicts = [v for verdicts in verdict_lists for v in verdicts if v["id"] == advisory["id"]]
        if not verdicts:
            merged.append(_verdict(advisory, NOT_APPLICABLE, "no crun found"))
            continue
        worst = min(verdicts, key=lambda v: STATUS_SEVERITY.index(v["status"]))["status"]
        reasons = []
        for verdict in verdicts:
            if verdict["status"] == worst and verdict["reason"] not in reasons:
                reasons.append(verdict["reason"])
        merged.append(_verdict(advisory, worst, "; ".join(reasons)))
    return merged


def worst_status(verdicts):
    statuses = [v["status"] for v in verdicts] or [NOT_APPLICABLE]
    return min(statuses, key=STATUS_SEVERITY.index)
