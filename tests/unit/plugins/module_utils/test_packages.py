"""Package-manager adapters fed with canned output through the one command runner."""

import os

import pytest

from ansible_collections.fleetfix.crun.plugins.module_utils import _package_db as package_db
from ansible_collections.fleetfix.crun.plugins.module_utils import _packages as packages

# apt-cache policy's shape, as apt 2.6 prints it under the C locale.
POLICY = """crun:
  Installed: 1.20-1+fleetfix.standin
  Candidate: 1.21-1
  Version table:
     1.21-1 500
        500 file:/srv/repo ./ Packages
 *** 1.20-1+fleetfix.standin 500
        500 file:/srv/repo ./ Packages
        100 /var/lib/dpkg/status
     1.8.1-1+deb12u1 500
        500 http://deb.example bookworm/main amd64 Packages
"""
NOTHING_FIXED_POLICY = """crun:
  Installed: 1.20-1
  Candidate: 1.20-1
  Version table:
 *** 1.20-1 100
        100 /var/lib/dpkg/status
"""
ZYPPER = """Loading repository data...
S  | Name | Type    | Version            | Arch   | Repository
---+------+---------+--------------------+--------+-----------
i+ | crun | package | 1.20-150500.1.1    | x86_64 | Main
   | crun | package | 1.21-150500.3.1    | x86_64 | Updates
"""


def adapter(name, tool):
    return next(cls for cls in packages.MANAGERS if cls.name == name)(tool)


class Runner:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def __call__(self, argv, timeout):
        self.calls.append(argv)
        return self.answers.pop(0) if self.answers else (0, "", "")


def test_apt_versions_come_from_the_policy_table():
    runner = Runner((0, POLICY, ""))
    assert adapter("apt", "/usr/bin/apt-get").available_versions("crun", 5, runner) == \
        ["1.21-1", "1.20-1+fleetfix.standin", "1.8.1-1+deb12u1"]
    assert runner.calls[0] == ["/usr/bin/apt-cache", "policy", "crun"]


def test_a_version_pinned_away_is_not_offered():
    policy = POLICY.replace("     1.21-1 500\n        500 file:", "     1.21-1 -1\n         -1 file:")
    assert packages.apt_policy_versions(policy) == ["1.20-1+fleetfix.standin", "1.8.1-1+deb12u1"]


def test_a_version_known_only_from_the_dpkg_status_file_is_not_offered():
    assert packages.apt_policy_versions(NOTHING_FIXED_POLICY) == []


def test_an_unknown_package_has_no_policy_versions():
    assert packages.apt_policy_versions("") == []


def test_dnf_versions_come_from_repoquery():
    runner = Runner((0, "1.20-2.fc41 x86_64\n1.21-1.fc41 x86_64\n", ""))
    assert adapter("dnf", "/usr/bin/dnf").available_versions("crun", 5, runner) == ["1.20-2.fc41", "1.21-1.fc41"]


@pytest.mark.skipif(packages.os.uname()[4] != "x86_64", reason="the canned rows are x86_64 rows")
def test_dnf_source_rpms_and_other_architectures_are_not_offered():
    rows = "1.21-1.fc41 src\n1.21-1.fc41 aarch64\n1.21-1.fc41 i686\n1.20-2.fc41 x86_64\n1.19-1.fc41 noarch\n"
    assert adapter("dnf", "dnf").available_versions("crun", 5, Runner((0, rows, ""))) == ["1.20-2.fc41", "1.19-1.fc41"]


@pytest.mark.parametrize("machine, arch", [("x86_64", "x86_64"), ("aarch64", "aarch64"), ("armv7l", "armv7hl")])
def test_rpm_architecture_names_follow_the_machine(machine, arch):
    assert packages._for_this_arch([("1.21-1", arch), ("1.22-1", "s390x")], machine) == ["1.21-1"]


def test_zypper_versions_come_from_the_search_table():
    assert adapter("zypper", "zypper").available_versions("crun", 5, Runner((0, ZYPPER, ""))) == \
        ["1.20-150500.1.1", "1.21-150500.3.1"]


@pytest.mark.skipif(packages.os.uname()[4] != "x86_64", reason="the canned rows are x86_64 rows")
def test_zypper_installed_row_source_packages_and_other_arches_are_not_offered():
    table = ZYPPER.replace("Main", "(System Packages)") + (
        "   | crun | srcpackage | 1.23-1.1        | noarch | Sources\n"
        "   | crun | package | 1.22-1.1           | aarch64 | Ports\n")
    assert adapter("zypper", "zypper").available_versions("crun", 5, Runner((0, table, ""))) == ["1.21-150500.3.1"]


