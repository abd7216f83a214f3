# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One host's verdict: its cruns and its container storage, judged together."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.fleetfix.crun.plugins.module_utils import _advisories as advisories
from ansible_collections.fleetfix.crun.plugins.module_utils import _crun
from ansible_collections.fleetfix.crun.plugins.module_utils import _hooks as hooks
from ansible_collections.fleetfix.crun.plugins.module_utils import _hostfs as hostfs
from ansible_collections.fleetfix.crun.plugins.module_utils import _package_db as package_db
from ansible_collections.fleetfix.crun.plugins.module_utils import _storage as storage

REPORT_VERSION = 1


def storage_verdicts(counts):
    """Evidence from storage: stale files that break a container now (a non-root one, or any
    started from an image layer) make the host affected whatever crun runs now. Those in root
    containers break nothing; they are reported and tidied, not counted against the host."""
    breaking = sum(counts.get(kind, 0) for kind in storage.BREAKING_IMPACTS)
    if not breaking:
        return []
    return [advisories.verdict(
        advisories.FILE_MODE_ADVISORY, advisories.AFFECTED,
        "%d %s file(s) in container storage cannot be read by the containers' users (%d in non-root containers, %d "
        "in image layers that every new container inherits)" % (
            breaking, storage.CONFIG_NAME, counts.get(storage.ENV_LOST, 0), counts.get(storage.IMAGE_LAYER, 0)),
        "crun opens it O_TRUNC and keeps the old mode, so upgrading crun does not fix them")]


def libkrun_left(merged, upgrade):
    """What an affected libkrun leaves to a person, in words (one item per advisory). The remediate
    role upgrades libkrun where the package manager offers a fixed one (``upgrade``, when it was
    asked, says whether it does); neither a crun upgrade nor the hook helps."""
    offered = upgrade if isinstance(upgrade, dict) and upgrade.get("checked") else None
    rows = dict((row["name"], row) for row in (offered or {}).get("libkrun", []))
    left = []
    for verdict in merged:
        if verdict["id"] not in advisories.LIBKRUN_ADVISORY_IDS or verdict["status"] != advisories.AFFECTED:
            continue
        fixed = advisories.format_version(advisories.get_advisory(verdict["id"])["fixed_libkrun"])
        mine = [row for row in rows.values() if verdict["id"] in row["advisories"]]
        if offered is None:
            how = "fleetfix.crun.remediate does it where the package manager offers one"
        elif mine and all(row.get("fixed_offered") for row in mine) and not offered.get("libkrun_unowned"):
            continue  # the remediate role installs the fixed libkrun that is offered
        elif mine:
            how = "no fixed version offered (the package cache offers %s)" % "; ".join(
                "%s %s" % (row["name"], ", ".join(row["offered"])) if row["offered"] else "no " + row["name"]
                for row in mine)
        else:
            how = "no package owns %s, so no package manager can" % ", ".join(offered.get("libkrun_unowned") or ["it"])
        left.append("%s: upgrade libkrun to %s or newer: %s (neither a crun upgrade nor the hook helps)"
                    % (verdict["id"], fixed, how))
    return left


def what_remediation_leaves(merged, runtime_verdicts, scan, upgrade=None):
    """(what needs a person, whether the host is affected by something the remediate role fixes).

    The role fixes an affected crun (upgrade, hook), the owner-only files the sweep may change and
    a libkrun the package manager offers a fixed version of. It leaves a libkrun no package offers
    a fix for and the files the integrity rules leave alone: those are findings a person acts on,
    never a failure of the rollout."""
    needs_person = libkrun_left(merged, upgrade)
    left_alone = scan["counts"][storage.REFUSED_BREAKING]
    if left_alone:
        needs_person.append("%d %s left alone that break a container (see each file's error)"
                            % (left_alone, storage.CONFIG_NAME))
    breaking = sum(scan["counts"].get(kind, 0) for kind in storage.BREAKING_IMPACTS)
    crun_affected = any(v["status"] == advisories.AFFECTED and v["id"] in advisories.CRUN_ADVISORY_IDS
                        for verdicts in runtime_verdicts for v in verdicts)
    return needs_person, crun_affected or breaking > left_alone


def summary_line(status, merged, counts):
    """The host status followed by the reasons that decided it."""
    parts = [status]
    parts.extend("%s %s: %s" % (v["id"], v["status"], v["reason"]) for v in merged if v["status"] == status)
    return " | ".join(parts + storage_findings(counts))


def why(status, merged, counts):
    """The reasons that decided the host's status, clause by clause, as the reports show them: an
    advisory's first clause with its id and status, each further one with its id (the clauses that
    hosts share, such as the crun or the fixed version, stand apart from their own), then the
    storage findings."""
    parts = []
    for verdict in merged:
        if verdict["status"] == status:
            first, rest = verdict["clauses"][0], verdict["clauses"][1:]
            parts.append("%s %s: %s" % (verdict["id"], status, first))
            parts.extend("%s: %s" % (verdict["id"], clause) for clause in rest)
    return parts + storage_findings(counts)


