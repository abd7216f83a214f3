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


class AwxJob:
    """One controller job as AWX runs it (ansible/awx awx/main/tasks/jobs.py, facts.py): a private data
    directory with the project, an inventory of the job's hosts, extra variables with awx_job_id, the
    jsonfile fact cache under artifacts/<job id>/fact_cache pre-filled from the controller's database
    (plain JSON per host, start_fact_cache) and read back after the job (finish_fact_cache)."""

    def __init__(self, base, job_id, hosts, inventory, facts_db, extravars):
        self.base, self.job_id, self.hosts, self.facts_db = base / ("job-%d" % job_id), job_id, hosts, facts_db
        shutil.copytree(os.path.join(REPO, "docs", "awx", "project"), str(self.base / "project"))
        (self.base / "inventory").mkdir(parents=True)
        with open(inventory) as handle:
            whole = json.load(handle)
        sliced = {"all": {"vars": whole["all"]["vars"],
                          "hosts": dict((h, whole["all"]["hosts"][h]) for h in hosts)}}
        (self.base / "inventory" / "hosts.json").write_text(json.dumps(sliced))
        (self.base / "env").mkdir()
        (self.base / "env" / "envvars").write_text(json.dumps({
            "ANSIBLE_COLLECTIONS_PATH": os.environ["ANSIBLE_COLLECTIONS_PATH"]}))
        (self.base / "env" / "extravars").write_text(json.dumps(dict(
            extravars, awx_job_id=job_id, report_dir=str(self.base / "reports"))))
        self.cache = self.base / "artifacts" / str(job_id) / "fact_cache"
        self.cache.mkdir(parents=True)
        for host in hosts:  # start_fact_cache
            if host in facts_db:
                (self.cache / host).write_text(json.dumps(facts_db[host]))
        self.written = time.time()

    def run(self, playbook, cmdline=""):
        import ansible_runner
        (self.base / "env" / "cmdline").write_text(cmdline)  # --check for a check job template
        runner = ansible_runner.run(private_data_dir=str(self.base), playbook=playbook, ident=str(self.job_id),
                                    quiet=True)
        stats = next(e for e in runner.events if e["event"] == "playbook_on_stats")
        for host in self.hosts:  # finish_fact_cache: a newer plain file is kept, a missing one clears the host
            path = self.cache / host
            if path.exists():
                if path.stat().st_mtime > self.written:
                    self.facts_db[host] = json.loads(path.read_text())
            else:
                self.facts_db.pop(host, None)
        return runner, stats["event_data"].get("artifact_data") or {}


def awx_slices(hosts, count):
    """The hosts of each slice, as Inventory.get_sliced_hosts takes them: ordered by name, [n-1::count]."""
    ordered = sorted(hosts)
    return [ordered[number - 1::count] for number in range(1, count + 1)]


def test_a_sliced_audit_run_as_awx_runs_it_gives_one_report_equal_to_the_unsliced_one(fleet):
    """Three slices of the fleet, each a job of its own with its own job id, their artifacts merged as
    a workflow merges them (dict.update in the order the jobs finished, WorkflowJob.get_effective_artifacts),
    then the report node: its fleet.json is the audit's above, and no slice's counts overwrote another's."""
    unsliced = fleet_report(fleet)
    facts_db, artifacts, base = {}, {}, fleet["base"] / "awx"
    hosts = sorted(fleet["truth"])
    jobs = [AwxJob(base, 101 + number, part, fleet["inventory"], facts_db, {"awx_workflow_job_id": 100})
            for number, part in enumerate(awx_slices(hosts, 3))]
    sizes = {}
    for job in (jobs[2], jobs[0], jobs[1]):  # they finish in any order
        runner, published = job.run("playbooks/audit.yml", "--check")
        assert runner.status == "successful", runner.stdout.read()[-3000:]
        assert set(published) == {"fleetfix_crun_rows_%d" % job.job_id, "fleetfix_crun_report_%d" % job.job_id}
        rows = published["fleetfix_crun_rows_%d" % job.job_id]  # compact JSON text
        assert sorted(json.loads(rows)) == sorted(job.hosts)
        sizes[job.job_id] = len(rows) / len(job.hosts)
        artifacts.update(published)
    report_job = AwxJob(base, 105, hosts, fleet["inventory"], facts_db, dict(artifacts, awx_workflow_job_id=100))
    runner, published = report_job.run("playbooks/report.yml")
    assert runner.status == "successful", runner.stdout.read()[-3000:]
    with open(str(report_job.base / "reports" / "fleet.json")) as handle:
        merged = json.load(handle)
    assert merged == unsliced
    assert set(published) == {"fleetfix_crun_report"}
    assert published["fleetfix_crun_report"]["hosts_total"] == len(hosts)
    assert sorted(h["host"] for h in published["fleetfix_crun_report"]["hosts"]) == hosts
    # the report node contacted no host: its only events are the controller's own tasks
    assert not [e for e in runner.events if e["event"] == "runner_on_ok" and e["event_data"].get("host") != hosts[0]]
    print("rows published per host: %s bytes (mean per slice)" % ", ".join("%.0f" % v for v in sizes.values()))
    # ansible-core 2.19 wrote its cache as s1_<host>, which the controller does not read: it cleared
    # every host's facts. A controller whose database holds the verdicts (an execution environment
    # with ansible-core 2.18) writes them as plain <host> files, which this ansible-core does not
    # read either: a report job without the slices' artifacts reads that directory itself.
    assert facts_db == {}
    for row_text in (artifacts["fleetfix_crun_rows_%d" % job.job_id] for job in jobs):
        facts_db.update((host, {"fleetfix_crun": row}) for host, row in json.loads(row_text).items())
    cache_job = AwxJob(base, 106, hosts, fleet["inventory"], facts_db, {"awx_workflow_job_id": 107})
    runner, published = cache_job.run("playbooks/report.yml")
    assert runner.status == "successful", runner.stdout.read()[-3000:]
    assert sorted(os.listdir(str(cache_job.cache))) == hosts  # plain <host> files, as the controller writes them
    with open(str(cache_job.base / "reports" / "fleet.json")) as handle:
        assert json.load(handle) == unsliced


