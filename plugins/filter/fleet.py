# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet summaries over the per-host verdicts that fleetfix.crun.host_audit leaves in hostvars."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import csv
import io

from ansible.errors import AnsibleFilterError

from ansible_collections.fleetfix.crun.plugins.module_utils._remediate import NEXT_STEPS, recommended_action, remedies
from ansible_collections.fleetfix.crun.plugins.plugin_utils._fleet_report import HOST_STATUSES, NO_DATA, natural_key

try:
    import jmespath
except ImportError:
    jmespath = None

FACT = "fleetfix_crun"
HOST_COLUMNS = ("host", "status", "crun_versions", "packages", "unreadable_files", "suspicious_files", "summary")
FILE_COLUMNS = ("host", "status", "impact", "path", "kind", "mode", "process_uid", "container_id", "container_name",
                "image_names", "storage_owner", "target")

# Every projection of the fleet report in one place, written in JMESPath.
_ROW = jmespath.compile(
    "{status: status, summary: summary, "
    "crun_versions: join(' ', runtimes[].join('', [path, '=', version || 'unknown'])), "
    "packages: join(' ', runtimes[?package].join('', [package.name, '-', package.version])), "
    "unreadable_files: counts.unreadable_by_user, suspicious_files: counts.suspicious, "
    "advisories: advisories}") if jmespath else None
_HOSTS_WITH = "[?status=='%s'].host"
_ADVISORY_STATUS = "[].advisories[?id=='%s'][].status"


def _require_jmespath():
    if jmespath is None:
        raise AnsibleFilterError("fleetfix.crun filters need the Python library jmespath on the controller "
                                 "(pip install jmespath)")


def fleet_summary(hostvars, hosts):
    """Summarise the verdicts of ``hosts``; a host without a verdict counts as ``no_data``."""
    _require_jmespath()
    rows, files, totals, steps = [], [], [], {}
    for host in sorted(hosts, key=natural_key):
        report = hostvars[host].get(FACT) if host in hostvars else None
        if not report:
            rows.append({"host": host, "status": NO_DATA, "summary": "no audit result (unreachable or failed)",
                         "crun_versions": "", "packages": "", "unreadable_files": 0, "suspicious_files": 0,
                         "advisories": [], "action": "check that the host is reachable and audit it again"})
            continue
        try:
            if not isinstance(report, dict):
                raise TypeError("not a mapping")
            row = _ROW.search(report)
            row["action"] = recommended_action(report)
            for key, detail in remedies(report).items():
                steps.setdefault(key, []).append((host, detail if key in ("files", "suspicious") else 0))
        except (jmespath.exceptions.JMESPathError, TypeError, AttributeError, KeyError, ValueError):
            # One host's odd fact must not take the fleet's report down: it is shown as unknown.
            row = {"status": "unknown", "summary": "malformed audit report (unexpected types)", "crun_versions": "",
                   "packages": "", "unreadable_files": 0, "suspicious_files": 0, "advisories": [],
                   "action": "audit the host again"}
        report = report if isinstance(report, dict) else {}
        row["host"] = host
        rows.append(row)
        counts = report.get("counts") if isinstance(report.get("counts"), dict) else {}
        totals.append(dict((k, v) for k, v in counts.items() if isinstance(v, int) and not isinstance(v, bool)))
        files.extend(_file_row(f, host) for f in report.get("files") or [] if isinstance(f, dict))
    advisory_ids = sorted(set(jmespath.search("[].advisories[].id", rows) or []))
    images = _images_to_rebuild(files)
    return {
        "hosts_total": len(rows),
        "counts": dict((status, len(jmespath.search(_HOSTS_WITH % status, rows))) for status in HOST_STATUSES),
        "affected_hosts": jmespath.search(_HOSTS_WITH % "affected", rows),
        "unknown_hosts": jmespath.search(_HOSTS_WITH % "unknown", rows),
        "no_data_hosts": jmespath.search(_HOSTS_WITH % NO_DATA, rows),
        "advisories": dict((aid, _count_statuses(jmespath.search(_ADVISORY_STATUS % aid, rows)))
                           for aid in advisory_ids),
        "files": files,
        "file_counts": {
            "total": sum(c.get("total", 0) for c in totals),
            "ok": sum(c.get("ok", 0) for c in totals),
            "unreadable_by_user": len(jmespath.search("[?status=='unreadable_by_user']", files)),
            "suspicious": len(jmespath.search("[?status=='suspicious']", files)),
            # of the unreadable ones, what they do to their containers (the audit's storage.IMPACTS)
            "env_lost": sum(c.get("env_lost", 0) for c in totals),
            "image_layer": sum(c.get("image_layer", 0) for c in totals),
            "root_only": sum(c.get("root_only", 0) for c in totals),
        },
        "images_to_rebuild": images,
        "next_steps": _next_steps(steps, rows, images),
        "affected_containers": jmespath.search(
            "[?status=='unreadable_by_user'].{host: host, container_id: container_id, "
            "container_name: container_name, path: path}", files),
        "hosts": rows,
    }


