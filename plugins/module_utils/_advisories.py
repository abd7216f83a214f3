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
# The file the handler writes at the root of the container's rootfs, and the mode crun 1.21 and
# later create it with (b09aa67d), which the sweep and the hook give an owner-only one. The hook
# program (roles/hook/files) stands alone and repeats both; a unit test holds it to these.
CONFIG_NAME = ".krun_config.json"
FIXED_MODE = 0o444

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
        # A container that never started wrote nothing: in a user namespace crun creates without
        # mapping the state directory's owner (podman#27822), crun 1.7.1 to 1.26 fail reading the
        # state's config.json before they write the file (krun.c; f311dc07, crun 1.27, moved both
        # before the namespace), so the storage verdict, which needs the file, counts nothing.
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

# libkrun's own version decides more outcomes, whatever the file's mode: each pairs the cruns that
# rely on a libkrun behaviour with the first libkrun that has it ("component": "libkrun"). Checked
# against libkrun's git history through its newest release, 1.19.0 (NEWEST_KNOWN_LIBKRUN).
ADVISORIES += (
    {
        "id": "libkrun-config-keys",
        "component": "libkrun",
        "title": "libkrun before 1.4.10 loses the environment it reads from /.krun_config.json: before 1.4.9 "
                 "it matches the keys case-sensitively (every container), and 1.4.9 takes a value \"env\" "
                 "(podman run IMAGE env) for the environment's key",
        "crun_from": KRUN_CONFIG_INTRODUCED,
        "fixed_libkrun": (1, 4, 10),
        "loses": "the environment (every container's before 1.4.9; in 1.4.9 every container whose config holds "
                 "the value \"env\", such as podman run IMAGE env)",
        # libkrun 5973a3e1 (1.4.9, case-insensitive keys); 061bb0e4 (1.4.10 and 1.5.0, the next token
        # must be the array: libkrun issue 104, PR 106)
        "url": "libkrun commits 5973a3e1 (1.4.9) and 061bb0e4 (1.4.10, issue 104)",
    },
    {
        "id": "libkrun-env-escapes",
        "component": "libkrun",
        "title": "libkrun before 1.18.1 changes environment and argument values that hold escaped characters, "
                 "for every user, root included",
        "crun_from": KRUN_CONFIG_INTRODUCED,
        "fixed_libkrun": (1, 18, 1),
        "loses": "environment and argument values with escaped characters (they arrive changed: before 1.11.0 "
                 "every escape stays literal; before 1.15.0 &, < and >, which Go's JSON encoder writes as "
                 "\\u0026, \\u003c and \\u003e; from 1.11.0 through 1.18.0 \", \\ and newlines)",
        # libkrun issue 276 (escapes kept literal); bfa78ac9 "init: escape json strings" (1.11.0);
        # 63efbe4f "translate unicode strings into ascii" (1.15.0, issue 358); d19fbe1d
        # "fix unescape_string() not advancing past escape characters" (1.18.1, issue 678)
        "url": "libkrun issues 276, 358, 678; commits bfa78ac9 (1.11.0), 63efbe4f (1.15.0), d19fbe1d (1.18.1)",
    },
    {
        "id": "libkrun-command",
        "component": "libkrun",
        "title": "crun 1.21 and newer pass the container's command only in /.krun_config.json, which "
                 "libkrun reads from 1.8.0 on",
        "crun_from": (1, 21, 0),
        "fixed_libkrun": (1, 8, 0),
        "loses": "every container's command (the guest runs its default instead)",
        "url": "libkrun 1.8.0",
    },
    {
        "id": "libkrun-workdir",
        "component": "libkrun",
        "title": "crun 1.22 and newer pass the working directory only in /.krun_config.json, which "
                 "libkrun reads from 1.11.1 on",
        "crun_from": (1, 22, 0),
        "fixed_libkrun": (1, 11, 1),
        "loses": "every container's working directory",
        "url": "libkrun 1.11.1",
    },
    {
        "id": "libkrun-virtiofs2",
        "component": "libkrun",
        "title": "crun 1.28 and newer need krun_add_virtiofs2, which libkrun has from 1.9.5: with an older "
                 "libkrun no krun container starts",
        "crun_from": (1, 28, 0),
        "fixed_libkrun": (1, 9, 5),
        "loses": "every krun container, which fails to start (\"could not find symbol krun_add_virtiofs2\") "
                 "instead of losing its command or working directory",
        # crun ac46d9a0 "krun: allow configuring the virtiofs device" (1.28: dlsym, error on a missing
        # symbol, for every guest but SEV); libkrun include/libkrun.h has krun_add_virtiofs2 from v1.9.5
        "url": "crun commit ac46d9a0 (1.28); libkrun 1.9.5",
    },
)
# The newest libkrun release this table was checked against. A newer libkrun (libkrun's main has
# replaced the C init that reads /.krun_config.json, libkrun 6ed74fac) is judged unknown, never
# silently fixed or affected.
NEWEST_KNOWN_LIBKRUN = (1, 19, 0)
ADVISORY_IDS = tuple(advisory["id"] for advisory in ADVISORIES)
# What a crun upgrade can change, and what only a libkrun upgrade can.
CRUN_ADVISORY_IDS = tuple(a["id"] for a in ADVISORIES if a.get("component", "crun") == "crun")
LIBKRUN_ADVISORY_IDS = tuple(a["id"] for a in ADVISORIES if a.get("component") == "libkrun")
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