def storage_findings(counts):
    """What storage holds beyond the verdicts, in words."""
    parts = []
    if counts.get(storage.ROOT_ONLY):
        parts.append("%d owner-only %s in root containers (nothing lost; the sweep tidies them)"
                     % (counts[storage.ROOT_ONLY], storage.CONFIG_NAME))
    if counts.get(storage.REFUSED):
        parts.append("%d %s left alone (hard-linked or another user's: see each file's error; they need a person)"
                     % (counts[storage.REFUSED], storage.CONFIG_NAME))
    if counts[storage.SUSPICIOUS]:
        parts.append("%d suspicious %s (symlink or special file, left untouched)"
                     % (counts[storage.SUSPICIOUS], storage.CONFIG_NAME))
    return parts


def host_report(crun, scan, hook_files=(), hooks_dirs=(), upgrade=None):
    """The host verdict; ``hook_files`` are installed fleetfix hooks (from hooks.installed_hooks),
    which mitigate crun-1685 only; ``upgrade`` is what the package manager offers, if it was asked."""
    hook_paths = [h["path"] for h in hook_files]
    errors = [{"path": None, "error": e} for e in crun["errors"]] + scan["errors"]
    not_examined = crun.get("not_examined", []) + scan.get("not_examined", [])
    verdict_lists = [r["advisories"] for r in crun["runtimes"]] + [storage_verdicts(scan["counts"]),
                                                                   advisories.coverage_verdicts(not_examined, errors)]
    if hook_paths:
        for verdicts in verdict_lists:
            advisories.mitigate(verdicts, advisories.FILE_MODE_ADVISORY, hook_paths)
    merged = advisories.merge(verdict_lists)
    status = advisories.worst_status(merged)
    needs_person, fixable = what_remediation_leaves(merged, verdict_lists[:-2], scan, upgrade)
    report = {
        "report_version": REPORT_VERSION,
        "status": status,
        "affected": status == advisories.AFFECTED,
        "fixable": fixable,
        "needs_person": needs_person,
        "advisories": merged,
        "summary": summary_line(status, merged, scan["counts"]),
        "why": why(status, merged, scan["counts"]),
        "runtimes": crun["runtimes"],
        "libkrun": crun["libkrun"],
        "hooks": hook_paths,
        "hook_files": list(hook_files),
        "hooks_dirs": [d["path"] for d in hooks_dirs],
        "files": [f for f in scan["files"] if f["status"] != storage.OK],
        "counts": scan["counts"],
        "storage_roots": scan["storage_roots"],
        "listed": scan["listed"],
        "coverage": {"complete": not (not_examined or errors), "not_examined": not_examined},
        "errors": errors,
    }
    if upgrade is not None:
        report["upgrade"] = upgrade
    return report


def audit(runner, root="/", paths=(), timeout=5, extra_roots=(), check_upgrade=False, remediation=None):
    """Audit the host; ``check_upgrade`` also asks its package manager (from its cache, never
    refreshing it) whether a fixed crun is offered, so a remediation can skip that round trip.
    ``remediation`` (the remediate role's settings as they apply here) adds the host's ``plan``."""
    root = hostfs.HostRoot.of(root)
    crun = _crun.crun_info(runner, root=root, paths=paths, timeout=timeout)
    scan = storage.scan(root=root, extra_roots=extra_roots)
    dirs = hooks.hooks_dirs(root)[0]
    planner = None
    if remediation is not None:
        # only a remediation's audit plans: every other audit skips compiling the planner
        from ansible_collections.fleetfix.crun.plugins.module_utils import _remediate as planner  # pylint: disable=import-outside-toplevel
    upgrade = None
    if check_upgrade and root.is_host:
        runtimes = crun["runtimes"] if planner is None else planner.upgrade_candidates(crun["runtimes"],
                                                                                       remediation["strategy"])
        upgrade = package_db.upgrade_needed(runtimes)
        if upgrade["needed"] or upgrade["libkrun"]:
            # only an audit that found a package below its fix asks the package manager: every other
            # audit skips compiling the package managers
            from ansible_collections.fleetfix.crun.plugins.module_utils import _packages  # pylint: disable=import-outside-toplevel
            upgrade = _packages.offered(runtimes, runner)
    report = host_report(crun, scan, hooks.installed_hooks(root, dirs), dirs, upgrade)
    # when the verdict was made: a report from a fact cache or earlier jobs says how old it is
    report["audited_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if planner is not None:
        report["plan"] = planner.plan(report, remediation)
    return report