def _next_steps(steps, rows, images):
    """What to do next across the fleet: each step with the hosts (and files) it covers and the command."""
    found = []
    for key, what, how in NEXT_STEPS:
        if key in steps:
            hosts = [host for host, _number in steps[key]]
            found.append({"step": what, "hosts": hosts, "files": sum(n for _h, n in steps[key]),
                          "command": how.replace("HOSTS", ",".join(hosts))})
    if images:
        found.append({"step": "rebuild the images whose layer holds an owner-only .krun_config.json and push them "
                              "again", "hosts": sorted(set(i["host"] for i in images), key=natural_key),
                      "files": len(images), "command": "RUN rm -f /.krun_config.json in each image's Containerfile"})
    unreachable = [row["host"] for row in rows if row["status"] == NO_DATA]
    if unreachable:
        found.append({"step": "reach and audit again the hosts that gave no verdict", "hosts": unreachable, "files": 0,
                      "command": "ansible-playbook fleetfix.crun.audit --limit %s" % ",".join(unreachable)})
    return found


def _file_row(record, host):
    images = record.get("images") if isinstance(record.get("images"), list) else []
    names = [n for image in images if isinstance(image, dict) for n in image.get("names") or [] if isinstance(n, str)]
    return dict(record, host=host, image_names=" ".join(names))


def _images_to_rebuild(files):
    """Each image (per host) whose layer holds an owner-only config: every non-root container
    started from it, on any host it is pushed to, loses its environment until it is rebuilt."""
    found, seen = [], set()
    for row in files:
        if row.get("status") != "unreadable_by_user":
            continue
        for image in row.get("images") or []:
            if not isinstance(image, dict) or (row["host"], image.get("id")) in seen:
                continue
            seen.add((row["host"], image.get("id")))
            found.append({"host": row["host"], "id": image.get("id"), "names": image.get("names") or [],
                          "digest": image.get("digest"), "containers": image.get("containers") or []})
    return found


def _count_statuses(statuses):
    counts = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return counts


def fleet_csv(summary, table="hosts"):
    """The ``hosts`` or ``files`` table of a fleet summary as CSV text."""
    columns = {"hosts": HOST_COLUMNS, "files": FILE_COLUMNS}.get(table)
    if columns is None:
        raise AnsibleFilterError("fleet_csv: table must be 'hosts' or 'files', got %r" % (table,))
    if not isinstance(summary, dict) or table not in summary:
        raise AnsibleFilterError("fleet_csv: expected the output of fleetfix.crun.fleet_summary")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in summary[table]:
        writer.writerow(dict((key, csv_cell(row.get(key))) for key in columns))
    return out.getvalue()


# A cell a spreadsheet would take for a formula (OWASP "CSV injection"): text from a host, such as
# a container name, must stay text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


class FilterModule(object):
    def filters(self):
        return {"fleet_summary": fleet_summary, "fleet_csv": fleet_csv}
