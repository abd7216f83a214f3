"""Reports that add up: host rows published by slices, a fact cache read in both layouts, what
changed since the previous report, and stale verdicts; from real audit reports of generated hosts."""

import json
import os

import pytest

from ansible_collections.fleetfix.crun.plugins.filter.fleet_html import fleet_html
from ansible_collections.fleetfix.crun.plugins.filter.fleet_junit import fleet_junit
from ansible_collections.fleetfix.crun.plugins.filter.fleet_rows import fleet_rows
from ansible_collections.fleetfix.crun.plugins.filter.fleet_summary import fleet_summary
from ansible_collections.fleetfix.crun.plugins.lookup import cached_reports
from ansible_collections.fleetfix.crun.plugins.module_utils import _audit
from support import StorageTree, link, run_process, stand_in_crun

KINDS = ("affected", "fixed", "empty", "odd")


def build(root, kind):
    if kind == "affected":
        stand_in_crun(root, "/usr/bin/crun", "fedora-41-crun-1.20-libkrun.txt")
        link(root, "/usr/bin/krun", "crun")
        tree = StorageTree(root)
        tree.add_krun_config("c1", 0o700, name="web<1>")
        os.symlink("/etc/shadow", os.path.join(tree.add_container("evil"), ".krun_config.json"))
    elif kind == "fixed":
        stand_in_crun(root, "/usr/bin/crun", "debian-13-crun-1.21.txt")
        StorageTree(root).add_krun_config("new", 0o444)
    elif kind == "odd":
        stand_in_crun(root, "/usr/bin/crun", script="echo this is not crun")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """hostvars of 12 audited hosts (three of each kind) and two that gave nothing."""
    base = tmp_path_factory.mktemp("fleet")
    hostvars = {}
    for number in range(12):
        name, kind = "host-%02d" % number, KINDS[number % len(KINDS)]
        root = base / name
        root.mkdir()
        build(root, kind)
        hostvars[name] = {"ansible_facts": {"fleetfix_crun": _audit.audit(run_process, root=str(root), timeout=2)}}
    hostvars.update({"gone-01": {}, "gone-02": {"ansible_facts": {}}})
    return hostvars


def slices(hosts, count):
    """The inventory as AWX slices it: ordered by name, slice n (1-based) is hosts[n-1::count]."""
    ordered = sorted(hosts)
    return [ordered[number - 1::count] for number in range(1, count + 1)]


def test_slices_rows_merged_make_the_report_of_the_unsliced_fleet(fleet):
    hosts = sorted(fleet)
    whole = fleet_summary(fleet, hosts)
    artifacts = {}
    for job_id, part in zip((201, 202, 203), slices(hosts, 3)):
        # each slice sees only its own hosts' facts, as each job does
        own = dict((host, fleet[host]) for host in part)
        artifacts.update({"fleetfix_crun_rows_%d" % job_id: fleet_rows(own, part)})
    rows = {}
    for key in sorted(artifacts):
        rows.update(artifacts[key])
    merged = fleet_summary({}, [], rows)
    assert merged == whole
    assert fleet_html(merged) == fleet_html(whole) and fleet_junit(merged) == fleet_junit(whole)
    assert merged["no_data_hosts"] == ["gone-01", "gone-02"] and merged["hosts_total"] == 14


def test_the_rows_a_run_publishes_as_json_text_merge_into_the_same_report(fleet):
    """What the report role does: each run's summary with its rows as JSON text (read in the same
    pass over hostvars), the report node given the list of them."""
    hosts = sorted(fleet)
    published = []
    for part in slices(hosts, 3):
        own = dict((host, fleet[host]) for host in part)
        summary = fleet_summary(own, part, None, None, None, None, True)
        assert json.loads(summary["rows_json"]) == fleet_rows(own, part)
        published.append(summary["rows_json"])
    whole = fleet_summary(fleet, hosts)
    assert fleet_summary({}, [], published) == whole
    assert "rows_json" not in whole


