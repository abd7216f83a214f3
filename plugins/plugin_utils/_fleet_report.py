# -*- coding: utf-8 -*-
# Copyright: fleetfix.crun contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet summary as a page a person reads (self-contained HTML) and as JUnit XML for CI dashboards.

Both are rendered from the output of the fleet_summary filter only, and hold no timestamp, so an
unchanged fleet gives byte-identical files and the report role stays idempotent.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from ansible_collections.fleetfix.crun.plugins.module_utils import _advisories as advisories
from ansible_collections.fleetfix.crun.plugins.module_utils import _storage as storage

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
    host_rows = "".join(
        "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>"
        % (_text(row["host"]), _badge(row["status"]), _text(row.get("crun_versions")),
           _text(row.get("summary")), _text(row.get("action")))
        for row in attention) or '<tr><td colspan="5">No host needs action.</td></tr>'
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
        '<p class="lead"><span id="hosts-total">%d</span> hosts audited; <span id="files-total">%d</span> '
        ".krun_config.json files found in container storage.</p>" % (summary["hosts_total"], files.get("total", 0)),
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
    for key, value in totals.items():
        suites.set(key, str(value))
    return '<?xml version="1.0" encoding="UTF-8"?>\n%s\n' % ElementTree.tostring(suites, encoding="unicode")
