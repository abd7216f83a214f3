"""The fleet summary and its HTML and JUnit renderings, from real audit reports of generated hosts."""

import csv
import io
import os
from xml.etree import ElementTree

import pytest

from ansible.errors import AnsibleFilterError
from ansible.utils.unsafe_proxy import wrap_var
from ansible_collections.fleetfix.crun.plugins.filter.fleet_csv import fleet_csv
from ansible_collections.fleetfix.crun.plugins.filter.fleet_html import fleet_html
from ansible_collections.fleetfix.crun.plugins.filter.fleet_junit import fleet_junit
from ansible_collections.fleetfix.crun.plugins.filter.fleet_summary import fleet_summary
from ansible_collections.fleetfix.crun.plugins.module_utils import _audit
from support import StorageTree, link, run_process, stand_in_crun


def affected_host(root):
    stand_in_crun(root, "/usr/bin/crun", "fedora-41-crun-1.20-libkrun.txt")
    link(root, "/usr/bin/krun", "crun")
    tree = StorageTree(root)
    tree.add_krun_config("c1", 0o700, name="web<1>")
    tree.add_krun_config("c2", 0o444, name="fine")
    os.symlink("/etc/shadow", os.path.join(tree.add_container("evil"), ".krun_config.json"))


def fixed_host(root):
    stand_in_crun(root, "/usr/bin/crun", "debian-13-crun-1.21.txt")
    StorageTree(root).add_krun_config("new", 0o444)


def unknown_host(root):
    stand_in_crun(root, "/usr/bin/crun", script="echo this is not crun")


@pytest.fixture
def summary(tmp_path):
    hostvars = {}
    for name, build in (("web-01", affected_host), ("db-01", fixed_host), ("empty-01", lambda root: None),
                        ("odd-01", unknown_host)):
        root = tmp_path / name
        root.mkdir()
        build(root)
        hostvars[name] = {"ansible_facts": {"fleetfix_crun": _audit.audit(run_process, root=str(root), timeout=2)}}
    return fleet_summary(hostvars, ["web-01", "db-01", "empty-01", "odd-01", "gone-01"])


def test_summary_counts_hosts_files_and_actions(summary):
    assert summary["counts"] == {"affected": 1, "unknown": 1, "mitigated": 0, "fixed": 1, "not_applicable": 1,
                                 "no_data": 1}
    assert summary["file_counts"] == {"total": 4, "ok": 2, "unreadable_by_user": 1, "suspicious": 1,
                                      "env_lost": 1, "image_layer": 0, "root_only": 0}
    actions = dict((row["host"], row["action"]) for row in summary["hosts"])
    assert actions["web-01"].startswith("upgrade crun to 1.21 or newer")
    assert "fix 1 owner-only .krun_config.json" in actions["web-01"]
    assert "inspect 1 planted symlink" in actions["web-01"]
    assert actions["db-01"] == "nothing to do"
    assert "reachable" in actions["gone-01"]
    assert "a version could not be read" in actions["odd-01"]
    assert "action" not in fleet_csv(summary, "hosts").splitlines()[0]


def test_html_shows_the_numbers_and_escapes_what_hosts_report(summary):
    page = fleet_html(summary)
    assert '<b id="count-affected">1</b>' in page and '<span id="files-total">4</span>' in page
    assert 'data-status="unreadable_by_user" x=' in page
    assert "<th>impact</th>" in page and "<td>environment lost (non-root container)</td>" in page
    assert "web&lt;1&gt;" in page and "web<1>" not in page
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    # Worst first: affected, unknown, no data; fixed and not-applicable hosts need no action.
    table = page[page.index('<table id="hosts">'):]
    table = table[:table.index("</table>")]
    assert [table.index(h) for h in ("web-01", "odd-01", "gone-01")] == sorted(
        table.index(h) for h in ("web-01", "odd-01", "gone-01"))
    assert "db-01" not in table and "empty-01" not in table
    assert fleet_html(summary) == page


def test_the_files_csv_says_what_each_file_does_to_its_container(summary):
    rows = list(csv.DictReader(io.StringIO(fleet_csv(summary, "files"))))
    assert [(r["status"], r["impact"]) for r in rows if r["status"] == "unreadable_by_user"] == \
        [("unreadable_by_user", "env_lost")]


