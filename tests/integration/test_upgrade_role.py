"""The upgrade role on this machine's real apt and real crun (Debian 12: 1.8.1).

Debian 12 offers no fixed crun, so the role must report upgrade_available=false and change
nothing; and with apt's lock held by another process it must fail with a clear message.
"""

import fcntl
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(shutil.which("apt-get") is None or shutil.which("crun") is None,
                                reason="needs apt and crun (scripts/setup-host installs crun)")


def apt_lists():
    """Where this machine's apt keeps its lists (and their lock): the default, or what APT_CONFIG says."""
    out = subprocess.run(["apt-config", "shell", "LISTS", "Dir::State::Lists/d"], capture_output=True, text=True,
                         check=True).stdout
    return out.split("=", 1)[1].strip().strip("'\"").rstrip("/") if "=" in out else "/var/lib/apt/lists"


def installed_crun():
    return subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "crun"], capture_output=True, text=True,
                          check=True).stdout


def test_no_fixed_crun_offered_reports_unavailable_and_changes_nothing(playbook):
    before = installed_crun()
    run = playbook("upgrade_role.yml", "-e", "upgrade_update_cache=false")
    assert run.rc == 0, run.failure_messages()
    result = run.results("Upgrade crun when a fixed version is offered")[0]
    assert (result["changed"], result["upgrade_available"], result["upgrade_needed"]) == (False, False, True)
    assert "none is 1.21 or newer" in result["reason"]
    assert installed_crun() == before


def test_a_locked_package_manager_fails_the_host_clearly_and_changes_nothing(playbook):
    before = installed_crun()
    with open(os.path.join(apt_lists(), "lock"), "w") as lock:
        fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        run = playbook("upgrade_role.yml", "-e", "upgrade_update_cache=true")
    assert run.rc != 0
    assert any("locked by another process" in m and "nothing was changed" in m for m in run.failure_messages()), \
        run.failure_messages()
    assert installed_crun() == before


def test_check_mode_reports_without_refreshing_or_installing(playbook):
    lists = apt_lists()
    stamp = max((os.stat(os.path.join(lists, f)).st_mtime for f in os.listdir(lists)), default=0)
    run = playbook("upgrade_role.yml", "--check")
    assert run.rc == 0, run.failure_messages()
    assert run.results("Upgrade crun when a fixed version is offered")[0]["upgrade_available"] is False
    assert max((os.stat(os.path.join(lists, f)).st_mtime for f in os.listdir(lists)), default=0) == stamp


def test_pinned_version_and_package_file_together_are_refused(playbook):
    run = playbook("upgrade_role.yml", "-e", "upgrade_version=1.21-1", "-e", "upgrade_package_file=/tmp/x.deb")
    assert run.rc != 0 and any("exclude each other" in m for m in run.failure_messages())
