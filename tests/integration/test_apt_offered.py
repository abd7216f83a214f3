"""What counts as offered on real apt: a private APT_CONFIG with local file: repositories.

Nothing of this machine's apt is read or changed: sources, lists, preferences, cache and the dpkg
database (an admindir and a --root of its own) all live under the test's directory. The packages
are test-built with dpkg-deb; only their names, versions and architectures matter to apt here.
"""

import os
import shutil
import subprocess

import pytest

from support import run_process
from ansible_collections.fleetfix.crun.plugins.module_utils import _packages as packages

TOOLS = ("apt-get", "dpkg-deb", "dpkg-scanpackages", "dpkg-scansources")
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not all(shutil.which(tool) for tool in TOOLS),
                                reason="needs root, apt and dpkg-dev")

INSTALLED = "1.8.1-1+deb12u1"
FIXED = "1.21-1"


def arch():
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()


class PrivateApt:
    """An apt of its own: ``add_binary`` / ``add_source`` make a flat file: repository each."""

    def __init__(self, base):
        self.base = base
        for sub in ("sources.list.d", "preferences.d", "apt.conf.d", "state/lists/partial",
                    "cache/archives/partial", "log", "dpkg/info", "dpkg/updates", "dpkg/triggers", "root"):
            os.makedirs(os.path.join(base, sub), exist_ok=True)
        open(os.path.join(base, "dpkg", "status"), "w").close()
        self.config = os.path.join(base, "apt.conf")
        with open(self.config, "w") as handle:
            handle.write("""\
Dir::Etc::SourceList "{d}/sources.list";
Dir::Etc::SourceParts "{d}/sources.list.d";
Dir::Etc::Preferences "{d}/preferences";
Dir::Etc::PreferencesParts "{d}/preferences.d";
Dir::State "{d}/state";
Dir::State::Lists "{d}/state/lists";
Dir::State::status "{d}/dpkg/status";
Dir::Cache "{d}/cache";
Dir::Log "{d}/log";
APT::Sandbox::User "root";
DPkg::Options {{ "--root={d}/root"; "--admindir={d}/dpkg"; "--log={d}/log/dpkg.log"; }};
""".format(d=base))
        open(os.path.join(base, "sources.list"), "w").close()
        self.env = {"APT_CONFIG": self.config}

    def _repo(self, name, line):
        repo = os.path.join(self.base, "repos", name)
        os.makedirs(repo, exist_ok=True)
        with open(os.path.join(self.base, "sources.list.d", name + ".list"), "w") as handle:
            handle.write("%s [trusted=yes] file:%s ./\n" % (line, repo))
        return repo

    def add_binary(self, name, version, architecture=None):
        repo = self._repo(name, "deb")
        tree = os.path.join(self.base, "build", name)
        os.makedirs(os.path.join(tree, "DEBIAN"))
        os.makedirs(os.path.join(tree, "usr", "bin"))
        with open(os.path.join(tree, "usr", "bin", "crun"), "w") as handle:
            handle.write("#!/bin/sh\necho 'crun version %s'\n" % version.split("-")[0])
        os.chmod(os.path.join(tree, "usr", "bin", "crun"), 0o755)
        with open(os.path.join(tree, "DEBIAN", "control"), "w") as handle:
            handle.write("Package: crun\nVersion: %s\nArchitecture: %s\nMaintainer: fleetfix.crun tests "
                         "<tests@fleetfix.invalid>\nDescription: test-built crun package (version only)\n"
                         % (version, architecture or arch()))
        deb = os.path.join(repo, "crun_%s.deb" % version)
        subprocess.run(["dpkg-deb", "--root-owner-group", "--build", tree, deb], check=True, capture_output=True)
        self._index(repo, ["dpkg-scanpackages", "--multiversion", "."], "Packages")

    def add_source(self, name, version):
        repo = self._repo(name, "deb-src")
        orig = os.path.join(repo, "crun_%s.orig.tar.gz" % version.split("-")[0])
        subprocess.run(["tar", "-czf", orig, "--files-from=/dev/null"], check=True)
        size, digest = os.path.getsize(orig), sha256(orig)
        with open(os.path.join(repo, "crun_%s.dsc" % version), "w") as handle:
            handle.write("Format: 3.0 (quilt)\nSource: crun\nBinary: crun\nArchitecture: any\nVersion: %s\n"
                         "Maintainer: fleetfix.crun tests <tests@fleetfix.invalid>\nChecksums-Sha256:\n %s %d %s\n"
                         % (version, digest, size, os.path.basename(orig)))
        self._index(repo, ["dpkg-scansources", "."], "Sources")

    def pin(self, version, priority):
        with open(os.path.join(self.base, "preferences.d", "crun"), "w") as handle:
            handle.write("Package: crun\nPin: version %s\nPin-Priority: %d\n" % (version, priority))

    @staticmethod
    def _index(repo, argv, name):
        out = subprocess.run(argv, cwd=repo, capture_output=True, text=True, check=True).stdout
        with open(os.path.join(repo, name), "w") as handle:
            handle.write(out)

    def run(self, *argv):
        return run_process(list(argv), 120)

    def update(self):
        rc, out, err = self.run("apt-get", "update", "-qq")
        assert rc == 0, err

    def installed_version(self):
        proc = subprocess.run(["dpkg-query", "--admindir", os.path.join(self.base, "dpkg"), "-W", "-f",
                               "${Version}", "crun"], capture_output=True, text=True, check=False)
        return proc.stdout


def sha256(path):
    import hashlib
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


@pytest.fixture
def apt(tmp_path, monkeypatch):
    private = PrivateApt(str(tmp_path / "apt"))
    monkeypatch.setenv("APT_CONFIG", private.config)
    private.add_binary("bookworm", INSTALLED)
    private.add_source("trixie-src", FIXED)
    return private


def offered_versions():
    return packages.Apt(shutil.which("apt-get")).available_versions("crun", 60, run_process)


def test_a_newer_source_package_is_not_offered(apt):
    apt.update()
    rc, madison, _err = apt.run("apt-cache", "madison", "crun")
    assert rc == 0 and FIXED in madison and "Sources" in madison, "the deb-src trap is not in place:\n" + madison
    assert offered_versions() == [INSTALLED]
    runtimes = [{"version": "1.8.1", "package": {"manager": "dpkg", "name": "crun", "version": INSTALLED}}]
    answer = packages.offered(runtimes, runner=run_process)
    assert (answer["checked"], answer["fixed_offered"]) == (True, None), answer


def test_a_fixed_binary_package_is_offered_and_installs(apt):
    apt.add_binary("fixed", FIXED)
    apt.update()
    versions = offered_versions()
    assert versions == [FIXED, INSTALLED]
    target = packages.best_fixed(versions)
    assert target == FIXED
    packages.Apt(shutil.which("apt-get")).install([("crun", target)], None, 120, run_process)
    assert apt.installed_version() == FIXED
    assert os.path.isfile(os.path.join(apt.base, "root", "usr", "bin", "crun"))


def test_a_version_pinned_away_is_not_offered(apt):
    apt.add_binary("fixed", FIXED)
    apt.pin(FIXED, -1)
    apt.update()
    assert offered_versions() == [INSTALLED]


def test_another_architectures_package_is_not_offered(apt):
    other = "arm64" if arch() != "arm64" else "amd64"
    apt.add_binary("foreign", FIXED, architecture=other)
    apt.update()
    assert offered_versions() == [INSTALLED]