def test_junit_has_a_case_per_host_and_advisory(summary):
    suites = ElementTree.fromstring(fleet_junit(summary).split("\n", 1)[1])
    assert [s.get("name") for s in suites] == ["crun-1685", "CVE-2025-24965", "libkrun-config-keys",
                                               "libkrun-env-escapes", "libkrun-command", "libkrun-workdir",
                                               "libkrun-virtiofs2"]
    file_mode = suites[0]
    assert [c.get("name") for c in file_mode] == ["db-01", "empty-01", "gone-01", "odd-01", "web-01"]
    outcome = dict((c.get("name"), c[0].tag if len(c) else "passed") for c in file_mode)
    assert outcome == {"web-01": "failure", "db-01": "passed", "empty-01": "skipped", "odd-01": "error",
                       "gone-01": "error"}
    assert (file_mode.get("tests"), file_mode.get("failures"), file_mode.get("errors"), file_mode.get("skipped")) == \
        ("5", "1", "2", "1")
    assert suites.get("tests") == "35"  # 5 hosts, 7 advisories
    assert "recommended action" in next(c for c in file_mode if c.get("name") == "web-01")[0].text


@pytest.mark.parametrize("render", [fleet_html, fleet_junit])
def test_renderers_refuse_anything_but_a_summary(render):
    with pytest.raises(AnsibleFilterError, match="fleet_summary"):
        render({"hosts": 1})


def hostile_report():
    """What a broken or hostile host can put into its fact: wrong JSON types, markup, formulas."""
    return {"status": "affected", "counts": {"total": 2, "ok": 0},
            "advisories": [{"id": "crun-1685", "status": "affected", "reason": ["not", "text"]}, "junk"],
            "runtimes": [{"version": 7, "package": {"name": None}}],
            "files": [{"status": "unreadable_by_user", "container_id": 12345, "container_name": ["a", "b"],
                       "path": {"x": 1}, "mode": 448},
                      {"status": ["odd"], "container_name": "=HYPERLINK(\"http://x.invalid\")",
                       "path": "+cmd|' /C calc'!A0", "mode": "-0700"}]}


def test_one_host_with_wrong_types_does_not_take_the_fleet_report_down(summary):
    hostile = fleet_summary({"bad-01": {"ansible_facts": {"fleetfix_crun": hostile_report()}}}, ["bad-01"])
    page = fleet_html(hostile)
    assert "<td>448</td>" in page and "bad-01" in page and "HYPERLINK" in page
    ElementTree.fromstring(fleet_junit(hostile))
    fleet_csv(hostile, "files")
    fleet_csv(hostile, "hosts")


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised():
    hostile = fleet_summary({"bad-01": {"ansible_facts": {"fleetfix_crun": hostile_report()}}}, ["bad-01"])
    rows = fleet_csv(hostile, "files").splitlines()
    assert any("'=HYPERLINK" in row for row in rows) and any("'+cmd" in row for row in rows)
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row.split(","))


def test_hosts_are_sorted_naturally_everywhere():
    names = ["fxh10", "fxh2", "fxh1", "db-10", "db-9"]
    summary = fleet_summary({}, names)  # no verdicts: every host is no_data, the same rank
    expected = ["db-9", "db-10", "fxh1", "fxh2", "fxh10"]
    assert [row["host"] for row in summary["hosts"]] == expected
    table = fleet_html(summary)
    table = table[table.index('<table id="hosts">'):]
    assert [table.index(">%s<" % h) for h in expected] == sorted(table.index(">%s<" % h) for h in expected)
    assert [line.split(",")[0] for line in fleet_csv(summary, "hosts").splitlines()[1:]] == expected


