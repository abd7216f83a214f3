"""Package-manager adapters fed with canned output through the one command runner."""

import pytest

from ansible_collections.fleetfix.crun.plugins.module_utils import _packages as packages

MADISON = """      crun | 1.21-1 | file:/srv/repo ./ Packages
      crun | 1.20-1+fleetfix.standin | file:/srv/repo ./ Packages
      crun | 1.8.1-1+deb12u1 | http://deb.example bookworm/main amd64 Packages
"""
ZYPPER = """Loading repository data...
S  | Name | Type    | Version            | Arch   | Repository
---+------+---------+--------------------+--------+-----------
i+ | crun | package | 1.20-150500.1.1    | x86_64 | Main
   | crun | package | 1.21-150500.3.1    | x86_64 | Updates
"""


class Runner:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def __call__(self, argv, timeout):
        self.calls.append(argv)
        return self.answers.pop(0) if self.answers else (0, "", "")


def test_apt_versions_come_from_madison():
    runner = Runner((0, MADISON, ""))
    assert packages.available_versions("apt", "/usr/bin/apt-get", "crun", 5, runner) == \
        ["1.21-1", "1.20-1+fleetfix.standin", "1.8.1-1+deb12u1"]
    assert runner.calls[0] == ["/usr/bin/apt-cache", "madison", "crun"]


def test_dnf_versions_come_from_repoquery():
    runner = Runner((0, "1.20-2.fc41\n1.21-1.fc41\n", ""))
    assert packages.available_versions("dnf", "/usr/bin/dnf", "crun", 5, runner) == ["1.20-2.fc41", "1.21-1.fc41"]


def test_zypper_versions_come_from_the_search_table():
    assert packages.available_versions("zypper", "zypper", "crun", 5, Runner((0, ZYPPER, ""))) == \
        ["1.20-150500.1.1", "1.21-150500.3.1"]


def test_zypper_nothing_found_is_no_versions():
    assert packages.available_versions("zypper", "zypper", "crun", 5, Runner((104, "", "No matching items"))) == []


@pytest.mark.parametrize("versions, pinned, expected", [
    (["1.21-1", "1.20-1", "1.22-1"], None, "1.22-1"),
    (["1.20-2.fc41"], None, None),
    (["1.21-1", "1.22-1"], "1.21-1", "1.21-1"),
    (["1.21-1"], "1.23-1", None),
    (["1.20-1", "1.21-1"], "1.20-1", None),
    ([], None, None),
])
def test_best_fixed_version(versions, pinned, expected):
    assert packages.best_fixed(versions, pinned) == expected


@pytest.mark.parametrize("manager, version, package_file, tail", [
    ("apt", None, None, ["crun"]),
    ("apt", "1.21-1", None, ["crun=1.21-1"]),
    ("dnf", "1.21-1.fc41", None, ["crun-1.21-1.fc41"]),
    ("zypper", "1.21-3.1", None, ["crun=1.21-3.1"]),
    ("apt", None, "crun_1.21-1_amd64.deb", ["./crun_1.21-1_amd64.deb"]),
    ("dnf", None, "/srv/crun.rpm", ["/srv/crun.rpm"]),
])
def test_install_command_targets(manager, version, package_file, tail):
    argv = packages.install_argv(manager, manager, ["crun"], version, package_file)
    assert argv[-len(tail):] == tail


@pytest.mark.parametrize("stderr", [
    "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)",
    "Waiting for process with pid 77 to finish.",
    "System management is locked by the application with pid 8 (zypper).",
])
def test_a_locked_package_manager_gets_a_clear_message(stderr):
    with pytest.raises(packages.PackageError, match="locked by another process"):
        packages.install("apt", "apt-get", ["crun"], None, None, 5, Runner((100, "", stderr)))


def test_an_unreachable_repository_fails_with_the_managers_words():
    with pytest.raises(packages.PackageError, match="Failed to fetch"):
        packages.update_cache("apt", "apt-get", 5, Runner((100, "", "E: Failed to fetch http://x/InRelease")))


def runtime(version, package_version, name="crun", manager="dpkg"):
    return {"version": version, "package": {"manager": manager, "name": name, "version": package_version}}


def crun_info_sequence(*states):
    states = list(states)

    def crun_info(runner, timeout):
        return {"runtimes": states.pop(0) if len(states) > 1 else states[0]}
    return crun_info


def test_upgrade_is_not_needed_when_crun_is_fixed():
    result = packages.upgrade(crun_info=crun_info_sequence([runtime("1.21", "1.21-1")]), runner=Runner())
    assert (result["changed"], result["upgrade_needed"], result["upgrade_available"]) == (False, False, True)


