# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which remedies a host gets, from its audit report and the chosen strategy."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.fleetfix.crun.plugins.module_utils import _advisories as advisories
from ansible_collections.fleetfix.crun.plugins.module_utils import _hooks as hooks

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
    libkrun = _libkrun_upgrade(report)
    if libkrun:
        reasons.append("an affected libkrun should be upgraded to %s or newer (no hook helps)"
                       % advisories.format_version(libkrun))
    if report.get("counts", {}).get("unreadable_by_user"):
        hook = True
        reasons.append("stale owner-only files were found, so the hook stays as a safety net")
    if report.get("hooks"):
        hook = True
        reasons.append("the hook is already installed and is kept")
    return {"upgrade": needs_upgrade or bool(libkrun), "hook": hook, "reason": "; ".join(reasons) or "nothing to remedy"}


def upgrade_known_none(report, upgrade_settings):
    """True when the audit (run with check_upgrade) shows that the package cache offers no fixed
    crun and no fixed libkrun that is needed, and the upgrade role, with these settings, would
    neither refresh the cache nor install a chosen version, package or file: the role then need not
    ask the host again."""
    offered = report.get("upgrade") or {}
    libkrun_offered = boolean(upgrade_settings.get("upgrade_libkrun", True)) and any(
        row.get("fixed_offered") for row in offered.get("libkrun") or [])
    # settings may be strings: "-e upgrade_update_cache=false" gives one
    return bool(offered.get("checked") and offered.get("fixed_offered") is None and not libkrun_offered
                and not boolean(upgrade_settings["upgrade_update_cache"]) and not upgrade_settings["upgrade_packages"]
                and not upgrade_settings["upgrade_version"] and not upgrade_settings["upgrade_package_file"])


def pending(report, settings, program_content):
    """What the remediate role would do on a host, decided from its audit alone: a list of reasons,
    empty when the host has nothing to do. ``settings`` holds the remediate, upgrade and hook roles'
    variables as they apply to the host; ``program_content`` is the hook program the hook role ships.

    It errs towards work: a host it cannot judge (no audit, an audit without check_upgrade) has
    something to do, and the roles themselves then decide exactly.
    """
    if not isinstance(report, dict) or "counts" not in report:
        return ["no audit report"]
    # A host affected by what remediation fixes always goes on: what cannot be remedied there must
    # fail it, not pass unseen. What needs a person (a libkrun, a file left alone) is in its report.
    reasons = ["it is affected"] if report.get("affected") and report.get("fixable", True) else []
    stale = report["counts"].get("unreadable_by_user", 0)
    if stale:
        reasons.append("%d owner-only %s to fix" % (stale, "file" if stale == 1 else "files"))
    known_none = upgrade_known_none(report, settings)
    remedy = plan(report, settings["remediate_strategy"], False if known_none else None)
    if remedy["upgrade"] and not known_none:
        what = " or ".join(name for name, needed in (("crun", _crun_needs_upgrade(report)),
                                                     ("libkrun", _libkrun_upgrade(report))) if needed)
        reasons.append("a fixed %s may be offered: the upgrade role asks the package manager" % what)
    if remedy["hook"] and not hooks.in_place(report, settings["hook_program_path"], program_content,
                                             settings["hook_python"], settings["hook_json_name"],
                                             settings["hook_dirs"], settings["hook_add_hooks_dir"]):
        reasons.append("the hook is to be installed or brought up to date")
    if boolean(settings["remediate_canary"]):
        reasons.append("the canary runs (remediate_canary)")
    return reasons


# The fleet-level next steps, in the order a person takes them: (key, what to do, how).
NEXT_STEPS = (
    ("crun", "upgrade crun to %s or newer (or install the OCI hook where none is offered)" % advisories.fixed_version(),
     "ansible-playbook fleetfix.crun.remediate --limit HOSTS"),
    ("files", "fix the owner-only .krun_config.json files in place (and restart the running containers that use "
              "them)", "ansible-playbook fleetfix.crun.remediate --limit HOSTS"),
    ("libkrun", "upgrade libkrun (neither a crun upgrade nor the hook helps); where no fixed libkrun is offered, a "
                "person must find one", "ansible-playbook fleetfix.crun.remediate --limit HOSTS"),
    ("suspicious", "inspect the planted symlinks and special files by hand (never followed or changed)",
     "the files table below"),
    ("coverage", "look at what the audit could not examine (a store, a storage driver, a runtime, an unreadable "
                 "file): until it is examined the verdict stays unknown", "each host's coverage and errors in fleet.json"),
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
    coverage = report.get("coverage") if isinstance(report.get("coverage"), dict) else {}
    if coverage.get("complete") is False:
        found["coverage"] = True
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
        steps.append("upgrade libkrun to %s or newer: with the libkrun here containers lose their environment, "
                     "command or working directory whatever crun does (neither a crun upgrade nor the hook helps); "
                     "fleetfix.crun.remediate upgrades it where the package manager offers a fixed one"
                     % advisories.format_version(found["libkrun"]))
        upgrade = report.get("upgrade") if isinstance(report.get("upgrade"), dict) else {}
        if upgrade.get("checked"):
            stuck = [row["name"] for row in upgrade.get("libkrun") or [] if not row.get("fixed_offered")]
            stuck += ["%s (no package owns it)" % path for path in upgrade.get("libkrun_unowned") or []]
            if stuck:
                steps.append("no fixed libkrun is offered for %s: a person must find one" % ", ".join(stuck))
    if "suspicious" in found:
        steps.append("inspect %d planted symlink(s) or special file(s) by hand; they are never followed or changed"
                     % found["suspicious"])
    if "coverage" in found:
        steps.append("examine by hand what the audit could not (its coverage and errors name each place), or make "
                     "it readable and audit again")
    runtimes = report.get("runtimes") if isinstance(report.get("runtimes"), list) else []
    unread = any(isinstance(r, dict) and r.get("problem") for r in runtimes)
    if status == advisories.UNKNOWN and (unread or "coverage" not in found):
        steps.append("find out which crun runs here: a version could not be read (see the summary)")
    return "; ".join(steps) or "nothing to do"