def test_images_carrying_the_file_are_listed_to_rebuild_in_every_form():
    image = {"id": "abc123", "names": ["localhost/app:1"], "digest": "sha256:feed", "containers": ["web"]}
    report = {"status": "affected", "summary": "affected", "runtimes": [], "advisories": [],
              "counts": {"total": 1, "ok": 0, "unreadable_by_user": 1, "suspicious": 0, "image_layer": 1},
              "files": [{"status": "unreadable_by_user", "impact": "image_layer", "container_id": None,
                         "path": "/var/lib/containers/storage/overlay/l1/diff/.krun_config.json", "images": [image]}]}
    summary = fleet_summary({"h1": {"ansible_facts": {"fleetfix_crun": report}}}, ["h1"])
    assert summary["images_to_rebuild"] == [dict(image, host="h1")]
    page = fleet_html(summary)
    assert "<h2>Images to rebuild (1)</h2>" in page and "<td>localhost/app:1</td>" in page
    assert "RUN rm -f /.krun_config.json" in page
    assert list(csv.DictReader(io.StringIO(fleet_csv(summary, "files"))))[0]["image_names"] == "localhost/app:1"


def test_what_to_do_next_counts_hosts_and_files_per_step_with_the_command(summary):
    crun = next(s for s in summary["next_steps"] if s["step"].startswith("upgrade crun"))
    assert crun["hosts"] == ["web-01"] and crun["command"] == "ansible-playbook fleetfix.crun.remediate --limit web-01"
    unreachable = next(s for s in summary["next_steps"] if s["step"].startswith("reach and audit again"))
    assert unreachable["hosts"] == ["gone-01"] and "fleetfix.crun.audit --limit gone-01" in unreachable["command"]
    page = fleet_html(summary)
    table = page[page.index('<table id="next">'):]
    table = table[:table.index("</table>")]
    assert "upgrade crun to 1.21 or newer" in table and "<code>ansible-playbook fleetfix.crun.remediate --limit web-01</code>" in table


def test_the_why_of_each_host_shows_only_what_differs_and_shared_reasons_once(tmp_path):
    hostvars = {}
    for name, stale in (("web-1", 1), ("web-2", 3), ("web-3", 0)):
        root = tmp_path / name
        root.mkdir()
        stand_in_crun(root, "/usr/bin/crun", "fedora-41-crun-1.20-libkrun.txt")
        link(root, "/usr/bin/krun", "crun")
        tree = StorageTree(root)
        for number in range(stale):
            tree.add_krun_config("c%d" % number, 0o700)
        hostvars[name] = {"ansible_facts": {"fleetfix_crun": _audit.audit(run_process, root=str(root), timeout=2)}}
    summary = fleet_summary(hostvars, sorted(hostvars))
    reason = next(v["reason"] for v in hostvars["web-1"]["ansible_facts"]["fleetfix_crun"]["advisories"] if v["id"] == "crun-1685")
    crun = reason.split("; ")[0]
    assert crun == "crun 1.20 with +LIBKRUN (krun entry point /usr/bin/krun)"
    page = fleet_html(summary)
    hosts = page[page.index('<table id="hosts">'):]
    hosts = hosts[:hosts.index("</table>")]
    shared = page[page.index('<table id="shared-reasons">'):]
    shared = shared[:shared.index("</table>")]
    assert crun not in hosts and shared.count(crun) == 1
    assert '<tr id="why-1"><td>[1]</td><td>3</td><td>crun-1685 affected: %s</td>' % crun in shared
    why = dict((row.split("</td>")[0].split("<td>")[-1], row.split("<td>")[4]) for row in hosts.split("<tr>")[2:])
    assert all('href="#why-1"' in why[host] for host in why)
    assert "crun-1685: 1 .krun_config.json" in why["web-1"] and "crun-1685: 3 .krun_config.json" in why["web-2"]
    assert ".krun_config.json" not in why["web-3"]
    # the machine-readable forms keep each host's whole line
    assert all(v["reason"] in row["summary"] for row in summary["hosts"]
               for v in hostvars[row["host"]]["ansible_facts"]["fleetfix_crun"]["advisories"] if v["id"] == "crun-1685")