def _verdict(advisory, status, *clauses):
    """A verdict: its ``clauses`` (the evidence, each a whole sentence part) stay apart for the
    reports; ``reason`` is the same clauses as one line."""
    return {"id": advisory["id"], "status": status, "reason": "; ".join(clauses), "clauses": list(clauses)}


def verdict(advisory_id, status, *clauses):
    return _verdict(get_advisory(advisory_id), status, *clauses)


def add_clause(found, clause):
    """Add a clause to a verdict's evidence."""
    found["clauses"] = found.get("clauses") or [found["reason"]]
    found["clauses"].append(clause)
    found["reason"] = "; ".join(found["clauses"])
    return found


LIBKRUN_PLAIN = "libkrun.so.1"
LIBKRUN_SEV = "libkrun-sev.so.1"


def evaluate_libkrun(advisory, version, features, flavours, libkrun_version):
    """An advisory about the libkrun this crun loads (``component: libkrun``)."""
    shown = format_version(version)
    if version < advisory["crun_from"]:
        return _verdict(advisory, NOT_APPLICABLE, "crun %s does not rely on it (crun %s and newer do)"
                        % (shown, format_version(advisory["crun_from"])))
    if LIBKRUN_PLAIN not in flavours or (features is not None and LIBKRUN_FEATURE not in features):
        return _verdict(advisory, NOT_APPLICABLE, "crun %s loads no %s here" % (shown, LIBKRUN_PLAIN))
    if features is None:
        return _verdict(advisory, UNKNOWN, "crun %s's build features are unknown, so libkrun support cannot be "
                        "ruled out" % shown)
    where, fixed = flavours[LIBKRUN_PLAIN], format_version(advisory["fixed_libkrun"])
    if libkrun_version is None:
        return _verdict(advisory, UNKNOWN, "the version of libkrun at %s could not be determined (no versioned "
                        "file name, no package owns it); libkrun before %s loses %s"
                        % (where, fixed, advisory["loses"]))
    if libkrun_version > NEWEST_KNOWN_LIBKRUN:
        shown_libkrun, newest = format_version(libkrun_version), format_version(NEWEST_KNOWN_LIBKRUN)
        return _verdict(advisory, UNKNOWN, "libkrun %s at %s is newer than any release this check knows (%s); "
                        "libkrun's development line replaced the init that reads /.krun_config.json, so what "
                        "it loses is not known here" % (shown_libkrun, where, newest))
    if libkrun_version < advisory["fixed_libkrun"]:
        return _verdict(advisory, AFFECTED, "libkrun %s at %s with crun %s loses %s"
                        % (format_version(libkrun_version), where, shown, advisory["loses"]),
                        "upgrade libkrun to %s or newer (neither a crun upgrade nor the hook helps)" % fixed)
    return _verdict(advisory, FIXED, "libkrun %s at %s is at or above %s"
                    % (format_version(libkrun_version), where, fixed))