def test_zypper_nothing_found_is_no_versions():
    assert adapter("zypper", "zypper").available_versions("crun", 5, Runner((104, "", "No matching items"))) == []


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


@pytest.mark.parametrize("manager, targets, package_file, tail", [
    ("apt", [("crun", None)], None, ["crun"]),
    ("apt", [("crun", "1.21-1")], None, ["crun=1.21-1"]),
    ("dnf", [("crun", "1.21-1.fc41")], None, ["crun-1.21-1.fc41"]),
    ("zypper", [("crun", "1.21-3.1")], None, ["crun=1.21-3.1"]),
    ("apt", [], "crun_1.21-1_amd64.deb", ["./crun_1.21-1_amd64.deb"]),
    ("dnf", [], "/srv/crun.rpm", ["/srv/crun.rpm"]),
    # crun and the libkrun it needs in one transaction, a package file among them
    ("apt", [("crun", "1.21-1"), ("libkrun1", "1.18.1-1")], None, ["crun=1.21-1", "libkrun1=1.18.1-1"]),
    ("dnf", [("libkrun", "1.18.1-1.fc42")], "/srv/crun.rpm", ["/srv/crun.rpm", "libkrun-1.18.1-1.fc42"]),
])
def test_install_command_targets(manager, targets, package_file, tail):
    argv = adapter(manager, manager).install_argv(targets, package_file)
    assert argv[-len(tail):] == tail


@pytest.mark.parametrize("stderr", [
    "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)",
    "Waiting for process with pid 77 to finish.",
    "System management is locked by the application with pid 8 (zypper).",
])
def test_a_locked_package_manager_gets_a_clear_message(stderr):
    with pytest.raises(packages.PackageError, match="locked by another process"):
        packages.Apt("apt-get").install([("crun", None)], None, 5, Runner((100, "", stderr)))


def test_an_unreachable_repository_fails_with_the_managers_words():
    with pytest.raises(packages.PackageError, match="Failed to fetch"):
        packages.Apt("apt-get").update_cache(5, Runner((100, "", "E: Failed to fetch http://x/InRelease")))


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


def test_a_package_file_is_not_installed_again_once_crun_is_fixed():
    """Found by the molecule upgrade scenario: the second run reinstalled the file (idempotence)."""
    runner = Runner()
    result = packages.upgrade(crun_info=crun_info_sequence([runtime("1.21", "1.21-1+fleetfix1")]), runner=runner,
                              package_file="/srv/fleetfix-packages/crun_1.21-1+fleetfix1_amd64.deb")
    assert (result["changed"], result["upgrade_needed"], runner.calls) == (False, False, [])


def test_no_fixed_version_offered_changes_nothing(monkeypatch):
    monkeypatch.setattr(packages, "find_manager", lambda database: packages.Apt("/usr/bin/apt-get"))
    runner = Runner((0, "", ""), (0, NOTHING_FIXED_POLICY, ""))
    result = packages.upgrade(crun_info=crun_info_sequence([runtime("1.20", "1.20-1")]), runner=runner)
    assert (result["changed"], result["upgrade_available"]) == (False, False)
    assert "none is 1.21 or newer" in result["reason"]
    assert not any("install" in call for call in runner.calls)


def test_check_mode_reports_the_target_without_installing(monkeypatch):
    monkeypatch.setattr(packages, "find_manager", lambda database: packages.Apt("/usr/bin/apt-get"))
    runner = Runner((0, POLICY, ""))
    result = packages.upgrade(check_mode=True, crun_info=crun_info_sequence([runtime("1.20", "1.20-1")]),
                              runner=runner)
    assert (result["changed"], result["target_version"]) == (True, "1.21-1")
    assert [call[1] for call in runner.calls] == ["policy"]


def test_upgrade_installs_and_verifies(monkeypatch):
    monkeypatch.setattr(packages, "find_manager", lambda database: packages.Apt("/usr/bin/apt-get"))
    runner = Runner((0, "", ""), (0, POLICY, ""), (0, "", ""))
    result = packages.upgrade(crun_info=crun_info_sequence([runtime("1.20", "1.20-1")], [runtime("1.21", "1.21-1")]),
                              runner=runner)
    assert result["changed"] is True and result["runtimes"][0]["version"] == "1.21"
    assert runner.calls[2][-1] == "crun=1.21-1"