def test_the_report_playbook_reads_a_fact_cache_without_contacting_any_host(fleet, tmp_path):
    """The audit with a jsonfile fact cache (this ansible-core's layout), then the report playbook
    from that cache alone: the same report, and one host with nothing cached is named as no data."""
    cache = str(tmp_path / "cache")
    env = {"ANSIBLE_CACHE_PLUGIN": "jsonfile", "ANSIBLE_CACHE_PLUGIN_CONNECTION": cache}
    inventory = json.loads(pathlib.Path(fleet["inventory"]).read_text())
    inventory["all"]["hosts"]["never-audited"] = {"ansible_host": "192.0.2.1"}  # TEST-NET-1: nothing answers
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    audited = ansible_playbook(["fleetfix.crun.audit", "--limit", "all:!never-audited",
                                "-e", "report_dir=%s" % (tmp_path / "audit")], env=env,
                               inventory=str(tmp_path / "inventory.json"))
    assert audited.rc == 0, audited.failure_messages()
    reported = ansible_playbook(["fleetfix.crun.report", "-e", "report_dir=%s" % (tmp_path / "report")], env=env,
                                inventory=str(tmp_path / "inventory.json"))
    assert reported.rc == 0, reported.failure_messages()
    with open(str(tmp_path / "report" / "fleet.json")) as handle:
        report = json.load(handle)
    assert report["no_data_hosts"] == ["never-audited"]
    assert [row for row in report["hosts"] if row["host"] != "never-audited"] == fleet_report(fleet)["hosts"]


def test_the_report_playbook_reads_the_facts_files_the_audit_left_on_reachable_hosts(fleet, tmp_path):
    """No fact cache, no artifacts: the verdicts come from each host's facts file, gathered with the
    setup module's local subset; an unreachable host is named as no data."""
    inventory = json.loads(pathlib.Path(fleet["inventory"]).read_text())
    inventory["all"]["hosts"]["unreachable-01"] = {"ansible_host": "192.0.2.1"}  # TEST-NET-1: nothing answers
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    reported = ansible_playbook(["fleetfix.crun.report", "-e", "fleetfix_crun_from_hosts=true",
                                 "-e", "report_dir=%s" % (tmp_path / "report"),
                                 "-e", "ansible_ssh_common_args='-o ConnectTimeout=3 -o StrictHostKeyChecking=no "
                                       "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR'"],
                                inventory=str(tmp_path / "inventory.json"))
    assert reported.rc == 4, reported.failure_messages()  # the unreachable host, and only it
    with open(str(tmp_path / "report" / "fleet.json")) as handle:
        report = json.load(handle)
    assert report["no_data_hosts"] == ["unreachable-01"]
    assert [row for row in report["hosts"] if row["host"] != "unreachable-01"] == fleet_report(fleet)["hosts"]


