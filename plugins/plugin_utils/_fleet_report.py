# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report, in one place: the summary of every host's verdict (from hostvars), and its
CSV tables, its page a person reads (self-contained HTML) and its JUnit XML for CI dashboards.

The renderings are built from the summary only, and hold no timestamp, so an unchanged fleet
gives byte-identical files and the report role stays idempotent.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import csv
import functools
import gc
import io
import json
import re
import time
from collections.abc import Mapping
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from ansible_collections.fleetfix.crun.plugins.module_utils import _advisories as advisories
from ansible_collections.fleetfix.crun.plugins.module_utils import _storage as storage
from ansible_collections.fleetfix.crun.plugins.module_utils._remediate import NEXT_STEPS, recommended_action, remedies

try:
    import jmespath
except ImportError:
    jmespath = None

# The statuses come from where they are decided (the advisory table, the storage scan); the
# controller adds only "no data", for a host that gave no verdict.
NO_DATA = "no_data"
HOST_STATUSES = advisories.STATUS_SEVERITY + (NO_DATA,)
FILE_STATUSES = (storage.UNREADABLE, storage.SUSPICIOUS, storage.OK)
COLOURS = {
    "affected": "#c62828", "unreadable_by_user": "#c62828", "unknown": "#ef6c00", "suspicious": "#ef6c00",
    "mitigated": "#f9a825", "fixed": "#2e7d32", "ok": "#2e7d32", "not_applicable": "#78909c", "no_data": "#5e35b1",
}
LABELS = {"not_applicable": "not applicable", "no_data": "no data", "unreadable_by_user": "unreadable (0700)"}
IMPACT_LABELS = {storage.ENV_LOST: "environment lost (non-root container)",
                 storage.IMAGE_LAYER: "image layer: every non-root container from it",
                 storage.ROOT_ONLY: "nothing lost (root container)"}
# Hosts whose status asks for action, worst first.
NEEDS_ACTION = (advisories.AFFECTED, advisories.UNKNOWN, NO_DATA, advisories.MITIGATED)