def test_no_fixed_version_offered_changes_nothing(monkeypatch):
    monkeypatch.setattr(packages, "find_manager", lambda database: ("apt", "/usr/bin/apt-get"))
    runner = Runner((0, "", ""), (0, "      crun | 1.20-1 | file:/r ./ Packages\n", ""))
    result = packages.upgrade(crun_info=crun_info_sequence([runtime("1.20", "1.20-1")]), runner=runner)
    assert (result["changed"], result["upgrade_available"]) == (False, False)
    assert "none is 1.21 or newer" in result["reason"]
    assert not any("install" in call for call in runner.calls)


def test_check_mode_reports_the_target_without_installing(monkeypatch):
    monkeypatch.setattr(packages, "find_manager", lambda database: ("apt", "/usr/bin/apt-get"))
    runner = Runner((0, MADISON, ""))
    result = packages.upgrade(check_mode=True, crun_info=crun_info_sequence([runtime("1.20", "1.20-1")]),
                              runner=runner)
    assert (result["changed"], result["target_version"]) == (True, "1.21-1")
    assert [call[1] for call in runner.calls] == ["madison"]


def test_upgrade_installs_and_verifies(monkeypatch):
    monkeypatch.setattr(packages, "find_manager", lambda database: ("apt", "/usr/bin/apt-get"))
    runner = Runner((0, "", ""), (0, MADISON, ""), (0, "", ""))
    result = packages.upgrade(crun_info=crun_info_sequence([runtime("1.20", "1.20-1")], [runtime("1.21", "1.21-1")]),
                              runner=runner)
    assert result["changed"] is True and result["runtimes"][0]["version"] == "1.21"
    assert runner.calls[2][-1] == "crun=1.21-1"


def test_upgrade_that_leaves_crun_affected_fails(monkeypatch):
    monkeypatch.setattr(packages, "find_manager", lambda database: ("apt", "/usr/bin/apt-get"))
    runner = Runner((0, "", ""), (0, MADISON, ""), (0, "", ""))
    with pytest.raises(packages.PackageError, match="still below 1.21"):
        packages.upgrade(crun_info=crun_info_sequence([runtime("1.20", "1.20-1")], [runtime("1.20", "1.20-1")]),
                         runner=runner)


def test_packages_below_the_fixed_version_are_found_by_package_version_when_crun_hangs():
    assert packages.needs_upgrade([runtime(None, "1.20-2.fc41", manager="rpm")]) == {"crun": "1.20-2.fc41"}


def test_offered_asks_nothing_when_every_crun_is_fixed():
    runner = Runner()
    answer = packages.offered([runtime("1.21", "1.21-1")], runner=runner)
    assert (answer["checked"], answer["needed"], answer["fixed_offered"], runner.calls) == (True, {}, None, [])


@pytest.mark.parametrize("madison, fixed_offered", [
    (MADISON, "1.21-1"),
    ("      crun | 1.20-1 | file:/r ./ Packages\n", None),
])
def test_offered_reads_the_cache_without_refreshing_it(monkeypatch, madison, fixed_offered):
    monkeypatch.setattr(packages, "find_manager", lambda database: ("apt", "/usr/bin/apt-get"))
    runner = Runner((0, madison, ""))
    answer = packages.offered([runtime("1.20", "1.20-1")], runner=runner)
    assert (answer["checked"], answer["needed"], answer["fixed_offered"]) == (True, {"crun": "1.20-1"}, fixed_offered)
    assert runner.calls == [["/usr/bin/apt-cache", "madison", "crun"]]


def test_offered_is_unchecked_when_the_package_manager_fails(monkeypatch):
    monkeypatch.setattr(packages, "find_manager", lambda database: ("apt", "/usr/bin/apt-get"))
    answer = packages.offered([runtime("1.20", "1.20-1")], runner=Runner((100, "", "E: broken cache")))
    assert (answer["checked"], answer["fixed_offered"]) == (False, None)
    assert "broken cache" in answer["error"]


def test_offered_is_unchecked_when_the_package_manager_takes_too_long(monkeypatch):
    monkeypatch.setattr(packages, "find_manager", lambda database: ("apt", "/usr/bin/apt-get"))

    def hangs(argv, timeout):
        raise packages._crun.CommandTimeout("timed out after %ds" % timeout)
    answer = packages.offered([runtime("1.20", "1.20-1")], runner=hangs)
    assert (answer["checked"], answer["fixed_offered"]) == (False, None)
    assert answer["error"] == "apt: timed out after 60s"
