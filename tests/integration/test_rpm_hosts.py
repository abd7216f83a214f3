"""The dnf and zypper adapters against the real tools, on RPM-family test hosts.

Real: rpm 4.18, dnf 4.14 and zypper 1.14 from Debian's archive, an rpm database, an rpm-md
repository made by createrepo_c, and rpm packages holding the real upstream crun 1.8.1 and 1.21
builds (+LIBKRUN, tests/realcrun/build); the collection's own package and audit code runs inside
the container (tests/integration/rpm_driver.py). Built by tests/images/build dnf zypper
(tests/images/rpm-host says how). What is not Fedora or openSUSE: the base system under the rpm
database is Debian's, which a stub package (fleetfix-base) stands for.
"""

import json
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.podman

HERE = os.path.dirname(os.path.abspath(__file__))
MANAGERS = ("dnf", "zypper")
REPO_FILE = {"dnf": "/etc/yum.repos.d/fleetfix.repo", "zypper": "/etc/zypp/repos.d/fleetfix.repo"}
# Another process holding the manager's lock: dnf's pid file, zypper's, or rpm's own transaction lock.
HOLD_LOCK = {
    "dnf": "sleep 300 & echo $! > /var/lib/dnf/rpmdb_lock.pid",
    "zypper": "sleep 300 & echo $! > /run/zypp.pid",
    "rpm": "python3 -c 'import fcntl, time; f = open(\"/var/lib/rpm/.rpm.lock\", \"a\"); "
           "fcntl.lockf(f, fcntl.LOCK_EX); open(\"/tmp/locked\", \"w\").close(); time.sleep(300)' & "
           "while [ ! -e /tmp/locked ]; do sleep 0.1; done",
}
FIXED_RPM = "/srv/fleetfix-packages/crun-1.21-1.x86_64.rpm"


@pytest.fixture(scope="module")
def images():
    podman = shutil.which("podman")
    if podman is None:
        pytest.fail("podman is not installed: scripts/setup-host installs it")
    for manager in MANAGERS:
        proc = subprocess.run([podman, "image", "exists", "localhost/fleetfix-test-%s" % manager], check=False)
        if proc.returncode != 0:
            pytest.fail("localhost/fleetfix-test-%s is missing: run tests/images/build dnf zypper "
                        "(scripts/test does)" % manager)
    return podman