def natural_key(name):
    """Sort key that puts fxh2 before fxh10: digit runs compare as numbers."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", str(name)) if part]


FACT = "fleetfix_crun"
# How deep a host's report may nest before it is taken as malformed (the real one nests about 6).
MAX_DEPTH = 32


def plain(value, depth=0):
    """``value`` as plain JSON types: str, int, float, bool, None, list and dict with str keys.

    Values from hostvars are Ansible's own subclasses (AnsibleUnsafeText up to ansible-core 2.18,
    tagged types from 2.19). JMESPath checks types by their exact class name, so before 2.19 it
    rejected every string of a report, and every host with a crun came out "unknown". Anything
    that is not JSON raises TypeError: a host's report is data, never objects."""
    if depth > MAX_DEPTH:
        raise TypeError("nested more than %d levels" % MAX_DEPTH)
    if value is None or isinstance(value, bool):
        return None if value is None else bool(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        found = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("a key that is not a string: %r" % (key,))
            found[str.__str__(key)] = plain(item, depth + 1)
        return found
    if isinstance(value, (list, tuple)):
        return [plain(item, depth + 1) for item in value]
    raise TypeError("not a JSON type: %s" % type(value).__name__)


def host_report(hostvars, host):
    """The audit verdict of ``host`` as plain data: its fact ``fleetfix_crun``, read from
    ``ansible_facts`` (the only place it is once fact injection is off, the default from
    ansible-core 2.24), else the facts file the audit left on the host, as the setup module
    gathers it (``ansible_local.fleetfix_crun``); None when the host has neither. TypeError for
    one that is not JSON."""
    if host not in hostvars:
        return None
    facts = hostvars[host].get("ansible_facts")
    if not isinstance(facts, Mapping):
        return None
    local = facts.get("ansible_local")
    report = facts.get(FACT) or (local.get(FACT) if isinstance(local, Mapping) else None)
    return plain(report) if report else None


HOST_COLUMNS = ("host", "status", "crun_versions", "packages", "unreadable_files", "suspicious_files", "not_examined",
                "summary")
FILE_COLUMNS = ("host", "status", "impact", "path", "kind", "mode", "process_uid", "container_id", "container_name",
                "image_names", "storage_owner", "target")

# Every projection of the fleet report in one place, written in JMESPath.
_ROW = jmespath.compile(
    "{status: status, summary: summary, why: why, "
    "crun_versions: join(' ', runtimes[].join('', [path, '=', version || 'unknown'])), "
    "packages: join(' ', runtimes[?package].join('', [package.name, '-', package.version])), "
    "unreadable_files: counts.unreadable_by_user, suspicious_files: counts.suspicious, "
    "advisories: advisories}") if jmespath else None
_HOSTS_WITH = "[?status=='%s'].host"
_ADVISORY_STATUS = "[].advisories[?id=='%s'][].status"


def acyclic(func):
    """Run ``func`` with the cyclic garbage collector paused: the report builds only acyclic data
    (reference counting frees it), and the collector's full passes over a heap that grows with the
    fleet made the cost per host grow with the fleet (docs/benchmarks.md, report_scale)."""
    @functools.wraps(func)
    def paused(*args, **kwargs):
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()
    return paused


class ReportError(ValueError):
    """Input the report cannot be built from; each filter raises it as its own error."""


def require_summary(value, name):
    """``value`` when it is a fleet summary; the filters that render one say so otherwise."""
    if not isinstance(value, dict) or "hosts" not in value or "counts" not in value:
        raise ReportError("%s expects the output of fleetfix.crun.fleet_summary" % name)
    return value


def _require_jmespath():
    if jmespath is None:
        raise ReportError("fleetfix.crun filters need the Python library jmespath on the controller "
                          "(pip install jmespath)")


# What the summary reads of a host report, and so what a host's row holds when a run publishes its
# hosts' rows (a slice of a sliced job): the summary of the rows equals the summary of the reports.
ROW_KEYS = ("report_version", "audited_at", "status", "summary", "why", "advisories", "runtimes", "counts", "files",
            "hooks", "coverage", "errors", "upgrade")
RUNTIME_KEYS = ("path", "version", "package", "problem")


def compact(report):
    """A host report cut down to what the fleet summary reads: its runtimes' verdicts to id and
    status, its verdicts' reasons to their clauses (the summary joins them again)."""
    if not isinstance(report, dict):
        return report
    row = dict((key, report[key]) for key in ROW_KEYS if key in report)
    if isinstance(row.get("advisories"), list):
        row["advisories"] = [dict((k, v) for k, v in verdict.items() if k != "reason")
                             if isinstance(verdict, dict) and isinstance(verdict.get("clauses"), list) else verdict
                             for verdict in row["advisories"]]
    if isinstance(row.get("runtimes"), list):
        row["runtimes"] = [_compact_runtime(runtime) for runtime in row["runtimes"]]
    return row


def _compact_runtime(runtime):
    if not isinstance(runtime, dict):
        return runtime
    kept = dict((key, runtime[key]) for key in RUNTIME_KEYS if key in runtime)
    kept["advisories"] = [{"id": v.get("id"), "status": v.get("status")} for v in runtime.get("advisories") or []
                          if isinstance(v, dict)]
    return kept


def _with_reasons(report):
    """A report whose verdicts all have their reason (a compact row's are its clauses joined)."""
    verdicts = report.get("advisories") if isinstance(report, dict) else None
    if not isinstance(verdicts, list) or all(not isinstance(v, dict) or "reason" in v for v in verdicts):
        return report
    return dict(report, advisories=[dict(v, reason="; ".join(str(c) for c in v.get("clauses") or []))
                                    if isinstance(v, dict) and "reason" not in v else v for v in verdicts])


def host_rows(hostvars, hosts):
    """{host: its compact report, or None when it has none} for ``hosts``."""
    return dict((host, compact(_fact(hostvars, host))) for host in hosts)


def merged_rows(rows):
    """One mapping of host rows from ``rows``: a mapping, or a list of what runs published (each a
    mapping or its JSON text), later ones winning for a host in several."""
    if not rows:
        return {}
    merged = {}
    for part in rows if isinstance(rows, list) else [rows]:
        if isinstance(part, str):
            try:
                part = json.loads(part)
            except ValueError:
                raise ReportError("fleet_summary: published rows that are not JSON")
        part = plain(part)
        if not isinstance(part, dict):
            raise ReportError("fleet_summary: the rows must map host names to their reports")
        merged.update(part)
    return merged


@acyclic
def summarise(hostvars, hosts, rows=None, max_age=None, now=None, previous=None, fallback=None, with_rows=False):
    """Summarise the verdicts of ``hosts``; a host without a verdict counts as ``no_data``. A host's
    verdict is the newest (by ``audited_at``; one without it counts as oldest) of its row in
    ``rows`` (host: compact report, from earlier runs: every host there is summarised), its fact
    in ``hostvars`` and its row in ``fallback`` (from a fact cache read directly); on a tie, the
    first of them. With ``max_age`` (seconds), a verdict audited longer ago
    than that before ``now`` (or whose time is unknown) is listed as stale; with ``previous`` (an
    earlier summary, as fleet.json holds it), what changed since is in ``changes``. With
    ``with_rows``, ``rows_json`` holds the rows of ``hosts`` as compact JSON text, what a run
    publishes (read here, in the same pass: reading hostvars again costs the controller about
    2 ms per host)."""
    _require_jmespath()
    rows, fallback = merged_rows(rows), plain(fallback) if fallback else {}
    if not isinstance(fallback, dict):
        raise ReportError("fleet_summary: the rows must map host names to their reports")
    summary_rows, files, totals, steps, audited, own = [], [], [], {}, {}, {}
    wanted = set(hosts) if with_rows else ()
    for host in sorted(set(hosts) | set(rows), key=natural_key):
        report = newest(rows.get(host), _fact(hostvars, host), fallback.get(host))
        if host in wanted:
            own[host] = compact(report) or None
        if not report:
            summary_rows.append({"host": host, "status": NO_DATA, "summary": "no audit result (unreachable or failed)",
                                 "crun_versions": "", "packages": "", "unreadable_files": 0, "suspicious_files": 0,
                                 "not_examined": 0, "advisories": [],
                                 "action": "check that the host is reachable and audit it again"})
            continue
        try:
            if not isinstance(report, dict):
                raise TypeError("not a mapping")
            row = _ROW.search(_with_reasons(report))
            row["not_examined"] = _unexamined(report)
            row["action"] = recommended_action(report)
            for key, detail in remedies(report).items():
                steps.setdefault(key, []).append((host, detail if key in ("files", "suspicious") else 0))
        except (jmespath.exceptions.JMESPathError, TypeError, AttributeError, KeyError, ValueError):
            # One host's odd fact must not take the fleet's report down: it is shown as unknown.
            row = {"status": "unknown", "summary": "malformed audit report (unexpected types)", "crun_versions": "",
                   "packages": "", "unreadable_files": 0, "suspicious_files": 0, "not_examined": 0, "advisories": [],
                   "action": "audit the host again"}
        report = report if isinstance(report, dict) else {}
        row["host"] = host
        audited[host] = report.get("audited_at")
        summary_rows.append(row)
        counts = report.get("counts") if isinstance(report.get("counts"), dict) else {}
        totals.append(dict((k, v) for k, v in counts.items() if isinstance(v, int) and not isinstance(v, bool)))
        files.extend(_file_row(f, host) for f in report.get("files") or [] if isinstance(f, dict))
    advisory_ids = sorted(set(jmespath.search("[].advisories[].id", summary_rows) or []))
    images = _images_to_rebuild(files)
    summary = {
        "hosts_total": len(summary_rows),
        "counts": dict((status, len(jmespath.search(_HOSTS_WITH % status, summary_rows))) for status in HOST_STATUSES),
        "affected_hosts": jmespath.search(_HOSTS_WITH % "affected", summary_rows),
        "unknown_hosts": jmespath.search(_HOSTS_WITH % "unknown", summary_rows),
        "no_data_hosts": jmespath.search(_HOSTS_WITH % NO_DATA, summary_rows),
        # hosts whose verdict rests on incomplete coverage: something their tools use was not examined
        "incomplete_coverage_hosts": jmespath.search("[?not_examined > `0`].host", summary_rows),
        "advisories": dict((aid, _count_statuses(jmespath.search(_ADVISORY_STATUS % aid, summary_rows)))
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
        "next_steps": _next_steps(steps, summary_rows, images),
        "affected_containers": jmespath.search(
            "[?status=='unreadable_by_user'].{host: host, container_id: container_id, "
            "container_name: container_name, path: path}", files),
        "hosts": summary_rows,
    }
    if max_age is not None:
        summary["stale_hosts"] = stale_hosts(audited, max_age, now)
    if previous:
        summary["changes"] = changes(previous, summary)
    if with_rows:
        summary["rows_json"] = json.dumps(own, separators=(",", ":"), sort_keys=True)
    return summary


def _fact(hostvars, host):
    try:
        return host_report(hostvars, host)
    except TypeError:
        return "malformed"


def newest(*reports):
    """The newest of several verdicts of one host (by ``audited_at``), the first on a tie; a
    malformed one only when there is nothing else; None when there is none. A workflow may hand a
    run rows older than the facts it just gathered, and a fact cache may hold facts older than
    the rows the slices published."""
    found = [report for report in reports if report]
    usable = [report for report in found if isinstance(report, dict)]
    if not usable:
        return found[0] if found else None
    return max(enumerate(usable), key=lambda item: (_epoch(item[1].get("audited_at")) or -1, -item[0]))[1]


def _epoch(stamp):
    """Seconds since the epoch of an ISO 8601 UTC time as the audit writes it, or None."""
    try:
        return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))
    except (TypeError, ValueError):
        return None