@pytest.fixture
def redis_cache(tmp_path):
    """A real redis-server (Debian's) on a free loopback port, with a password, no persistence;
    stopped after the test. The connection string community.general's redis cache plugin reads."""
    import socket as sockets
    import redis
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: scripts/setup-host installs it")
    with sockets.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    password = os.urandom(12).hex()
    (tmp_path / "redis").mkdir()
    server = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--requirepass", password,
                               "--save", "", "--appendonly", "no", "--dir", str(tmp_path / "redis")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port, password=password)
    try:
        for dummy in range(100):
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        yield {"uri": "127.0.0.1:%d:0:%s" % (port, password), "client": client}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_two_controllers_sharing_a_redis_fact_cache_give_one_report_of_the_whole_fleet(fleet, tmp_path, redis_cache):
    """Each controller (its own ansible-playbook process and home) audits half the fleet into one
    redis; the report playbook, a third, reads the cache alone and covers every host."""
    hosts = sorted(fleet["truth"])
    for number, part in enumerate((hosts[::2], hosts[1::2])):
        env = {"ANSIBLE_CACHE_PLUGIN": "community.general.redis", "ANSIBLE_CACHE_PLUGIN_CONNECTION": redis_cache["uri"],
               "ANSIBLE_HOME": str(tmp_path / ("controller-%d" % number))}
        audited = ansible_playbook(["fleetfix.crun.audit", "--limit", ",".join(part),
                                    "-e", "report_dir=%s" % (tmp_path / ("audit-%d" % number))], env=env,
                                   inventory=fleet["inventory"])
        assert audited.rc == 0, audited.failure_messages()
    assert len(redis_cache["client"].keys("ansible_facts*")) >= len(hosts)
    reported = ansible_playbook(["fleetfix.crun.report", "-e", "report_dir=%s" % (tmp_path / "report")],
                                env={"ANSIBLE_CACHE_PLUGIN": "community.general.redis",
                                     "ANSIBLE_CACHE_PLUGIN_CONNECTION": redis_cache["uri"]},
                                inventory=fleet["inventory"])
    assert reported.rc == 0, reported.failure_messages()
    with open(str(tmp_path / "report" / "fleet.json")) as handle:
        assert json.load(handle) == fleet_report(fleet)


def test_what_changed_after_remediating_half_of_the_affected_hosts(fleet, tmp_path):
    """The morning view of a rollout: the fleet audited into a fact cache, half of the affected hosts
    remediated, then the report playbook from the cache against the first report."""
    cache = {"ANSIBLE_CACHE_PLUGIN": "jsonfile", "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp_path / "cache")}
    first = ansible_playbook(["fleetfix.crun.audit", "-e", "report_dir=%s" % (tmp_path / "first")], env=cache,
                             inventory=fleet["inventory"])
    assert first.rc == 0, first.failure_messages()
    # the first of them stays as it is for the locked package manager test below
    half = by_kind(fleet, "krun_181")[1::2]
    assert half
    remediated = ansible_playbook(["fleetfix.crun.remediate", "-e", "upgrade_update_cache=false", "--limit",
                                   ",".join(half), "-e", "report_dir=%s" % (tmp_path / "remediation")], env=cache,
                                  inventory=fleet["inventory"])
    assert remediated.rc == 0, remediated.failure_messages()
    later = ansible_playbook(["fleetfix.crun.report", "-e", "report_dir=%s" % (tmp_path / "later"),
                              "-e", "report_previous=%s" % (tmp_path / "first" / "fleet.json")], env=cache,
                             inventory=fleet["inventory"])
    assert later.rc == 0, later.failure_messages()
    with open(str(tmp_path / "later" / "fleet.json")) as handle:
        changes = json.load(handle)["changes"]
    affected = sorted((h for h, t in fleet["truth"].items() if t["expected_status"] == "affected"),
                      key=lambda h: int(h[3:]))
    assert [e["host"] for e in changes["newly_fixed"]] == sorted(half, key=lambda h: int(h[3:]))
    assert [e["host"] for e in changes["still_affected"]] == [h for h in affected if h not in half]
    assert changes["counts"]["newly_affected"] == 0 and changes["disappeared"] == [] and changes["new_hosts"] == []
    page = (tmp_path / "later" / "fleet.html").read_text()
    assert page.index('<table id="changes">') < page.index('<table id="next">')
    suites = dict((s.get("name"), s) for s in ElementTree.parse(str(tmp_path / "later" / "junit.xml")).getroot())
    assert suites["changes since the previous report"].get("failures") == "0"


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
