"""State after the upgrade role: versions, packages, and what the role reported."""

import json

# instance -> (first line of crun --version, installed crun package, upgrade_available reported)
EXPECTED = {
    "fleetfix-upgrade-krun": ("crun version 1.21", "1.21-1+fleetfix1", True),
    "fleetfix-upgrade-pkgfile": ("crun version 1.21", "1.21-1+fleetfix1", True),
    "fleetfix-upgrade-bookworm": ("crun version 1.8.1", "1.8.1-1+deb12u1", False),
}


def test_crun_is_at_the_expected_real_version(host):
    assert host.check_output("crun --version").splitlines()[0] == EXPECTED[host.backend.name][0]


def test_the_expected_package_is_installed(host):
    assert host.package("crun").version == EXPECTED[host.backend.name][1]


def test_the_role_reported_whether_a_fixed_crun_is_available(host):
    record = json.loads(host.file("/var/tmp/fleetfix-upgrade-result.json").content_string)
    assert record == {"upgrade_available": EXPECTED[host.backend.name][2]}


def test_the_upgraded_binary_is_the_real_build_with_the_krun_handler(host):
    binary = host.file("/usr/bin/crun")
    assert binary.user == "root" and binary.mode == 0o755
    features = host.check_output("crun --version").splitlines()[-1]
    assert ("+LIBKRUN" in features) == (host.backend.name != "fleetfix-upgrade-bookworm"), features
    if host.backend.name != "fleetfix-upgrade-bookworm":
        assert host.file("/usr/bin/krun").linked_to == "/usr/bin/crun"


def test_the_package_file_host_had_no_repository_to_upgrade_from(host):
    if host.backend.name == "fleetfix-upgrade-pkgfile":
        assert not host.file("/etc/apt/sources.list.d/fleetfix-local.list").exists
