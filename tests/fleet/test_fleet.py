"""The playbooks over real SSH against a simulated fleet (tests/fleet/fleet.py).

Real: sshd in every host, Ansible's SSH connection, pipelining, the collection, apt's lock.
TEST STAND-INS (see fleet.py): the crun 1.20 (libkrun) and 1.21 binaries on seeded hosts are
scripts printing the real --version texts; the Debian 12 crun 1.8.1 is this machine's real one.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import time

import pytest

from ansible_run import ansible_playbook

pytestmark = pytest.mark.fleet

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FLEET_SCRIPT = os.path.join(HERE, "fleet.py")
SIZE = int(os.environ.get("FLEETFIX_FLEET_SIZE", "20"))


@pytest.fixture(scope="module")
def fleet():
    if os.geteuid() != 0:
        pytest.fail("the fleet simulator needs root (network and mount namespaces)")
    base = pathlib.Path(os.path.join(REPO, ".cache", "fleet-tests"))
    shutil.rmtree(str(base), ignore_errors=True)
    env = dict(os.environ, FLEETFIX_FLEET_DIR=str(base / "fleet"))
    subprocess.run([sys.executable, FLEET_SCRIPT, "up", str(SIZE), "--seed", "7"], env=env, check=True)
    with open(str(base / "fleet" / "truth.json")) as handle:
        truth = dict((host["host"], host) for host in json.load(handle))
    yield {"inventory": str(base / "fleet" / "inventory.json"), "truth": truth, "base": base, "env": env,
           "state": str(base / "fleet" / "state.json")}
    subprocess.run([sys.executable, FLEET_SCRIPT, "down"], env=env, check=True)
    shutil.rmtree(str(base), ignore_errors=True)
    leftovers = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert not [line for line in leftovers.splitlines() if line.startswith("fxh")], leftovers
    assert not [link for link in os.listdir("/sys/class/net") if link.startswith(("fxv", "fxbr"))]


def run(fleet, playbook, *args, inventories=()):
    extra = []
    for inventory in inventories:
        extra += ["-i", inventory]
    return ansible_playbook(extra + [playbook, "-e", "report_dir=%s" % (fleet["base"] / "reports")] + list(args),
                            inventory=fleet["inventory"])


def fleet_report(fleet):
    with open(str(fleet["base"] / "reports" / "fleet.json")) as handle:
        return json.load(handle)


def host_pid(fleet, host):
    with open(fleet["state"]) as handle:
        return json.load(handle)["pids"][host]


def test_the_seed_covers_every_kind_of_host(fleet):
    kinds = {host["kind"] for host in fleet["truth"].values()}
    assert {"no_crun", "debian_181", "affected_120", "fixed_121_stale"} <= kinds


def test_audit_classifies_every_host_as_seeded(fleet):
    result = run(fleet, "fleetfix.crun.audit")
    assert result.rc == 0, result.failure_messages()
    report = fleet_report(fleet)
    got = dict((row["host"], row) for row in report["hosts"])
    assert dict((h, got[h]["status"]) for h in fleet["truth"]) == \
        dict((h, t["expected_status"]) for h, t in fleet["truth"].items())
    assert dict((h, got[h]["unreadable_files"]) for h in fleet["truth"]) == \
        dict((h, len(t["stale"])) for h, t in fleet["truth"].items())
    assert dict((h, got[h]["suspicious_files"]) for h in fleet["truth"]) == \
        dict((h, len(t["symlinks"])) for h, t in fleet["truth"].items())


def test_remediate_fixes_every_host_in_batches_then_changes_nothing(fleet):
    args = ["-e", "upgrade_update_cache=false", "-e", "remediate_batch=5"]
    first = run(fleet, "fleetfix.crun.remediate", *args)
    assert first.rc == 0, first.failure_messages()
    report = fleet_report(fleet)
    assert report["counts"]["affected"] == 0 and report["counts"]["no_data"] == 0
    assert report["file_counts"]["unreadable_by_user"] == 0
    second = run(fleet, "fleetfix.crun.remediate", *args)
    assert second.rc == 0, second.failure_messages()
    changed = dict((host, stats["changed"]) for host, stats in second.data["stats"].items() if stats["changed"])
    assert changed == {}


def test_a_locked_package_manager_fails_that_host_alone(fleet, tmp_path):
    host = sorted(h for h, t in fleet["truth"].items() if t["kind"] == "affected_120")[0]
    holder = subprocess.Popen(
        ["nsenter", "-t", str(host_pid(fleet, host)), "-m", "/usr/bin/python3", "-c",
         "import fcntl, sys, time; f = open('/var/lib/apt/lists/lock', 'w'); "
         "fcntl.lockf(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(300)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        locked = tmp_path / "locked.yml"
        # only this host refreshes its package lists (and so meets the held lock); an extra var would
        # outrank the host var, so both live in an inventory
        locked.write_text(json.dumps({"all": {"vars": {"upgrade_update_cache": False},
                                              "hosts": {host: {"upgrade_update_cache": True}}}}))
        result = run(fleet, "fleetfix.crun.remediate", "-e", "remediate_batch=5",
                     "-e", "remediate_max_fail_percentage=100", inventories=[str(locked)])
    finally:
        holder.kill()
    failed = sorted(h for h, s in result.data["stats"].items() if s["failures"])
    assert failed == [host]
    messages = [r.get("msg", "") for r in result.results("Upgrade crun when a fixed version is offered", host=host)]
    assert any("locked by another process" in m and "nothing was changed" in m for m in messages), messages


def test_a_host_that_goes_away_mid_run_is_reported_unreachable_and_the_rest_finish(fleet):
    last = sorted(fleet["truth"], key=lambda h: int(h[3:]))[-1]
    killer = threading.Timer(3.0, lambda: subprocess.run(
        [sys.executable, FLEET_SCRIPT, "kill", last], env=fleet["env"], check=True))
    killer.start()
    started = time.monotonic()
    result = run(fleet, "fleetfix.crun.remediate", "-e", "upgrade_update_cache=false", "-e", "remediate_batch=5",
                 "-e", "remediate_max_fail_percentage=100")
    killer.join()
    assert time.monotonic() - started > 3.0, "the run ended before the host was stopped"
    unreachable = sorted(h for h, s in result.data["stats"].items() if s["unreachable"])
    assert unreachable == [last]
    assert all(s["failures"] == 0 for s in result.data["stats"].values())
    report = fleet_report(fleet)
    assert report["no_data_hosts"] == [last]
    assert report["hosts_total"] == len(fleet["truth"])