def on_host(podman, manager, call, setup="", **kwargs):
    """Run one call in a fresh container of that host; (its result or error, crun --version after)."""
    collections = os.environ["ANSIBLE_COLLECTIONS_PATH"].split(os.pathsep)[0]
    script = '%s\npython3 /driver.py "$1"\necho "--- after"\ncrun --version | head -1' % (setup or ":")
    proc = subprocess.run(
        [podman, "run", "--rm", "--network", "none", "-v", "%s:/collections:ro" % collections,
         "-v", "%s:/driver.py:ro" % os.path.join(HERE, "rpm_driver.py"),
         "-v", "%s:/support/support.py:ro" % os.path.join(os.path.dirname(HERE), "support.py"),
         "-e", "PYTHONPATH=/collections:/support",
         "localhost/fleetfix-test-%s" % manager, "sh", "-c", script, "sh",
         json.dumps({"call": call, "kwargs": kwargs})],
        capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr
    before, after = proc.stdout.split("--- after\n")
    return json.loads(before.strip().splitlines()[-1]), after.strip()


@pytest.mark.parametrize("manager", MANAGERS)
def test_the_audit_names_the_rpm_owner_and_the_fixed_version_offered(images, manager):
    answer, _after = on_host(images, manager, "audit", check_upgrade=True)
    report = answer["result"]
    runtime = report["runtimes"][0]
    assert (runtime["path"], runtime["version"]) == ("/usr/bin/crun", "1.8.1")
    assert runtime["package"] == {"manager": "rpm", "name": "crun", "version": "1.8.1-1", "upstream_version": "1.8.1"}
    assert (report["upgrade"]["manager"], report["upgrade"]["fixed_offered"]) == (manager, "1.21-1")


@pytest.mark.parametrize("manager", MANAGERS)
def test_the_fixed_version_offered_is_installed(images, manager):
    answer, after = on_host(images, manager, "upgrade", update=False, timeout=120)
    assert (answer["result"]["changed"], answer["result"]["target_version"]) == (True, "1.21-1"), answer
    assert after == "crun version 1.21"  # the real 1.21 binary from the package


@pytest.mark.parametrize("manager", MANAGERS)
def test_a_pinned_version_is_installed_and_an_unfixed_pin_changes_nothing(images, manager):
    answer, after = on_host(images, manager, "upgrade", update=False, version="1.21-1", timeout=120)
    assert answer["result"]["target_version"] == "1.21-1" and after == "crun version 1.21", answer
    answer, after = on_host(images, manager, "upgrade", update=False, version="1.8.1-1", timeout=120)
    assert (answer["result"]["changed"], answer["result"]["upgrade_available"]) == (False, False), answer
    assert after == "crun version 1.8.1"


@pytest.mark.parametrize("manager", MANAGERS)
@pytest.mark.parametrize("repository", ["offers no fixed version", "is disabled", "offers only source rpms"])
def test_nothing_offered_changes_nothing(images, manager, repository):
    # createrepo_c cannot rename its new repodata over the old one on overlayfs: remove it first
    remake = "rm -rf /srv/fleetfix-repo/repodata && createrepo_c -q /srv/fleetfix-repo"
    setup = {
        "offers no fixed version": "rm /srv/fleetfix-repo/crun-1.21-1.x86_64.rpm && " + remake,
        "is disabled": "rm %s" % REPO_FILE[manager],
        "offers only source rpms": "rm /srv/fleetfix-repo/*.rpm && cp /srv/fleetfix-packages/crun-1.21-1.src.rpm "
                                   "/srv/fleetfix-repo/ && " + remake,
    }[repository]
    if manager == "dnf" and repository != "is disabled":
        setup += " && dnf -q clean all && dnf -q makecache"
    elif manager == "zypper" and repository != "is disabled":
        setup += " && zypper --non-interactive refresh --force >/dev/null"
    answer, after = on_host(images, manager, "upgrade", setup=setup, update=False, timeout=120)
    assert "result" in answer, answer
    assert (answer["result"]["changed"], answer["result"]["upgrade_available"]) == (False, False), answer
    assert after == "crun version 1.8.1"


@pytest.mark.parametrize("manager, holder", [("dnf", "dnf"), ("dnf", "rpm"), ("zypper", "zypper"), ("zypper", "rpm")])
def test_a_held_lock_fails_clearly_and_changes_nothing(images, manager, holder):
    answer, after = on_host(images, manager, "upgrade", setup=HOLD_LOCK[holder], update=False, timeout=60)
    assert "error" in answer, answer
    assert "locked by another process, nothing was changed" in answer["error"], answer
    assert after == "crun version 1.8.1"


@pytest.mark.parametrize("manager", MANAGERS)
def test_an_unsigned_package_file_is_installed(images, manager):
    answer, after = on_host(images, manager, "upgrade", package_file=FIXED_RPM, update=False, timeout=120)
    assert "result" in answer and answer["result"]["changed"] is True, answer
    assert after == "crun version 1.21"


UPGRADED = "rpm -U --force-debian /srv/fleetfix-packages/crun-1.21-1.x86_64.rpm 2>/dev/null"


@pytest.mark.parametrize("manager", MANAGERS)
def test_rollback_goes_back_to_the_version_asked_for(images, manager):
    answer, after = on_host(images, manager, "rollback", setup=UPGRADED, version="1.8.1-1", update=False, timeout=120)
    assert "result" in answer and answer["result"]["changed"] is True, answer
    assert (answer["result"]["installed_before"], after) == ({"crun": "1.21-1"}, "crun version 1.8.1")


@pytest.mark.parametrize("manager", MANAGERS)
def test_rollback_to_a_version_not_offered_changes_nothing(images, manager):
    answer, after = on_host(images, manager, "rollback", setup=UPGRADED, version="1.7.9-1", update=False, timeout=120)
    assert "is not offered by the configured repositories" in answer.get("error", ""), answer
    assert after == "crun version 1.21"