def test_a_row_is_smaller_than_the_report_and_says_when_it_was_audited(fleet):
    row = fleet_rows(fleet, ["host-00"])["host-00"]
    report = fleet["host-00"]["ansible_facts"]["fleetfix_crun"]
    assert len(json.dumps(row)) < len(json.dumps(report))
    assert row["audited_at"] == report["audited_at"] and row["audited_at"].endswith("Z")
    assert set(row["runtimes"][0]) == {"path", "version", "package", "problem", "advisories"}


def test_a_host_without_a_row_fact_or_cached_verdict_is_no_data_and_named(fleet):
    summary = fleet_summary(fleet, ["host-00", "gone-01"], {}, None, None, {"gone-01": None})
    assert summary["no_data_hosts"] == ["gone-01"]
    cached = fleet_rows(fleet, ["host-01"])["host-01"]
    summary = fleet_summary({}, ["host-01", "gone-01"], {}, None, None, {"host-01": cached})
    assert (summary["no_data_hosts"], summary["counts"]["fixed"]) == (["gone-01"], 1)


def write_cache(directory, host, facts, layout):
    """A jsonfile cache file as ansible-core writes it: plain (2.18 and AWX) or s1_ with __payload__ (2.19+)."""
    if layout == "plain":
        (directory / host).write_text(json.dumps(facts))
    else:
        tagged = {"value": facts, "tags": [], "__ansible_type": "_AnsibleTaggedDict"}
        (directory / ("s1_" + host)).write_text(json.dumps({"__payload__": json.dumps(tagged)}))


@pytest.mark.parametrize("layout", ["plain", "s1"])
def test_a_fact_cache_directory_is_read_in_either_layout(fleet, tmp_path, layout):
    write_cache(tmp_path, "host-00", fleet["host-00"]["ansible_facts"], layout)
    write_cache(tmp_path, "other", {"ansible_distribution": "Debian"}, layout)
    (tmp_path / ".tmp-junk").write_text("{")
    found = cached_reports.read_directory(str(tmp_path))
    assert list(found) == ["host-00"]
    assert found["host-00"] == fleet_rows(fleet, ["host-00"])["host-00"]


def test_the_newer_layout_file_wins_and_a_broken_one_is_malformed(fleet, tmp_path):
    write_cache(tmp_path, "host-00", fleet["host-01"]["ansible_facts"], "plain")
    write_cache(tmp_path, "host-00", fleet["host-00"]["ansible_facts"], "s1")
    os.utime(str(tmp_path / "host-00"), (1, 1))
    (tmp_path / "broken").write_text("{not json")
    os.mkfifo(str(tmp_path / "fifo"))
    found = cached_reports.read_directory(str(tmp_path))
    assert found["host-00"]["status"] == fleet["host-00"]["ansible_facts"]["fleetfix_crun"]["status"]
    assert found["broken"] == "malformed" and found["fifo"] == "malformed"
    summary = fleet_summary({}, ["broken"], {}, None, None, found)
    assert summary["unknown_hosts"] == ["broken"]


def test_what_changed_since_the_previous_report(fleet):
    hosts = ["host-00", "host-01", "host-04", "host-05", "gone-01"]
    before = json.loads(json.dumps(fleet_summary(fleet, hosts)))
    later = dict(fleet)
    later["host-00"] = fleet["host-01"]  # remediated: fixed now
    later["host-01"] = fleet["host-04"]  # affected now
    now = fleet_summary(later, ["host-00", "host-01", "host-04", "host-05", "new-01"], None, None, before)
    changes = now["changes"]
    assert [e["host"] for e in changes["newly_fixed"]] == ["host-00"]
    assert changes["newly_affected"] == [{"host": "host-01", "was": "fixed", "status": "affected"}]
    assert [e["host"] for e in changes["still_affected"]] == ["host-04"]
    assert changes["disappeared"] == [{"host": "gone-01", "was": "no_data"}]
    assert changes["new_hosts"] == [{"host": "new-01", "status": "no_data"}]
    assert changes["counts"]["newly_affected"] == 1 and changes["hosts_before"] == 5
    page = fleet_html(now)
    assert page.index('<table id="changes">') < page.index('<table id="next">')
    assert '<tr id="change-newly_affected"><td>newly affected</td><td>1</td><td>host-01 (fixed &#8594; affected)</td>' \
        in page
    junit = fleet_junit(now)
    assert '<testsuite name="changes since the previous report" tests="3" failures="1"' in junit
    assert 'message="newly affected (was fixed)"' in junit