def test_a_clause_whose_evidence_holds_a_semicolon_stays_whole(tmp_path):
    """Evidence joined inside parentheses ("krun entry point ...; libkrun at ...") was cut at "; " when
    the report parsed the summary line back, and the page showed unbalanced halves."""
    hostvars = {}
    for name in ("krun-1", "krun-2"):
        root = tmp_path / name
        root.mkdir()
        stand_in_crun(root, "/usr/bin/crun", "fedora-41-crun-1.20-libkrun.txt")
        link(root, "/usr/bin/krun", "crun")
        (root / "usr/lib64").mkdir(parents=True)
        (root / "usr/lib64/libkrun.so.1").write_text("")
        hostvars[name] = {"ansible_facts": {"fleetfix_crun": _audit.audit(run_process, root=str(root), timeout=2)}}
    crun = "crun 1.20 with +LIBKRUN (krun entry point /usr/bin/krun; libkrun at /usr/lib64/libkrun.so.1)"
    report = hostvars["krun-1"]["ansible_facts"]["fleetfix_crun"]
    assert report["why"][:2] == ["crun-1685 affected: " + crun, "crun-1685: fixed in 1.21"]
    page = fleet_html(fleet_summary(hostvars, sorted(hostvars)))
    shared = page[page.index('<table id="shared-reasons">'):]
    shared = shared[:shared.index("</table>")]
    assert '<td>2</td><td>crun-1685 affected: %s</td>' % crun in shared
    assert "crun-1685: libkrun at" not in page


def test_reports_as_ansible_hands_them_over_keep_their_verdicts(tmp_path):
    """hostvars hold Ansible's own string types (AnsibleUnsafeText up to ansible-core 2.18), which
    JMESPath rejected: every host with a crun became unknown and the fleet had no affected host."""
    hostvars = {}
    for name, build in (("web-01", affected_host), ("db-01", fixed_host)):
        root = tmp_path / name
        root.mkdir()
        build(root)
        report = _audit.audit(run_process, root=str(root), timeout=2)
        hostvars[name] = wrap_var({"ansible_facts": {"fleetfix_crun": report}})
    summary = fleet_summary(hostvars, ["web-01", "db-01"])
    assert (summary["affected_hosts"], summary["counts"]["fixed"], summary["unknown_hosts"]) == (["web-01"], 1, [])
    assert [type(row["summary"]) for row in summary["hosts"]] == [str, str]


def test_the_verdict_is_read_from_ansible_facts_only():
    """With fact injection off (the default from ansible-core 2.24) the fact is only in ansible_facts;
    a variable of the same name is somebody else's and is not a verdict."""
    report = {"status": "fixed", "summary": "fixed", "runtimes": [], "advisories": [],
              "counts": {"total": 0, "ok": 0}, "files": []}
    summary = fleet_summary({"h1": {"ansible_facts": {"fleetfix_crun": report}}, "h2": {"fleetfix_crun": report}},
                            ["h1", "h2"])
    assert (summary["counts"]["fixed"], summary["no_data_hosts"]) == (1, ["h2"])


def nested(levels):
    value = "bottom"
    for _level in range(levels):
        value = {"down": value}
    return value


@pytest.mark.parametrize("odd", [object(), {1: "integer key"}, nested(40)], ids=["object", "int-key", "too-deep"])
def test_a_report_that_is_not_json_is_malformed_not_a_crash(odd):
    report = {"status": "affected", "summary": "x", "runtimes": [], "advisories": [], "files": [], "counts": {},
              "extra": odd}
    summary = fleet_summary({"h1": {"ansible_facts": {"fleetfix_crun": report}}}, ["h1"])
    assert summary["unknown_hosts"] == ["h1"]
    assert summary["hosts"][0]["summary"] == "malformed audit report (unexpected types)"


def test_hosts_whose_verdict_rests_on_incomplete_coverage_are_counted_and_shown(tmp_path):
    root = tmp_path / "zfs-host"
    fixed_host(root)
    os.makedirs(str(root / "var/lib/containers/storage/zfs-layers"))
    hostvars = {"zfs-01": {"ansible_facts": {"fleetfix_crun": _audit.audit(run_process, root=str(root), timeout=2)}}}
    summary = fleet_summary(hostvars, ["zfs-01"])
    assert (summary["incomplete_coverage_hosts"], summary["unknown_hosts"]) == (["zfs-01"], ["zfs-01"])
    assert list(csv.DictReader(io.StringIO(fleet_csv(summary, "hosts"))))[0]["not_examined"] == "1"
    assert '<span id="incomplete-coverage">1</span>' in fleet_html(summary)
    step = next(s for s in summary["next_steps"] if s["step"].startswith("look at what the audit could not examine"))
    assert step["hosts"] == ["zfs-01"]