def test_upgrade_that_leaves_crun_affected_fails(monkeypatch):
    monkeypatch.setattr(packages, "find_manager", lambda database: packages.Apt("/usr/bin/apt-get"))
    runner = Runner((0, "", ""), (0, POLICY, ""), (0, "", ""))
    with pytest.raises(packages.PackageError, match="still below 1.21"):
        packages.upgrade(crun_info=crun_info_sequence([runtime("1.20", "1.20-1")], [runtime("1.20", "1.20-1")]),
                         runner=runner)


def test_packages_below_the_fixed_version_are_found_by_package_version_when_crun_hangs():
    assert package_db.needs_upgrade([runtime(None, "1.20-2.fc41", manager="rpm")]) == {"crun": "1.20-2.fc41"}


def test_offered_asks_nothing_when_every_crun_is_fixed():
    runner = Runner()
    answer = packages.offered([runtime("1.21", "1.21-1")], runner=runner)
    assert (answer["checked"], answer["needed"], answer["fixed_offered"], runner.calls) == (True, {}, None, [])


@pytest.mark.parametrize("policy, fixed_offered", [
    (POLICY, "1.21-1"),
    (NOTHING_FIXED_POLICY, None),
])
def test_offered_reads_the_cache_without_refreshing_it(monkeypatch, policy, fixed_offered):
    monkeypatch.setattr(packages, "find_manager", lambda database: packages.Apt("/usr/bin/apt-get"))
    runner = Runner((0, policy, ""))
    answer = packages.offered([runtime("1.20", "1.20-1")], runner=runner)
    assert (answer["checked"], answer["needed"], answer["fixed_offered"]) == (True, {"crun": "1.20-1"}, fixed_offered)
    assert runner.calls == [["/usr/bin/apt-cache", "policy", "crun"]]


def test_offered_is_unchecked_when_the_package_manager_fails(monkeypatch):
    monkeypatch.setattr(packages, "find_manager", lambda database: packages.Apt("/usr/bin/apt-get"))
    answer = packages.offered([runtime("1.20", "1.20-1")], runner=Runner((100, "", "E: broken cache")))
    assert (answer["checked"], answer["fixed_offered"]) == (False, None)
    assert "broken cache" in answer["error"]


def test_offered_is_unchecked_when_the_package_manager_takes_too_long(monkeypatch):
    monkeypatch.setattr(packages, "find_manager", lambda database: packages.Apt("/usr/bin/apt-get"))

    def hangs(argv, timeout):
        raise packages.hostfs.CommandTimeout("timed out after %ds" % timeout)
    answer = packages.offered([runtime("1.20", "1.20-1")], runner=hangs)
    assert (answer["checked"], answer["fixed_offered"]) == (False, None)
    assert answer["error"] == "apt: timed out after 60s"


def test_the_package_file_inspected_is_the_one_installed_even_if_swapped_in_between(monkeypatch, tmp_path):
    """upgrade_package_file in a directory others can write: the file was looked up twice (its
    version, then the install), so a swap in between installed something else. Now it is copied
    once, and the copy is both read and installed."""
    monkeypatch.setattr(packages, "manager_for", lambda runtimes: packages.Apt("/usr/bin/apt-get"))
    original = tmp_path / "crun_1.21-1_amd64.deb"
    original.write_bytes(b"the real package")
    seen = {}

    class Swapping(Runner):
        def __call__(self, argv, timeout):
            if argv[0] == "dpkg-deb":
                original.write_bytes(b"an attacker's package")  # swapped right after the version was read
                return (0, "1.21-1\n", "")
            if "install" in argv:
                seen["installed"] = (argv[-1], open(argv[-1], "rb").read())
            return super(Swapping, self).__call__(argv, timeout)

    result = packages.upgrade(runner=Swapping(), package_file=str(original),
                              crun_info=crun_info_sequence([runtime("1.20", "1.20-1")], [runtime("1.21", "1.21-1")]))
    assert result["changed"] and seen["installed"][1] == b"the real package"
    assert seen["installed"][0] != str(original) and not os.path.exists(seen["installed"][0]), "the copy is removed"


def test_a_package_file_that_is_a_fifo_is_refused_without_blocking(monkeypatch, tmp_path):
    monkeypatch.setattr(packages, "manager_for", lambda runtimes: packages.Apt("/usr/bin/apt-get"))
    fifo = tmp_path / "crun.deb"
    os.mkfifo(str(fifo))
    with pytest.raises(packages.PackageError, match="not a regular file"):
        packages.upgrade(runner=Runner(), package_file=str(fifo),
                         crun_info=crun_info_sequence([runtime("1.20", "1.20-1")]))


