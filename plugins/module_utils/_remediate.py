# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which remedies a host gets, from its audit report and the chosen strategy."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetfix.crun.plugins.module_utils import _advisories as advisories

STRATEGIES = ("auto", "upgrade", "hook", "upgrade_and_hook")
# Runtime verdicts that a newer crun would change.
_VERSION_BOUND = (advisories.AFFECTED, advisories.MITIGATED)


def _crun_needs_upgrade(report):
    return any(v["status"] in _VERSION_BOUND and v["id"] in advisories.CRUN_ADVISORY_IDS
               for r in report.get("runtimes", []) for v in r["advisories"])


def _libkrun_upgrade(report):
    """The libkrun version the affected libkrun advisories ask for (the highest), or None."""
    wanted = [advisories.get_advisory(v["id"])["fixed_libkrun"] for v in report.get("advisories", [])
              if v.get("id") in advisories.LIBKRUN_ADVISORY_IDS and v.get("status") == advisories.AFFECTED]
    return max(wanted) if wanted else None


def plan(report, strategy="auto", upgrade_available=None):
    """Return {"upgrade": bool, "hook": bool, "reason": str} for one host.

    ``upgrade_available`` is unknown (None) before the upgrade role ran. ``auto`` upgrades an
    affected crun; it installs the hook when no fixed crun is offered, and keeps it while the
    host has held stale files (a fixed crun keeps an existing file's mode, and images committed
    from affected containers bring them back) or already has it.
    """
    if strategy not in STRATEGIES:
        raise ValueError("remediate_strategy must be one of %s, got %r" % (", ".join(STRATEGIES), strategy))
    if strategy != "auto":
        return {"upgrade": "upgrade" in strategy, "hook": "hook" in strategy,
                "reason": "remediate_strategy is %s" % strategy}
    needs_upgrade = _crun_needs_upgrade(report)
    reasons, hook = [], False
    if needs_upgrade:
        reasons.append("an affected crun should be upgraded")
        if upgrade_available is False:
            hook = True
            reasons.append("no fixed crun is offered, so the hook mitigates it")
    if report.get("counts", {}).get("unreadable_by_user"):
        hook = True
        reasons.append("stale owner-only files were found, so the hook stays as a safety net")
    if report.get("hooks"):
        hook = True
        reasons.append("the hook is already installed and is kept")
    return {"upgrade": needs_upgrade, "hook": hook, "reason": "; ".join(reasons) or "nothing to remedy"}


# The fleet-level next steps, in the order a person takes them: (key, what to do, how).
NEXT_STEPS = (
    ("crun", "upgrade crun to %s or newer (or install the OCI hook where none is offered)" % advisories.fixed_version(),
     "ansible-playbook fleetfix.crun.remediate --limit HOSTS"),
    ("files", "fix the owner-only .krun_config.json files in place (and restart the running containers that use "
              "them)", "ansible-playbook fleetfix.crun.remediate --limit HOSTS"),
    ("libkrun", "upgrade libkrun (neither a crun upgrade nor the hook helps)", "the hosts' package manager"),
    ("suspicious", "inspect the planted symlinks and special files by hand (never followed or changed)",
     "the files table below"),
)


def remedies(report):
    """Which of NEXT_STEPS apply to one host: {key: detail}, the detail being the number of files
    for "files" and "suspicious", the libkrun version wanted for "libkrun", True for "crun"."""
    counts = report.get("counts") if isinstance(report.get("counts"), dict) else {}
    found = {}
    if _crun_needs_upgrade(report):
        found["crun"] = True
    if counts.get("unreadable_by_user"):
        found["files"] = counts["unreadable_by_user"]
    libkrun = _libkrun_upgrade(report)
    if libkrun:
        found["libkrun"] = libkrun
    if counts.get("suspicious"):
        found["suspicious"] = counts["suspicious"]
    return found


def recommended_action(report):
    """What a person should do about one host, in one sentence, from its audit report."""
    status = report.get("status")
    found = remedies(report)
    steps = []
    if "crun" in found:
        fixed = advisories.fixed_version()
        if report.get("hooks"):
            steps.append("upgrade crun to %s or newer when offered (the installed hook mitigates it until then)" % fixed)
        else:
            steps.append("upgrade crun to %s or newer, or install the OCI hook where no fixed crun is offered" % fixed)
    if "files" in found:
        steps.append("fix %d owner-only .krun_config.json file(s) in place and restart the running containers "
                     "that use them" % found["files"])
    if steps:
        steps.append("fleetfix.crun.remediate does this")
    if "libkrun" in found:
        steps.append("upgrade libkrun to %s or newer with the package manager: with the libkrun here containers "
                     "lose their environment, command or working directory whatever crun does (neither a crun "
                     "upgrade nor the hook helps)" % advisories.format_version(found["libkrun"]))
    if "suspicious" in found:
        steps.append("inspect %d planted symlink(s) or special file(s) by hand; they are never followed or changed"
                     % found["suspicious"])
    if status == advisories.UNKNOWN:
        steps.append("find out which crun runs here: a version could not be read (see the summary)")
    return "; ".join(steps) or "nothing to do"
