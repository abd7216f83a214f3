"""State after the upgrade role: versions, packages, and what the role reported."""

import json

# instance -> (first line of crun --version, installed crun package, upgrade_available reported)
EXPECTED = {
    "fleetfix-upgrade-krun": ("crun version 1.21", "1.21-1+fleetfix1", True),
    "fleetfix-upgrade-libkrun": ("crun version 1.21", "1.21-1+fleetfix1", True),
    "fleetfix-upgrade-pkgfile": ("crun version 1.21", "1.21-1+fleetfix1", True),
    "fleetfix-upgrade-bookworm": ("crun version 1.8.1", "1.8.1-1+deb12u1", False),
}
# instance -> (installed libkrun1 package or None, what the role said is left about libkrun)
LIBKRUN = {
    "fleetfix-upgrade-krun": ("1.18.1-0+fleetfix.standin1", ""),
    "fleetfix-upgrade-libkrun": ("1.18.1-0+fleetfix.standin1", ""),
    "fleetfix-upgrade-pkgfile": ("1.17.0-0+fleetfix.standin1", (
        # its only source is gone: the installed copy is not an offer
        "upgrade libkrun: no fixed version offered (the package lists on the host offer no libkrun1; 1.18.1 or newer "
        "fixes libkrun-env-escapes)")),
    "fleetfix-upgrade-bookworm": (None, ""),
}


def test_crun_is_at_the_expected_real_version(host):
    assert host.check_output("crun --version").splitlines()[0] == EXPECTED[host.backend.name][0]


def test_the_expected_package_is_installed(host):
    assert host.package("crun").version == EXPECTED[host.backend.name][1]


def test_the_role_reported_whether_a_fixed_crun_and_libkrun_are_available(host):
    record = json.loads(host.file("/var/tmp/fleetfix-upgrade-result.json").content_string)
    left = LIBKRUN[host.backend.name][1]
    assert record == {"upgrade_available": EXPECTED[host.backend.name][2], "libkrun_available": not left,
                      "libkrun_left": left}


def test_libkrun_is_upgraded_where_a_fixed_one_is_offered_and_left_where_none_is(host):
    """The libkrun host's crun and libkrun came from one apt transaction (the log's last entry)."""
    package = host.package("libkrun1")
    expected = LIBKRUN[host.backend.name][0]
    assert (package.version if package.is_installed else None) == expected
    if expected:
        soname = host.file("/usr/lib/x86_64-linux-gnu/libkrun.so.1")
        assert soname.linked_to == "/usr/lib/x86_64-linux-gnu/libkrun.so.%s" % expected.split("-")[0]
    if host.backend.name == "fleetfix-upgrade-libkrun":
        history = host.file("/var/log/apt/history.log").content_string.strip().split("\n\n")
        last = [line for line in history[-1].splitlines() if line.startswith("Upgrade: ")]
        assert last and "crun:amd64 (1.8.1-1+fleetfix1, 1.21-1+fleetfix1)" in last[0] \
            and "libkrun1:amd64 (1.17.0-0+fleetfix.standin1, 1.18.1-0+fleetfix.standin1)" in last[0], history[-1]


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