def stale_hosts(audited, max_age, now=None):
    """Of ``audited`` (host: when its verdict was audited), the hosts audited more than ``max_age``
    seconds before ``now`` or at an unknown time (a report from before audited_at existed),
    naturally sorted. The time stays out of the rows, so an unchanged fleet keeps identical files."""
    now = time.time() if now is None else now
    return sorted((host for host, stamp in audited.items() if _epoch(stamp) is None or now - _epoch(stamp) > max_age),
                  key=natural_key)


# What an operator looks at every morning of a rollout: per host, how its status moved since the
# previous report. Worse means a status further up advisories.STATUS_SEVERITY (no data is worst).
CHANGE_KINDS = ("newly_affected", "newly_fixed", "still_affected", "other_changes", "new_hosts", "disappeared")


def changes(previous, summary):
    """What changed between ``previous`` (an earlier fleet summary: its ``hosts`` rows) and
    ``summary``: newly affected hosts, newly fixed ones (affected before, fixed, not applicable
    or mitigated now), still affected ones, other status changes, hosts new to the report and hosts
    that disappeared from it; with the counts of each."""
    before_rows = previous.get("hosts") if isinstance(previous, dict) else None
    if not isinstance(before_rows, list):
        raise ReportError("the previous report is not a fleet summary (fleet.json): it has no hosts list")
    before = dict((row.get("host"), row.get("status")) for row in before_rows if isinstance(row, dict))
    now = dict((row["host"], row["status"]) for row in summary["hosts"])
    cured = (advisories.FIXED, advisories.NOT_APPLICABLE, advisories.MITIGATED)
    found = dict((kind, []) for kind in CHANGE_KINDS)
    for host in sorted(set(before) | set(now), key=natural_key):
        was, status = before.get(host), now.get(host)
        if host not in now:
            found["disappeared"].append({"host": host, "was": was})
        elif host not in before:
            found["new_hosts"].append({"host": host, "status": status})
            if status == advisories.AFFECTED:
                found["newly_affected"].append({"host": host, "was": None, "status": status})
        elif status == advisories.AFFECTED:
            found["still_affected" if was == advisories.AFFECTED else "newly_affected"].append(
                {"host": host, "was": was, "status": status})
        elif was == advisories.AFFECTED and status in cured:
            found["newly_fixed"].append({"host": host, "was": was, "status": status})
        elif was != status:
            found["other_changes"].append({"host": host, "was": was, "status": status})
    found["counts"] = dict((kind, len(found[kind])) for kind in CHANGE_KINDS)
    found["hosts_before"] = len(before)
    return found


