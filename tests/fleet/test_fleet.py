"""The playbooks over real SSH against a simulated fleet (tests/fleet/fleet.py).

Real: sshd in every host, Ansible's SSH connection, pipelining, the collection, apt and dpkg and
apt's lock, and every crun: upstream crun 1.8.1 (affected) and 1.21 (fixed) built with the krun
handler and installed from .deb packages, and this machine's Debian crun 1.8.1.
TEST STAND-IN (see fleet.py): libkrun.so.1, the microVM monitor, which no host here can run.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import time
from xml.etree import ElementTree

import pytest

from ansible_run import ansible_playbook
from support import png_pixels

pytestmark = pytest.mark.fleet

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FLEET_SCRIPT = os.path.join(HERE, "fleet.py")
SIZE = int(os.environ.get("FLEETFIX_FLEET_SIZE", "20"))
# Kept after the run, for people to look at.
ARTIFACTS = os.environ.get("FLEETFIX_ARTIFACTS", os.path.join(REPO, ".cache", "artifacts"))


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


def host_shell(fleet, host, command):
    """A command in the host's mount namespace (what its sshd would run)."""
    return subprocess.run(["nsenter", "-t", str(host_pid(fleet, host)), "-m", "sh", "-c", command],
                          capture_output=True, text=True, check=True).stdout.strip()


def by_kind(fleet, kind):
    return sorted(h for h, t in fleet["truth"].items() if t["kind"] == kind)


def test_the_seed_covers_every_kind_of_host(fleet):
    kinds = {host["kind"] for host in fleet["truth"].values()}
    assert {"no_crun", "debian_181", "krun_181", "fixed_121_stale", "krun_by_path", "image_store_stale"} <= kinds
    # every crun is real code, installed as its package
    crun_of = {"krun_181": "1.8.1-1+fleetfix1 crun version 1.8.1 +LIBKRUN",
               "fixed_121_stale": "1.21-1+fleetfix1 crun version 1.21 +LIBKRUN"}
    for kind, expected in crun_of.items():
        host = sorted(h for h, t in fleet["truth"].items() if t["kind"] == kind)[0]
        shown = host_shell(fleet, host, "echo $(dpkg-query -W -f '${Version}' crun) $(crun --version | head -1)"
                                        " $(crun --version | grep -o +LIBKRUN)")
        assert shown == expected, (host, shown)


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


