# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which remedies a host gets, from its audit report and the chosen strategy."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetfix.crun.plugins.module_utils import _advisories as advisories
from ansible_collections.fleetfix.crun.plugins.module_utils import _hooks as hooks
from ansible_collections.fleetfix.crun.plugins.module_utils import _params as params

STRATEGIES = params.STRATEGIES
# Runtime verdicts that a newer crun would change.
_VERSION_BOUND = (advisories.AFFECTED, advisories.MITIGATED)


def _binds_crun(verdict):
    """A crun verdict that a newer crun would change."""
    return verdict.get("id") in advisories.CRUN_ADVISORY_IDS and verdict.get("status") in _VERSION_BOUND


def _affects_libkrun(verdict):
    return verdict.get("id") in advisories.LIBKRUN_ADVISORY_IDS and verdict.get("status") == advisories.AFFECTED


def _affected_cruns(report):
    """The runtimes a newer crun would change."""
    return [r for r in report.get("runtimes", []) if any(_binds_crun(v) for v in r["advisories"])]


def upgrade_candidates(runtimes, strategy):
    """The runtimes whose packages a plan with this strategy could upgrade: every one when the
    strategy upgrades whatever the verdicts; else those a crun advisory binds to a newer crun or a
    libkrun advisory affects. A remediation's audit asks the package manager about these alone:
    an answer about any other changes no plan (Debian's crun 1.8.1 without the krun handler is
    below the fixed version; asking apt about it cost such a host 25 ms of CPU per audit with apt's
    binary cache, 0.6 s without one)."""
    if "upgrade" in strategy:
        return list(runtimes)
    return [r for r in runtimes if any(_binds_crun(v) or _affects_libkrun(v) for v in r["advisories"])]


def _affected_libkrun_ids(report):
    return [v["id"] for v in report.get("advisories", []) if _affects_libkrun(v)]


def _libkrun_upgrade(report):
    """The libkrun version the affected libkrun advisories ask for (the highest), or None."""
    wanted = [advisories.get_advisory(advisory_id)["fixed_libkrun"] for advisory_id in _affected_libkrun_ids(report)]
    return max(wanted) if wanted else None


def clause(text, advisories_=(), evidence=()):
    """One reason of the plan: a sentence part, the advisories it answers and what on the host shows it."""
    return {"text": text, "advisories": list(advisories_), "evidence": list(evidence)}


def _crun_ids(runtimes):
    return sorted(set(v["id"] for r in runtimes for v in r["advisories"] if _binds_crun(v)))


def _known_none(report, upgrade_settings):
    """Whether the audit's package check shows that the cache offers no fixed crun and no needed
    fixed libkrun, and the upgrade role, with these settings, would neither refresh the cache nor
    install a chosen version, package or file: asking the host again would change nothing."""
    offered = report.get("upgrade") or {}
    libkrun_offered = upgrade_settings["libkrun"] and any(row.get("fixed_offered") for row in offered.get("libkrun") or [])
    return bool(offered.get("checked") and offered.get("fixed_offered") is None and not libkrun_offered
                and not upgrade_settings["update_cache"] and not upgrade_settings["packages"]
                and not upgrade_settings["version"] and not upgrade_settings["package_file"])


def _upgrade(report, strategy, known_none):
    cruns, libkrun = _affected_cruns(report), _libkrun_upgrade(report)
    if strategy != "auto":
        return {"wanted": "upgrade" in strategy, "known_none": known_none,
                "clauses": [clause("remediate_strategy is %s" % strategy)] if "upgrade" in strategy else []}
    clauses = []
    if cruns:
        clauses.append(clause("an affected crun should be upgraded", _crun_ids(cruns),
                              ["%s %s" % (r.get("path"), r.get("version")) for r in cruns]))
    if libkrun:
        clauses.append(clause("an affected libkrun should be upgraded to %s or newer (no hook helps)"
                              % advisories.format_version(libkrun), _affected_libkrun_ids(report),
                              [lib.get("path") for lib in report.get("libkrun") or [] if isinstance(lib, dict)]))
    if clauses and known_none:
        upgrade = report.get("upgrade") or {}
        clauses.append(clause("the package cache offers no fixed version (%s), so the upgrade role is not asked"
                              % (", ".join(upgrade.get("offered") or []) or "nothing"), (), ["%s cache" % upgrade.get(
                                  "manager")]))
    return {"wanted": bool(clauses), "known_none": known_none, "clauses": clauses}