def _unexamined(report):
    """How many places the host's tools use were not examined or could not be read."""
    coverage = report.get("coverage") if isinstance(report.get("coverage"), dict) else {}
    return sum(len(value) for value in (coverage.get("not_examined"), report.get("errors")) if isinstance(value, list))


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


@acyclic
def csv_table(summary, table="hosts"):
    """The ``hosts`` or ``files`` table of a fleet summary as CSV text."""
    columns = {"hosts": HOST_COLUMNS, "files": FILE_COLUMNS}.get(table)
    if columns is None:
        raise ReportError("fleet_csv: table must be 'hosts' or 'files', got %r" % (table,))
    if not isinstance(summary, dict) or table not in summary:
        raise ReportError("fleet_csv: expected the output of fleetfix.crun.fleet_summary")
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


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem;color:#212121;max-width:75rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem}
.lead{color:#555;margin-top:0}
.tiles{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}
.tile{border-radius:.4rem;padding:.6rem 1rem;color:#fff;min-width:8rem}
.tile b{display:block;font-size:1.8rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f5f5f5}
.status{display:inline-block;border-radius:.3rem;padding:0 .4rem;color:#fff;white-space:nowrap}
code{font-size:.85rem;word-break:break-all}
"""


def _text(value):
    """Any value from a host's report as escaped HTML text: a host may send any JSON type."""
    return escape("" if value is None else value if isinstance(value, str) else str(value))


def _label(status):
    return LABELS.get(status, status) if isinstance(status, str) else status


def _badge(status):
    colour = COLOURS.get(status, "#555") if isinstance(status, str) else "#555"
    return '<span class="status" style="background:%s">%s</span>' % (colour, _text(_label(status)))


def bar_chart(title, counts, order, width=640):
    """A horizontal bar chart as inline SVG: one bar per status, its count written beside it."""
    rows = [(status, counts.get(status, 0)) for status in order]
    biggest = max([count for _status, count in rows] + [1])
    bar_space = width - 260
    height = 30 + 26 * len(rows)
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" role="img" width="%d" height="%d" aria-label="%s">'
             % (width, height, escape(title, {'"': "&quot;"})),
             '<text x="0" y="16" font-size="14" font-weight="bold">%s</text>' % escape(title)]
    for index, (status, count) in enumerate(rows):
        y = 28 + 26 * index
        length = int(round(bar_space * count / float(biggest)))
        parts.append('<text x="0" y="%d" font-size="13">%s</text>' % (y + 14, escape(_label(status))))
        parts.append('<rect x="150" y="%d" width="%d" height="18" fill="%s"/>'
                     % (y, max(length, 1 if count else 0), COLOURS.get(status, "#555")))
        parts.append('<text class="count" data-status="%s" x="%d" y="%d" font-size="13">%d</text>'
                     % (status, 156 + length, y + 14, count))
    parts.append("</svg>")
    return "".join(parts)


def _why_parts(row):
    """A host's "why" as the clauses its audit gave (its report's ``why``), never cut out of the
    summary line: a report from before ``why`` existed is one clause, its summary."""
    why = row.get("why")
    if isinstance(why, list) and why:
        return [str(part) for part in why]
    return [str(row.get("summary"))]


def shared_reasons(rows):
    """The parts of the hosts' "why" that two or more of ``rows`` give, in first-seen order, each
    with how many hosts give it: the page prints them once and each host shows only its own."""
    counts = {}  # insertion-ordered: first seen first
    for row in rows:
        for part in dict.fromkeys(_why_parts(row)):
            counts[part] = counts.get(part, 0) + 1
    return [(part, hosts) for part, hosts in counts.items() if hosts > 1]


def _why(row, numbers):
    """The host's own clauses, then the numbers of the shared ones it gives, each once."""
    parts = dict.fromkeys(_why_parts(row))
    own = [_text(part) for part in parts if part not in numbers]
    refs = ['<a href="#why-%d">[%d]</a>' % (numbers[part], numbers[part])
            for part in sorted(set(parts) & set(numbers), key=numbers.get)]
    return "; ".join(own + ([" ".join(refs)] if refs else []))


@acyclic
def render_html(summary, title="fleetfix.crun fleet report"):
    """The whole report as one HTML document with no external assets."""
    counts = summary["counts"]
    files = summary["file_counts"]
    tiles = "".join('<div class="tile" style="background:%s"><b id="count-%s">%d</b>%s hosts</div>'
                    % (COLOURS[status], status, counts.get(status, 0), escape(_label(status)))
                    for status in HOST_STATUSES)
    rank = dict((status, index) for index, status in enumerate(NEEDS_ACTION))
    attention = sorted((row for row in summary["hosts"] if row["status"] in rank),
                       key=lambda row: (rank[row["status"]], natural_key(row["host"])))
    shared = shared_reasons(attention)
    numbers = dict((reason, number) for number, (reason, _hosts) in enumerate(shared, 1))
    host_rows = "".join(
        "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>"
        % (_text(row["host"]), _badge(row["status"]), _text(row.get("crun_versions")),
           _why(row, numbers), _text(row.get("action")))
        for row in attention) or '<tr><td colspan="5">No host needs action.</td></tr>'
    shared_rows = "".join(
        '<tr id="why-%d"><td>[%d]</td><td>%d</td><td>%s</td></tr>' % (number, number, hosts, _text(reason))
        for number, (reason, hosts) in enumerate(shared, 1))
    file_rows = "".join(
        "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td><code>%s</code></td><td>%s</td></tr>"
        % (_text(f.get("host")), _badge(f.get("status")), _text(IMPACT_LABELS.get(f.get("impact"), "")),
           _text(f.get("container_name") or f.get("container_id") or "(image layer)"),
           _text(f.get("path")), _text(f.get("mode") or f.get("kind")))
        for f in summary["files"]) or '<tr><td colspan="6">No stale or suspicious file.</td></tr>'
    next_rows = "".join(
        "<tr><td>%s</td><td>%d</td><td>%s</td><td><code>%s</code></td></tr>"
        % (_text(step.get("step")), len(step.get("hosts") or []), _text(step.get("files") or ""),
           _text(step.get("command")))
        for step in summary.get("next_steps", [])) or '<tr><td colspan="4">Nothing to do.</td></tr>'
    image_rows = "".join(
        "<tr><td>%s</td><td>%s</td><td><code>%s</code></td><td>%s</td></tr>"
        % (_text(i.get("host")), _text(" ".join(i.get("names") or []) or "(no name)"), _text(i.get("digest") or i.get("id")),
           _text(", ".join(i.get("containers") or []) or "none here"))
        for i in summary.get("images_to_rebuild", [])) or '<tr><td colspan="4">No image carries the file.</td></tr>'
    advisory_rows = "".join(
        "<tr><td>%s</td><td>%s</td></tr>" % (escape(advisory), ", ".join(
            "%s %d" % (_badge(status), number) for status, number in sorted(statuses.items())))
        for advisory, statuses in sorted(summary["advisories"].items()))
    return "".join([
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        "<title>%s</title><style>%s</style></head><body>" % (escape(title), CSS),
        "<h1>%s</h1>" % escape(title),
        _changes_html(summary.get("changes")),
        _stale_html(summary.get("stale_hosts")),
        '<p class="lead"><span id="hosts-total">%d</span> hosts audited; <span id="files-total">%d</span> '
        ".krun_config.json files found in container storage; <span id=\"incomplete-coverage\">%d</span> hosts' "
        "verdicts rest on incomplete coverage (something their container tools use was not examined: see each "
        "host's why).</p>" % (summary["hosts_total"], files.get("total", 0),
                              len(summary.get("incomplete_coverage_hosts", []))),
        '<div class="tiles">%s</div>' % tiles,
        '<div id="charts">%s %s</div>' % (
            bar_chart("Hosts by status", counts, HOST_STATUSES),
            bar_chart("Container config files by status", files, FILE_STATUSES)),
        "<h2>What to do next</h2>",
        "<table id=\"next\"><tr><th>step</th><th>hosts</th><th>files or images</th><th>how</th></tr>",
        next_rows, "</table>",
        "<h2>Hosts that need action (%d)</h2>" % len(attention),
        "<table id=\"hosts\"><tr><th>host</th><th>status</th><th>crun</th><th>why</th><th>recommended action</th></tr>",
        host_rows, "</table>",
        ("<h3>Reasons several of these hosts share</h3>"
         '<table id="shared-reasons"><tr><th>see</th><th>hosts</th><th>reason</th></tr>%s</table>' % shared_rows)
        if shared else "",
        "<h2>Containers with a stale or suspicious .krun_config.json (%d)</h2>" % len(summary["files"]),
        "<table id=\"files\"><tr><th>host</th><th>status</th><th>impact</th><th>container</th><th>path</th><th>mode</th></tr>",
        file_rows, "</table>",
        "<h2>Images to rebuild (%d)</h2>" % len(summary.get("images_to_rebuild", [])),
        '<p>An owner-only /.krun_config.json in an image layer reaches every non-root container started from the '
        "image, on every host it is pulled to, and the sweep cannot reach the copies: <code>podman save</code> and "
        "<code>podman push</code> export the layer as it was recorded. Rebuild each image with "
        "<code>RUN rm -f /.krun_config.json</code> (crun writes the file at every start) and push it again.</p>",
        "<table id=\"images\"><tr><th>host</th><th>image</th><th>digest</th><th>containers here</th></tr>",
        image_rows, "</table>",
        "<h2>Advisories</h2><table id=\"advisories\"><tr><th>advisory</th><th>hosts by status</th></tr>",
        advisory_rows, "</table>",
        "</body></html>\n",
    ])


CHANGE_LABELS = (("newly_affected", "newly affected"), ("newly_fixed", "newly fixed"),
                 ("still_affected", "still affected"), ("other_changes", "other status changes"),
                 ("new_hosts", "new in the report"), ("disappeared", "gone from the report"))


def _changes_html(changes):
    """What changed since the previous report, first on the page: during a rollout it is what an
    operator looks at every morning."""
    if not changes:
        return ""
    rows = []
    for kind, label in CHANGE_LABELS:
        entries = changes.get(kind) or []
        shown = ", ".join(
            "%s%s" % (_text(entry.get("host")), " (%s &#8594; %s)" % (_text(_label(entry.get("was"))), _text(
                _label(entry.get("status")))) if entry.get("was") and entry.get("status") else "")
            for entry in entries) or "none"
        rows.append('<tr id="change-%s"><td>%s</td><td>%d</td><td>%s</td></tr>' % (kind, escape(label), len(entries), shown))
    return ('<h2>What changed since the previous report (%d hosts then)</h2><table id="changes"><tr><th>change</th>'
            "<th>hosts</th><th>which</th></tr>%s</table>" % (changes.get("hosts_before", 0), "".join(rows)))


def _stale_html(stale):
    if not stale:
        return ""
    return ('<p id="stale"><b>%d hosts\' verdicts are older than the age asked for, or of unknown age</b>: %s. Audit '
            "them again before acting on them.</p>" % (len(stale), _text(", ".join(stale))))


def _changes_junit(suites, changes):
    """A test suite of what changed: a newly affected host fails (a new failure stands out), a newly
    fixed one passes, a host gone from the report is skipped."""
    suite = ElementTree.SubElement(suites, "testsuite", name="changes since the previous report")
    numbers = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for kind in ("newly_affected", "newly_fixed", "disappeared"):
        for entry in changes.get(kind) or []:
            case = ElementTree.SubElement(suite, "testcase", classname=kind, name=str(entry.get("host")))
            numbers["tests"] += 1
            if kind == "newly_affected":
                numbers["failures"] += 1
                ElementTree.SubElement(case, "failure", type="newly_affected",
                                       message="newly affected (was %s)" % (entry.get("was") or "not in the report"))
            elif kind == "disappeared":
                numbers["skipped"] += 1
                ElementTree.SubElement(case, "skipped", message="gone from the report (was %s)" % entry.get("was"))
    for key, value in numbers.items():
        suite.set(key, str(value))
    return numbers


@acyclic
def render_junit(summary, advisory_ids):
    """JUnit XML: one test suite per advisory, one test case per host.

    affected fails; unknown and no data are errors (nothing could be decided); not_applicable is
    skipped; fixed and mitigated pass, mitigated with a note in system-out.
    """
    suites = ElementTree.Element("testsuites", name="fleetfix.crun")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for advisory in advisory_ids:
        suite = ElementTree.SubElement(suites, "testsuite", name=advisory)
        numbers = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for row in summary["hosts"]:
            verdict = next((v for v in row.get("advisories") or [] if isinstance(v, dict) and v.get("id") == advisory),
                           None)
            status = "no_data" if row["status"] == "no_data" else (verdict or {}).get("status", "not_applicable")
            reason = row["summary"] if row["status"] == "no_data" else (verdict or {}).get("reason", "no crun found")
            reason = "" if reason is None else str(reason)  # a host may send any JSON type
            case = ElementTree.SubElement(suite, "testcase", classname=advisory, name=str(row["host"]))
            numbers["tests"] += 1
            if status == "affected":
                numbers["failures"] += 1
                failure = ElementTree.SubElement(case, "failure", message=reason, type="affected")
                failure.text = "%s\nrecommended action: %s" % (reason, row.get("action") or "")
            elif status in ("unknown", "no_data"):
                numbers["errors"] += 1
                ElementTree.SubElement(case, "error", message=reason, type=status)
            elif status == "not_applicable":
                numbers["skipped"] += 1
                ElementTree.SubElement(case, "skipped", message=reason)
            elif status == "mitigated":
                ElementTree.SubElement(case, "system-out").text = reason
        for key, value in numbers.items():
            suite.set(key, str(value))
            totals[key] += value
    if summary.get("changes"):
        for key, value in _changes_junit(suites, summary["changes"]).items():
            totals[key] += value
    for key, value in totals.items():
        suites.set(key, str(value))
    return '<?xml version="1.0" encoding="UTF-8"?>\n%s\n' % ElementTree.tostring(suites, encoding="unicode")