def chromium(*args):
    """Debian's chromium, headless, in a network namespace of its own: the page must need nothing from outside."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("chromium is not installed: scripts/setup-host installs it")
    return subprocess.run(["unshare", "--net", binary, "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars"] + list(args), capture_output=True, text=True, timeout=120, check=True)


def test_the_html_and_junit_reports_show_the_seeded_fleet(fleet):
    """Reads the reports of the audit run above: the HTML page as Chromium renders it, and the JUnit file."""
    reports, truth = fleet["base"] / "reports", fleet["truth"]
    expected = dict((status, sum(1 for t in truth.values() if t["expected_status"] == status))
                    for status in ("affected", "unknown", "mitigated", "fixed", "not_applicable"))
    page = "file://%s" % (reports / "fleet.html")
    dom = chromium("--dump-dom", page).stdout
    shown = dict(re.findall(r'<b id="count-([a-z_]+)">(\d+)</b>', dom))
    assert dict((s, int(shown[s])) for s in expected) == expected and shown["no_data"] == "0"
    assert re.search(r'<span id="hosts-total">(\d+)</span>', dom).group(1) == str(len(truth))
    hosts_table = dom[dom.index('<table id="hosts">'):]
    hosts_table = hosts_table[:hosts_table.index("</table>")]
    affected = sorted(h for h, t in truth.items() if t["expected_status"] == "affected")
    assert all(">%s<" % h in hosts_table for h in affected) and "recommended action" in hosts_table
    files_table = dom[dom.index('<table id="files">'):]
    files_table = files_table[:files_table.index("</table>")]
    assert files_table.count("<tr>") - 1 == sum(len(t["stale"]) + len(t["symlinks"]) for t in truth.values())

    os.makedirs(ARTIFACTS, exist_ok=True)
    screenshot = os.path.join(ARTIFACTS, "fleet-report.png")
    chromium("--screenshot=%s" % screenshot, "--window-size=1280,1600", page)
    width, _height, colours = png_pixels(screenshot)
    # the chart's and tiles' colours are on the page as painted: red for affected, green for fixed
    assert width == 1280 and colours.get((0xC6, 0x28, 0x28), 0) > 500 and colours.get((0x2E, 0x7D, 0x32), 0) > 500
    print("screenshot of the fleet report: %s" % screenshot)

    suites = dict((s.get("name"), s) for s in ElementTree.parse(str(reports / "junit.xml")).getroot())
    file_mode = suites["crun-1685"]
    assert int(file_mode.get("tests")) == len(truth) and int(file_mode.get("failures")) == len(affected)
    assert sorted(c.get("name") for c in file_mode if c.find("failure") is not None) == affected


def test_a_locked_package_manager_fails_that_host_alone(fleet, tmp_path):
    """Runs before any remediation, while the affected hosts still wait for their upgrade."""
    host = sorted(h for h, t in fleet["truth"].items() if t["kind"] == "krun_181")[0]
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


def test_the_stores_and_runtimes_only_the_tools_configuration_names_decide_the_verdict(fleet):
    """Reads the audit run above: the host whose krun is podman's default runtime by path, and the
    host whose stale file is only in an additional image store, are affected for what they are."""
    rows = dict((row["host"], row) for row in fleet_report(fleet)["hosts"])
    (by_path,), (image_store,) = by_kind(fleet, "krun_by_path"), by_kind(fleet, "image_store_stale")
    assert rows[by_path]["status"] == "affected" and "/opt/vm/bin/krun=1.8.1" in rows[by_path]["crun_versions"]
    assert "krun entry point /opt/vm/bin/krun" in rows[by_path]["summary"]
    assert (rows[image_store]["status"], rows[image_store]["unreadable_files"]) == ("affected", 1)
    files = [f for f in fleet_report(fleet)["files"] if f["host"] == image_store]
    assert [(f["storage_root"], f["impact"], f["image_names"]) for f in files] == [
        ("/usr/lib/containers/storage", "image_layer", "localhost/shared:1")]


def test_remediate_fixes_every_host_in_batches_then_changes_nothing(fleet):
    # the host running crun 1.8.1 by path outside any package stays affected by CVE-2025-24965 (the
    # hook mitigates only crun-1685): remediation fails it, and says why
    (by_path,) = by_kind(fleet, "krun_by_path")
    alone = run(fleet, "fleetfix.crun.remediate", "-e", "upgrade_update_cache=false", "--limit", by_path)
    assert alone.rc == 2 and any("still affected after remediation" in m and "CVE-2025-24965 affected" in m
                                 for m in alone.failure_messages()), alone.failure_messages()
    args = ["-e", "upgrade_update_cache=false", "-e", "remediate_batch=5", "--limit", "all:!%s" % by_path]
    first = run(fleet, "fleetfix.crun.remediate", *args)
    assert first.rc == 0, first.failure_messages()
    report = fleet_report(fleet)
    assert report["counts"]["affected"] == 0 and report["counts"]["no_data"] == 0
    assert report["hosts_total"] == len(fleet["truth"]) - 1  # the play's hosts: --limit left one out
    assert report["file_counts"]["unreadable_by_user"] == 0
    # apt upgraded every affected host from its local repository to the real 1.21 build
    upgraded = dict((host, host_shell(fleet, host, "dpkg-query -W -f '${Version}' crun; crun --version | head -1"))
                    for host, t in fleet["truth"].items() if t["kind"] == "krun_181")
    assert upgraded and set(upgraded.values()) == {"1.21-1+fleetfix1crun version 1.21"}, upgraded
    second = run(fleet, "fleetfix.crun.remediate", *args)
    assert second.rc == 0, second.failure_messages()
    changed = dict((host, stats["changed"]) for host, stats in second.data["stats"].items() if stats["changed"])
    assert changed == {}


def test_a_host_that_goes_away_mid_run_is_reported_unreachable_and_the_rest_finish(fleet):
    # every host gets a new stale file, so every host has work after its audit and the last one is
    # still waiting for its batch when it goes away
    added = json.loads(subprocess.run([sys.executable, FLEET_SCRIPT, "stale", "--every", "1"], env=fleet["env"],
                                      check=True, capture_output=True, text=True).stdout)
    assert len(added) == len(fleet["truth"])
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
    (by_path,) = by_kind(fleet, "krun_by_path")  # fails as in the remediate test above
    assert sorted(h for h, s in result.data["stats"].items() if s["failures"]) == [by_path]
    report = fleet_report(fleet)
    assert report["hosts_total"] == len(fleet["truth"])
    # gone before its audit: no data; gone after it: the verdict it had before any change
    statuses = dict((h["host"], h["status"]) for h in report["hosts"])
    assert statuses[last] in ("no_data", "affected")
    assert all(status != "affected" for host, status in statuses.items() if host not in (last, by_path)), statuses