# libkrun: the package that owns the libkrun crun loads, upgraded where a libkrun advisory is affected.
LIBKRUN_PATH = "/usr/lib/x86_64-linux-gnu/libkrun.so.1"
LIBKRUN_POLICY = """libkrun1:
  Installed: 1.17.0-1
  Candidate: 1.20.0-1
  Version table:
     1.20.0-1 500
        500 file:/srv/repo ./ Packages
     1.18.1-1 500
        500 file:/srv/repo ./ Packages
 *** 1.17.0-1 500
        500 file:/srv/repo ./ Packages
        100 /var/lib/dpkg/status
"""
LIBKRUN_NOTHING_FIXED_POLICY = """libkrun1:
  Installed: 1.17.0-1
  Candidate: 1.17.0-1
  Version table:
 *** 1.17.0-1 500
        500 file:/srv/repo ./ Packages
        100 /var/lib/dpkg/status
"""


def krun_runtime(crun_version, libkrun_version, owned=True):
    """A crun with the krun handler and its libkrun, judged by the real advisory table."""
    flavours = {"libkrun.so.1": LIBKRUN_PATH}
    verdicts = packages.advisories.evaluate_runtimes(
        packages.advisories.parse_version(crun_version), ["+LIBKRUN"], flavours, ["/usr/bin/krun"],
        packages.advisories.parse_version(libkrun_version))
    return dict(runtime(crun_version, crun_version + "-1"), features=["+LIBKRUN"], libkrun=LIBKRUN_PATH,
                libkrun_flavours=flavours, libkrun_version=libkrun_version, krun_entrypoints=["/usr/bin/krun"],
                libkrun_package={"manager": "dpkg", "name": "libkrun1", "version": libkrun_version + "-1"}
                if owned else None, advisories=verdicts)


@pytest.mark.parametrize("versions, expected", [
    (["1.20.0-1", "1.18.1-1", "1.17.0-1"], "1.18.1-1"),  # 1.20 is newer than the table knows: judged unknown
    (["1.19.0-1", "1.18.1-1"], "1.19.0-1"),
    (["1.20.0-1", "1.17.0-1"], "1.20.0-1"),  # only when nothing the table knows is offered
    (["1.17.0-1", "1.18.0-1"], None),
    ([], None),
])
def test_the_libkrun_chosen_is_the_newest_fixed_one_the_table_knows(versions, expected):
    assert packages.best_libkrun(versions, (1, 18, 1)) == expected


def test_crun_and_the_libkrun_it_loads_are_upgraded_in_one_transaction(monkeypatch):
    monkeypatch.setattr(packages, "find_manager", lambda database: packages.Apt("/usr/bin/apt-get"))
    runner = Runner((0, "", ""), (0, POLICY, ""), (0, LIBKRUN_POLICY, ""), (0, "", ""))
    result = packages.upgrade(crun_info=crun_info_sequence([krun_runtime("1.20", "1.17.0")],
                                                           [krun_runtime("1.21", "1.18.1")]), runner=runner)
    assert [call[1] for call in runner.calls] == ["update", "policy", "policy", "install"]
    assert runner.calls[3][-2:] == ["crun=1.21-1", "libkrun1=1.18.1-1"]
    libkrun = result["libkrun"]
    assert (result["changed"], libkrun["changed"], libkrun["available"]) == (True, True, True)
    assert libkrun["packages"][0]["advisories"] == ["libkrun-env-escapes"]
    assert libkrun["reason"] == "libkrun1 1.17.0-1 -> 1.18.1-1 (fixes libkrun-env-escapes)"
    assert packages.package_diff(result) == {"before": "crun 1.20-1\nlibkrun1 1.17.0-1\n",
                                             "after": "crun 1.21-1\nlibkrun1 1.18.1-1\n"}


def test_a_fixed_crun_with_an_old_libkrun_gets_libkrun_alone(monkeypatch):
    monkeypatch.setattr(packages, "find_manager", lambda database: packages.Apt("/usr/bin/apt-get"))
    runner = Runner((0, "", ""), (0, LIBKRUN_POLICY, ""), (0, "", ""))
    result = packages.upgrade(crun_info=crun_info_sequence([krun_runtime("1.21", "1.17.0")],
                                                           [krun_runtime("1.21", "1.18.1")]), runner=runner)
    assert (result["changed"], result["upgrade_needed"], result["target_version"]) == (True, False, None)
    assert runner.calls[1] == ["/usr/bin/apt-cache", "policy", "libkrun1"]
    assert runner.calls[2][-1] == "libkrun1=1.18.1-1"