def test_the_previous_report_must_be_a_fleet_summary(fleet):
    from ansible.errors import AnsibleFilterError
    with pytest.raises(AnsibleFilterError, match="not a fleet summary"):
        fleet_summary(fleet, ["host-00"], None, None, {"hosts_total": 3})


def test_verdicts_older_than_the_age_asked_for_are_stale(fleet):
    rows = fleet_rows(fleet, ["host-00", "host-01"])
    rows["host-01"] = dict(rows["host-01"], audited_at="2026-01-01T00:00:00Z")
    del rows["host-00"]["audited_at"]
    fresh = dict(fleet_rows(fleet, ["host-02"]))
    summary = fleet_summary({}, [], dict(rows, **fresh), 3600)
    assert summary["stale_hosts"] == ["host-00", "host-01"]
    assert '<p id="stale"><b>2 hosts\' verdicts are older' in fleet_html(summary)
    assert "stale_hosts" not in fleet_summary({}, [], rows)


def test_the_facts_file_gathered_from_a_host_stands_for_its_verdict(fleet):
    report = fleet["host-00"]["ansible_facts"]["fleetfix_crun"]
    gathered = {"host-00": {"ansible_facts": {"ansible_local": {"fleetfix_crun": report}}}}
    assert fleet_summary(gathered, ["host-00"])["hosts"] == fleet_summary(fleet, ["host-00"])["hosts"]


def test_the_previous_reports_artifact_is_enough_to_say_what_changed(fleet):
    """The report's published counts carry each host's status, so a workflow can compare with the
    previous run's artifact instead of its fleet.json."""
    hosts = ["host-00", "host-01"]
    before = fleet_summary(fleet, hosts)
    artifact = {"hosts_total": 2, "hosts": [{"host": row["host"], "status": row["status"]} for row in before["hosts"]]}
    later = dict(fleet, **{"host-00": fleet["host-01"]})
    changes = fleet_summary(later, hosts, None, None, artifact)["changes"]
    assert [e["host"] for e in changes["newly_fixed"]] == ["host-00"] and changes["counts"]["disappeared"] == 0


def test_the_newest_verdict_of_a_host_wins_wherever_it_comes_from(fleet):
    """A workflow may hand an audit the rows of an earlier audit, older than the facts it just
    gathered; a report node's fact cache may hold facts older than the slices' rows."""
    fresh = fleet_rows(fleet, ["host-00"])["host-00"]  # affected, audited just now
    old = dict(fleet_rows(fleet, ["host-01"])["host-01"], audited_at="2026-01-01T00:00:00Z")  # fixed, long ago
    facts_fresh = {"host-00": {"ansible_facts": {"fleetfix_crun": fresh}}}
    facts_old = {"host-00": {"ansible_facts": {"fleetfix_crun": old}}}
    assert fleet_summary(facts_fresh, ["host-00"], {"host-00": old})["affected_hosts"] == ["host-00"]
    assert fleet_summary(facts_old, ["host-00"], {"host-00": fresh})["affected_hosts"] == ["host-00"]
    assert fleet_summary(facts_old, ["host-00"], None, None, None, {"host-00": fresh})["affected_hosts"] == ["host-00"]
    undated = dict(fresh)
    del undated["audited_at"]
    assert fleet_summary({"host-00": {"ansible_facts": {"fleetfix_crun": undated}}}, ["host-00"],
                         {"host-00": old})["affected_hosts"] == []
    assert fleet_summary({}, ["host-00"], {"host-00": "malformed"})["unknown_hosts"] == ["host-00"]