def evaluate_runtime(advisory, version, features, libkrun, krun_entrypoints, libkrun_version=None):
    """Evaluate one advisory for one crun binary.

    ``version`` is a 3-tuple or None; ``features`` a list of ``+TAG`` strings, or None when the
    binary did not report them; ``libkrun`` the libkrun flavours this crun would load, as
    {soname: path} (None or {} when none is found); ``krun_entrypoints`` a list of paths through
    which crun runs as its krun handler; ``libkrun_version`` the version of its libkrun.so.1.
    """
    flavours = libkrun or {}
    if advisory.get("component") == "libkrun":
        if version is None:
            return _verdict(advisory, UNKNOWN, "crun version could not be determined")
        return evaluate_libkrun(advisory, version, features, flavours, libkrun_version)
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
    return _verdict(advisory, AFFECTED, "crun %s with %s (%s)" % (shown, LIBKRUN_FEATURE, "; ".join(evidence)),
                    "fixed in %s" % format_version(advisory["fixed"]))


def evaluate_runtimes(version, features, libkrun, krun_entrypoints, libkrun_version=None):
    return [evaluate_runtime(advisory, version, features, libkrun, krun_entrypoints, libkrun_version)
            for advisory in ADVISORIES]


# How many unexamined places a reason names before it says "and N more" (the report lists them all).
NAMED_IN_REASON = 3


def coverage_verdicts(not_examined, errors):
    """A verdict claims everything that could change it was examined: every crun advisory that
    would otherwise read fixed or not applicable is unknown while a store, a driver's layers, a
    record file, a runtime or a configuration file was not examined (or could not be read),
    naming it. ``not_examined``: dicts with path and why; ``errors``: dicts with path and error."""
    unseen = [item.get("path") or item.get("why") for item in not_examined] + [
        error.get("path") or error.get("error") for error in errors]
    if not unseen:
        return []
    named = ", ".join(str(item) for item in unseen[:NAMED_IN_REASON])
    if len(unseen) > NAMED_IN_REASON:
        named += " and %d more" % (len(unseen) - NAMED_IN_REASON)
    reason = "not everything that decides it was examined (%d not examined or unreadable: %s; see the report's " \
             "coverage and errors)" % (len(unseen), named)
    return [_verdict(get_advisory(advisory_id), UNKNOWN, reason) for advisory_id in CRUN_ADVISORY_IDS]


def mitigate(verdicts, advisory_id, by):
    """Mark the affected verdicts of one advisory as mitigated, naming what mitigates them."""
    for found in verdicts:
        if found["id"] == advisory_id and found["status"] == AFFECTED:
            found["status"] = MITIGATED
            add_clause(found, "mitigated at every container start by the OCI hook %s" % ", ".join(by))
    return verdicts


def merge(verdict_lists):
    """Merge per-runtime (or per-source) verdicts into one verdict per advisory id.

    The worst status wins; the clauses of every source with it are kept (each once), so the
    evidence stays visible. With no verdicts at all every advisory is not applicable: there is no
    crun to be affected.
    """
    merged = []
    for advisory in ADVISORIES:
        verdicts = [v for verdicts in verdict_lists for v in verdicts if v["id"] == advisory["id"]]
        if not verdicts:
            merged.append(_verdict(advisory, NOT_APPLICABLE, "no crun found"))
            continue
        worst = min(verdicts, key=lambda v: STATUS_SEVERITY.index(v["status"]))["status"]
        clauses = [c for v in verdicts if v["status"] == worst for c in v.get("clauses") or [v["reason"]]]
        merged.append(_verdict(advisory, worst, *dict.fromkeys(clauses)))
    return merged


def worst_status(verdicts):
    statuses = [v["status"] for v in verdicts] or [NOT_APPLICABLE]
    return min(statuses, key=STATUS_SEVERITY.index)