def test_no_fixed_libkrun_offered_is_said_and_is_no_failure(monkeypatch):
    monkeypatch.setattr(packages, "find_manager", lambda database: packages.Apt("/usr/bin/apt-get"))
    runner = Runner((0, "", ""), (0, LIBKRUN_NOTHING_FIXED_POLICY, ""))
    result = packages.upgrade(crun_info=crun_info_sequence([krun_runtime("1.21", "1.17.0")]), runner=runner)
    assert (result["changed"], result["libkrun"]["available"], result["libkrun"]["needed"]) == (False, False, True)
    assert result["libkrun"]["reason"] == (
        "upgrade libkrun: no fixed version offered (the configured repositories offer libkrun1 1.17.0-1; 1.18.1 or "
        "newer fixes libkrun-env-escapes)")
    assert not any("install" in call for call in runner.calls)


def test_a_libkrun_no_package_owns_is_named_and_no_package_manager_is_asked():
    runner = Runner()
    result = packages.upgrade(crun_info=crun_info_sequence([krun_runtime("1.21", "1.17.0", owned=False)]),
                              runner=runner)
    assert (result["changed"], result["libkrun"]["available"], runner.calls) == (False, False, [])
    assert result["libkrun"]["unowned"] == [LIBKRUN_PATH]
    assert "belongs to no package" in result["libkrun"]["reason"]


def test_check_mode_names_the_libkrun_target_without_refreshing_or_installing(monkeypatch):
    monkeypatch.setattr(packages, "find_manager", lambda database: packages.Apt("/usr/bin/apt-get"))
    runner = Runner((0, LIBKRUN_POLICY, ""))
    result = packages.upgrade(check_mode=True, crun_info=crun_info_sequence([krun_runtime("1.21", "1.17.0")]),
                              runner=runner)
    assert (result["changed"], result["libkrun"]["packages"][0]["target_version"]) == (True, "1.18.1-1")
    assert [call[1] for call in runner.calls] == ["policy"]


def test_a_libkrun_upgrade_that_leaves_it_affected_fails(monkeypatch):
    monkeypatch.setattr(packages, "find_manager", lambda database: packages.Apt("/usr/bin/apt-get"))
    runner = Runner((0, "", ""), (0, LIBKRUN_POLICY, ""), (0, "", ""))
    with pytest.raises(packages.PackageError, match="libkrun1 1.18.1-1, but the libkrun crun loads is still "
                                                    "affected by libkrun-env-escapes"):
        packages.upgrade(crun_info=crun_info_sequence([krun_runtime("1.21", "1.17.0")]), runner=runner)


def test_libkrun_is_left_alone_when_not_asked():
    runner = Runner()
    result = packages.upgrade(libkrun=False, crun_info=crun_info_sequence([krun_runtime("1.21", "1.17.0")]),
                              runner=runner)
    assert (result["changed"], result["libkrun"]["needed"], runner.calls) == (False, False, [])


def test_offered_names_the_fixed_libkrun_from_the_cache(monkeypatch):
    monkeypatch.setattr(packages, "find_manager", lambda database: packages.Apt("/usr/bin/apt-get"))
    runner = Runner((0, LIBKRUN_POLICY, ""))
    answer = packages.offered([krun_runtime("1.21", "1.17.0")], runner=runner)
    assert (answer["checked"], answer["fixed_offered"]) == (True, None)
    assert [(row["name"], row["fixed_offered"]) for row in answer["libkrun"]] == [("libkrun1", "1.18.1-1")]
    assert runner.calls == [["/usr/bin/apt-cache", "policy", "libkrun1"]]


@pytest.mark.parametrize("database, binaries, expected", [
    ("rpm", {"zypper"}, "zypper"), ("rpm", {"apt-get", "yum", "zypper"}, "yum"), ("dpkg", {"dnf", "apt-get"}, "apt"),
    ("dpkg", {"dnf"}, None), (None, {"zypper", "dnf"}, "dnf"),
])
def test_the_manager_is_the_first_present_for_the_database_that_owns_crun(monkeypatch, database, binaries, expected):
    monkeypatch.setattr(packages.hostfs, "which", lambda name: "/usr/bin/" + name if name in binaries else None)
    found = packages.find_manager(database)
    assert (found.name if found else None) == expected
    if found:
        assert found.tool == "/usr/bin/" + found.binary and found.database == (database or found.database)