def _hook(report, strategy, upgrade, hook_settings):
    in_place = hooks.in_place(report, hook_settings["program_path"], hook_settings["program_sha256"],
                              hook_settings["python"], hook_settings["json_name"], hook_settings["dirs"],
                              hook_settings["add_hooks_dir"])
    if strategy != "auto":
        wanted = "hook" in strategy
        return {"wanted": wanted, "if_no_fixed_crun": False, "in_place": in_place,
                "clauses": [clause("remediate_strategy is %s" % strategy)] if wanted else []}
    clauses = []
    cruns = _affected_cruns(report)
    if cruns and upgrade["known_none"]:
        clauses.append(clause("no fixed crun is offered, so the hook mitigates it", [advisories.FILE_MODE_ADVISORY]))
    stale = report.get("counts", {}).get("unreadable_by_user")
    if stale:
        clauses.append(clause("stale owner-only files were found, so the hook stays as a safety net",
                              [advisories.FILE_MODE_ADVISORY], ["%d file(s)" % stale]))
    if report.get("hooks"):
        clauses.append(clause("the hook is already installed and is kept", [advisories.FILE_MODE_ADVISORY],
                              report["hooks"]))
    # wanted for another reason already, or only once the upgrade role has asked the package manager
    unless_upgraded = bool(cruns) and not clauses
    if unless_upgraded:
        clauses.append(clause("the hook is installed if the upgrade finds no fixed crun",
                              [advisories.FILE_MODE_ADVISORY]))
    return {"wanted": bool(clauses) and not unless_upgraded, "if_no_fixed_crun": unless_upgraded,
            "in_place": in_place, "clauses": clauses}


def plan(report, settings):
    """What the remediate role does on one host and why, from the host's audit ``report`` and the
    ``settings`` the play passed (host_audit's ``remediation`` option, normalised): the upgrade,
    the hook, the sweep and the canary, each with its clauses, and ``pending``, what is left to do
    (empty: the host is done after its audit).

    ``auto`` upgrades an affected crun or libkrun; it installs the hook when no fixed crun is
    offered (known now from the audit's package check, or only after the upgrade role asked:
    ``if_no_fixed_crun``), and keeps it while the host has held stale files (a fixed crun keeps an
    existing file's mode, and images committed from affected containers bring them back) or
    already has it. It errs towards work: what it cannot judge is pending, and the roles decide.
    """
    strategy = settings["strategy"]
    if strategy not in STRATEGIES:
        raise ValueError("remediate_strategy must be one of %s, got %r" % (", ".join(STRATEGIES), strategy))
    upgrade = _upgrade(report, strategy, _known_none(report, settings["upgrade"]))
    hook = _hook(report, strategy, upgrade, settings["hook"])
    stale = report.get("counts", {}).get("unreadable_by_user", 0)
    sweep = {"wanted": bool(stale), "clauses": [clause("%d owner-only %s to fix" % (
        stale, "file" if stale == 1 else "files"), [advisories.FILE_MODE_ADVISORY])] if stale else []}
    canary = {"wanted": bool(settings["canary"]),
              "clauses": [clause("the canary runs (remediate_canary)")] if settings["canary"] else []}
    pending = []
    if report.get("affected") and report.get("fixable", True):
        # what cannot be remedied must fail the host in the remediation, not pass unseen
        pending.append(clause("it is affected", [v["id"] for v in report.get("advisories", [])
                                                 if v.get("status") == advisories.AFFECTED]))
    pending += sweep["clauses"]
    if upgrade["wanted"] and not upgrade["known_none"]:
        what = " or ".join(name for name, needed in (("crun", _affected_cruns(report)),
                                                     ("libkrun", _libkrun_upgrade(report))) if needed) or "crun"
        pending.append(clause("a fixed %s may be offered: the upgrade role asks the package manager" % what))
    if hook["wanted"] and not hook["in_place"]:
        pending.append(clause("the hook is to be installed or brought up to date"))
    pending += canary["clauses"]
    return {"strategy": strategy, "upgrade": upgrade, "hook": hook, "sweep": sweep, "canary": canary,
            "pending": pending}


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
    if _affected_cruns(report):
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
