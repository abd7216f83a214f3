"""What the audit playbook left on each instance and on the controller."""

import csv
import json
import os


# instance -> (status, crun version, crun package version, krun entry points)
EXPECTED = {
    "fleetfix-audit-bookworm": ("not_applicable", "1.8.1", "1.8.1-1+deb12u1", []),
    "fleetfix-audit-trixie": ("fixed", "1.21", "1.21-1", []),
    "fleetfix-audit-krun": ("affected", "1.8.1", "1.8.1-1+fleetfix1", ["/usr/bin/krun"]),
    "fleetfix-audit-imagestore": ("affected", "1.21", "1.21-1", []),
}
REPORTS = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "reports")


def facts(host):
    return json.loads(host.file("/etc/ansible/facts.d/fleetfix_crun.fact").content_string)


def test_facts_file_is_root_owned_and_private(host):
    # it names paths inside other users' storage, so only root may read it (docs/security.md)
    fact = host.file("/etc/ansible/facts.d/fleetfix_crun.fact")
    assert (fact.user, fact.mode) == ("root", 0o600)


def test_verdict_matches_the_real_crun(host):
    status, version, package_version, entrypoints = EXPECTED[host.backend.name]
    report = facts(host)
    runtime = report["runtimes"][0]
    assert report["status"] == status
    assert (runtime["path"], runtime["version"]) == ("/usr/bin/crun", version)
    assert runtime["package"]["manager"] == "dpkg" and runtime["package"]["version"] == package_version
    assert runtime["krun_entrypoints"] == entrypoints


def test_crun_version_is_what_the_binary_prints(host):
    printed = host.check_output("crun --version").splitlines()[0]
    assert printed == "crun version %s" % facts(host)["runtimes"][0]["version"]


def test_libkrun_feature_decides_applicability(host):
    features = facts(host)["runtimes"][0]["features"]
    assert ("+LIBKRUN" in features) == (host.backend.name == "fleetfix-audit-krun")


def test_the_stale_layer_of_the_additional_image_store_is_found_and_named(host):
    report = facts(host)
    stale = [(f["storage_root"], f["impact"], [n for i in f["images"] for n in i["names"]])
             for f in report["files"] if f["status"] == "unreadable_by_user"]
    if host.backend.name == "fleetfix-audit-imagestore":
        assert stale == [("/usr/lib/containers/storage", "image_layer", ["localhost/shared-stale:latest"])]
        assert "1 in image layers" in report["summary"]
    else:
        assert stale == []
    assert report["coverage"] == {"complete": True, "not_examined": []} and report["errors"] == []


def test_controller_report_agrees_with_the_facts_files(host):
    with open(os.path.join(REPORTS, "fleet.json")) as handle:
        fleet = json.load(handle)
    row = next(r for r in fleet["hosts"] if r["host"] == host.backend.name)
    assert row["status"] == facts(host)["status"]
    assert fleet["affected_hosts"] == ["fleetfix-audit-imagestore", "fleetfix-audit-krun"]
    with open(os.path.join(REPORTS, "hosts.csv")) as handle:
        rows = {r["host"]: r for r in csv.DictReader(handle)}
    assert rows[host.backend.name]["status"] == EXPECTED[host.backend.name][0]
