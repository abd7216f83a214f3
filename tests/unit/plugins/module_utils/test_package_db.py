"""Who owns a file, from the package databases (dpkg, rpm), as _package_db reads them: moved here from
test_crun.py with the ownership code itself."""

import os
import threading

import pytest

from ansible_collections.fleetfix.crun.plugins.module_utils import _hostfs as hostfs
from ansible_collections.fleetfix.crun.plugins.module_utils import _package_db as package_db
from support import dpkg_db, link, write


class CannedRunner:
    """Replaces the one command runner: answers package queries from canned output."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, argv, timeout):
        self.calls.append(argv)
        for needle, answer in self.answers.items():
            if needle in argv:
                return answer
        return 1, "", "no answer"


def test_dpkg_owner_and_version_are_read_with_the_roots_admindir(tmp_path):
    runner = CannedRunner({"-S": (0, "crun: /usr/bin/crun\n", ""), "-W": (0, "1.8.1-1+deb12u1", "")})
    owner = package_db.owner(hostfs.HostRoot(str(tmp_path)), ["/usr/bin/crun"], [package_db.Dpkg("/usr/bin/dpkg-query")], 2, runner)
    assert owner == {"manager": "dpkg", "name": "crun", "version": "1.8.1-1+deb12u1", "upstream_version": "1.8.1"}
    assert runner.calls[0][1:3] == ["--admindir", str(tmp_path / "var/lib/dpkg")]


def test_dpkg_multiarch_owner_name_loses_its_arch(tmp_path):
    runner = CannedRunner({"-S": (0, "crun:amd64: /usr/bin/crun\n", ""), "-W": (0, "1.21-1", "")})
    owner = package_db.owner(hostfs.HostRoot(str(tmp_path)), ["/usr/bin/crun"], [package_db.Dpkg("dpkg-query")], 2, runner)
    assert owner["name"] == "crun" and owner["upstream_version"] == "1.21"


def test_rpm_owner_is_read_with_the_root_and_epoch_dropped(tmp_path):
    runner = CannedRunner({"-qf": (0, "crun\t0:1.20-2.fc41\n", "")})
    owner = package_db.owner(hostfs.HostRoot(str(tmp_path)), ["/usr/bin/crun"], [package_db.Rpm("/usr/bin/rpm")], 2, runner)
    assert owner == {"manager": "rpm", "name": "crun", "version": "1.20-2.fc41", "upstream_version": "1.20"}
    assert runner.calls[0][1:3] == ["--root", str(tmp_path)]


def test_unowned_binary_has_no_package():
    runner = CannedRunner({"-S": (1, "", "dpkg-query: no path found matching pattern /usr/local/bin/crun")})
    assert package_db.owner("/", ["/usr/local/bin/crun"], [package_db.Dpkg("dpkg-query")], 2, runner) is None


def test_dpkg_owner_is_read_from_the_crun_package_files_without_running_dpkg(tmp_path):
    dpkg_db(tmp_path, {"crun:amd64": ("1.20-1", ["/usr/bin", "/usr/bin/crun"], "install ok installed"),
                       "crun-krun": ("1.20-1", ["/usr/bin/krun"], "install ok installed")})
    write(os.path.join(str(tmp_path), "var/lib/dpkg/status"),
          "Package: crun\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nVersion: 1.20-1\n\n"
          "Package: crun-krun\nStatus: deinstall ok config-files\nVersion: 1.19-1\n")
    runner = CannedRunner({})
    owner = package_db.owner(hostfs.HostRoot(str(tmp_path)), ["/usr/bin/crun"], [package_db.Dpkg("dpkg-query")], 2, runner)
    assert owner["name"] == "crun" and owner["version"] == "1.20-1"
    assert runner.calls == []


@pytest.mark.parametrize("stanza, list_file, found", [
    ("Architecture: amd64\n", "crun.list", True),  # dpkg's own crun: not Multi-Arch, its list has no arch
    ("Architecture: amd64\nMulti-Arch: foreign\n", "crun.list", True),
    ("Architecture: arm64\nMulti-Arch: same\n", "crun:arm64.list", True),
    ("Architecture: amd64\nMulti-Arch: same\n", "crun.list", False),  # not where dpkg keeps that package's list
    ("Architecture: amd64\n", "crun:amd64.list", False),
])
def test_the_package_list_read_is_the_one_dpkg_names_for_that_package(tmp_path, stanza, list_file, found):
    write(str(tmp_path / "var/lib/dpkg/info" / list_file), "/.\n/usr/bin\n/usr/bin/crun\n")
    write(str(tmp_path / "var/lib/dpkg/status"), "Package: crun\nStatus: install ok installed\n%sVersion: 1.21-1\n" % stanza)
    assert package_db._dpkg_owner_from_files(hostfs.HostRoot(str(tmp_path)), "/usr/bin/crun") == (
        ("crun", "1.21-1") if found else None)


def test_the_crun_named_packages_are_found_by_their_package_line_alone(tmp_path):
    # crun named in another package's fields, or in a description, is not a crun package; the
    # owner is found among several crun- and krun-named packages, in the status file's order
    write(str(tmp_path / "var/lib/dpkg/info/podman.list"), "/usr/bin/crun\n")
    write(str(tmp_path / "var/lib/dpkg/info/krun-tools.list"), "/usr/bin/krun-helper\n")
    write(str(tmp_path / "var/lib/dpkg/info/crun-vm.list"), "/usr/bin/crun\n")
    write(str(tmp_path / "var/lib/dpkg/status"),
          "Package: podman\nStatus: install ok installed\nDepends: crun | runc\nVersion: 4.3.1\n"
          "Description: tool\n Package: crun is the default runtime\n\n"
          "Package: krun-tools\nStatus: install ok installed\nVersion: 1.0\n\n"
          "Package: crun-vm\nStatus: install ok installed\nVersion: 0.2\n")
    assert package_db._dpkg_owner_from_files(hostfs.HostRoot(str(tmp_path)), "/usr/bin/crun") == ("crun-vm", "0.2")


@pytest.mark.parametrize("status", [
    "Package: crun\nStatus: install ok installed\nVersion: 1.20-1\n",  # the first stanza
    "Package: crun-krun\nStatus: install ok installed\nVersion: 9.9\n\n"  # a longer name is not it
    "Package: crun\nStatus: deinstall ok config-files\nArchitecture: i386\nVersion: 1.19-1\n\n"
    "Package: crun\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.20-1\nDescription: a\n b\n",
])
def test_the_installed_version_is_found_in_dpkgs_status_whatever_stands_around_it(tmp_path, status):
    dpkg_db(tmp_path, {"crun": ("1.20-1", ["/usr/bin/crun"], "install ok installed")})
    write(os.path.join(str(tmp_path), "var/lib/dpkg/status"), status)
    owner = package_db.owner(hostfs.HostRoot(str(tmp_path)), ["/usr/bin/crun"], [package_db.Dpkg("dpkg-query")], 2,
                             CannedRunner({}))
    assert owner["version"] == "1.20-1"


def test_dpkg_owner_falls_back_to_dpkg_query_for_other_packages(tmp_path):
    dpkg_db(tmp_path, {"crun": ("1.20-1", ["/usr/bin/crun"], "install ok installed")})
    runner = CannedRunner({"-S": (0, "vendor-runtime: /opt/vendor/crun\n", ""), "-W": (0, "2.0", "")})
    owner = package_db.owner(hostfs.HostRoot(str(tmp_path)), ["/opt/vendor/crun"], [package_db.Dpkg("dpkg-query")], 2, runner)
    assert owner["name"] == "vendor-runtime" and len(runner.calls) == 2


def test_the_dpkg_database_of_an_alternate_root_is_never_read_through_a_link_out_of_it(tmp_path):
    image = hostfs.HostRoot(str(tmp_path / "img"))
    write(str(tmp_path / "outside/info/crun.list"), "/usr/bin/crun\n")
    write(str(tmp_path / "outside/status"), "Package: crun\nStatus: install ok installed\nVersion: 9.9.9\n")
    link(tmp_path / "img", "/var/lib/dpkg/info", str(tmp_path / "outside/info"))
    link(tmp_path / "img", "/var/lib/dpkg/status", str(tmp_path / "outside/status"))
    assert package_db._dpkg_owner_from_files(image, "/usr/bin/crun") is None
    # the same database inside the image, reached through links that stay inside it
    write(str(tmp_path / "img/srv/dpkg/info/crun.list"), "/usr/bin/crun\n")
    write(str(tmp_path / "img/srv/dpkg/status"), "Package: crun\nStatus: install ok installed\nVersion: 1.21-1\n")
    for name in ("info", "status"):
        os.unlink(str(tmp_path / "img/var/lib/dpkg" / name))
        link(tmp_path / "img", "/var/lib/dpkg/" + name, "/srv/dpkg/" + name)
    assert package_db._dpkg_owner_from_files(image, "/usr/bin/crun") == ("crun", "1.21-1")


def test_only_the_databases_under_the_root_with_a_client_here_are_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(package_db.hostfs, "which", lambda name: "/usr/bin/" + name)
    root = hostfs.HostRoot(str(tmp_path))
    assert package_db.present(root) == []
    write(str(tmp_path / "var/lib/dpkg/status"), "")
    os.makedirs(str(tmp_path / "usr/lib/sysimage/rpm"))
    found = [(d.name, d.tool) for d in package_db.present(root)]
    assert found == [("dpkg", "/usr/bin/dpkg-query"), ("rpm", "/usr/bin/rpm")]
    monkeypatch.setattr(package_db.hostfs, "which", lambda name: "/usr/bin/rpm" if name == "rpm" else None)
    assert [d.name for d in package_db.present(root)] == ["rpm"]


def test_a_status_file_built_to_make_the_search_quadratic_is_read_once(tmp_path):
    # an alternate root's status file is whoever built that tree's: one 8 MB line of crun, then
    # 300,000 crun-named stanzas with no blank line between them; a search that looks back over the
    # line for every hit, or forward to a blank line for every stanza, does not finish
    write(str(tmp_path / "var/lib/dpkg/info/crun.list"), "/usr/bin/crun\n")
    write(str(tmp_path / "var/lib/dpkg/status"),
          "Description: " + "crun " * (1600 * 1000) + "\n" + "Package: crun-x\n" * (300 * 1000)
          + "\nPackage: crun\nStatus: install ok installed\nVersion: 1.21-1\n")
    box = {}
    worker = threading.Thread(target=lambda: box.update(owner=package_db._dpkg_owner_from_files(
        hostfs.HostRoot(str(tmp_path)), "/usr/bin/crun")), daemon=True)
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "reading the status file hung"
    assert box["owner"] == ("crun", "1.21-1")
