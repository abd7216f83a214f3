import os

import pytest

from ansible_collections.fleetfix.crun.plugins.module_utils import _advisories as adv
from ansible_collections.fleetfix.crun.plugins.module_utils._crun import parse_version_output
from support import VERSION_FIXTURES as FIXTURES


def fixture_text(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


@pytest.mark.parametrize("text, expected", [
    ("1.20", (1, 20, 0)),
    ("1.8.1", (1, 8, 1)),
    ("crun version 1.21", (1, 21, 0)),
    ("1.20.0.0.0.1-abcd", (1, 20, 0)),
    ("1.20-2.fc41", (1, 20, 0)),
    ("1.8.1-1+deb12u1", (1, 8, 1)),
    ("2:1.8.1-1", (1, 8, 1)),
    ("1.7.2+dev", (1, 7, 2)),
])
def test_parse_version_takes_the_leading_upstream_version(text, expected):
    assert adv.parse_version(text) == expected


@pytest.mark.parametrize("text", ["", None, "garbage", "v", "version one"])
def test_parse_version_of_garbage_is_none(text):
    assert adv.parse_version(text) is None


# (fixture, libkrun, entrypoints) -> status per advisory id
CASES = [
    ("debian-12-crun-1.8.1.txt", None, [], {"crun-1685": "not_applicable", "CVE-2025-24965": "not_applicable"}),
    ("debian-13-crun-1.21.txt", None, [], {"crun-1685": "fixed", "CVE-2025-24965": "fixed"}),
    ("debian-sid-crun-1.28.txt", None, [], {"crun-1685": "fixed", "CVE-2025-24965": "fixed"}),
    ("centos-stream-9-crun-1.20.txt", None, ["/usr/bin/krun"],
     {"crun-1685": "not_applicable", "CVE-2025-24965": "fixed"}),
    ("fedora-41-crun-1.20-libkrun.txt", None, ["/usr/bin/krun"],
     {"crun-1685": "affected", "CVE-2025-24965": "fixed"}),
    ("fedora-41-crun-1.20-libkrun.txt", {"libkrun.so.1": "/usr/lib64/libkrun.so.1"}, [],
     {"crun-1685": "affected", "CVE-2025-24965": "fixed"}),
    ("fedora-41-crun-1.20-libkrun.txt", None, [], {"crun-1685": "not_applicable", "CVE-2025-24965": "fixed"}),
    ("source-build-crun-1.7.2-libkrun.txt", {"libkrun.so.1": "/usr/local/lib64/libkrun.so.1"}, [],
     {"crun-1685": "affected", "CVE-2025-24965": "affected"}),
]


@pytest.mark.parametrize("fixture, libkrun, entrypoints, expected", CASES)
def test_real_version_outputs_get_the_expected_verdicts(fixture, libkrun, entrypoints, expected):
    parsed = parse_version_output(fixture_text(fixture))
    verdicts = adv.evaluate_runtimes(parsed["version"], parsed["features"], libkrun, entrypoints)
    assert {v["id"]: v["status"] for v in verdicts if v["id"] in expected} == expected


def test_every_fixture_file_is_covered_by_a_case():
    covered = {case[0] for case in CASES}
    present = {name for name in os.listdir(FIXTURES) if name.endswith(".txt")}
    assert present <= covered


def test_affected_reason_names_version_evidence_and_fix():
    verdict = adv.evaluate_runtime(adv.get_advisory("crun-1685"), (1, 20, 0), ["+LIBKRUN"], None, ["/usr/bin/krun"])
    assert "1.20" in verdict["reason"] and "/usr/bin/krun" in verdict["reason"] and "1.21" in verdict["reason"]


def test_version_before_the_krun_handler_is_not_applicable():
    verdict = adv.evaluate_runtime(adv.get_advisory("crun-1685"), (1, 7, 0), ["+LIBKRUN"], {"libkrun.so.1": "/lib/libkrun.so.1"}, [])
    assert verdict["status"] == "not_applicable"


def test_affected_range_without_known_features_is_unknown():
    verdict = adv.evaluate_runtime(adv.get_advisory("crun-1685"), (1, 15, 0), None, None, [])
    assert verdict["status"] == "unknown"


def test_fixed_version_is_decided_even_without_features():
    verdict = adv.evaluate_runtime(adv.get_advisory("crun-1685"), (1, 21, 0), None, None, [])
    assert verdict["status"] == "fixed"


def test_unknown_version_is_unknown():
    assert {v["status"] for v in adv.evaluate_runtimes(None, None, None, [])} == {"unknown"}


def test_fixed_version_is_read_from_the_advisory_data():
    assert adv.fixed_version() == "1.21"
    assert adv.fixed_version("CVE-2025-24965") == "1.20"


def test_merge_keeps_the_worst_status_and_its_reasons():
    fixed = adv.evaluate_runtimes((1, 21, 0), [], None, [])
    affected = adv.evaluate_runtimes((1, 20, 0), ["+LIBKRUN"], None, ["/usr/bin/krun"])
    merged = {v["id"]: v for v in adv.merge([fixed, affected])}
    assert merged["crun-1685"]["status"] == "affected"
    assert "1.21" in merged["crun-1685"]["reason"]


def test_merge_of_nothing_says_no_crun_found():
    merged = adv.merge([])
    assert [(v["status"], v["reason"]) for v in merged] == [("not_applicable", "no crun found")] * len(adv.ADVISORIES)


def test_unknown_outranks_fixed_when_merging():
    merged = adv.merge([adv.evaluate_runtimes((1, 21, 0), [], None, []), adv.evaluate_runtimes(None, None, None, [])])
    assert adv.worst_status(merged) == "unknown"
