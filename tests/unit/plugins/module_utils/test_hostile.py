"""The adversarial corpus: what a local user or an image author can plant, against the root-run scan.

Each test is one attack from docs/security.md, on a constructed tree. The scan runs as root
(these tests need root, as the collection does); a rootless user's tree is owned by that user,
so the scan reads it as that user, as on a real host.
"""

import errno
import json
import os
import signal
import stat
import threading
import time

import pytest

from ansible_collections.fleetfix.crun.plugins.module_utils import _conf as conf
from ansible_collections.fleetfix.crun.plugins.module_utils import _hostfs as hostfs
from ansible_collections.fleetfix.crun.plugins.module_utils import _storage as storage
from support import CONFIG_NAME, StorageTree

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the collection runs as root; so does its attacker corpus")

SECRET = "root:$y$j9T$SECRETSECRETSECRET:19000:0:99999:7:::"
USER = 1000
HOME = "/home/mallory"
ROOTLESS = HOME + "/.local/share/containers/storage"


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def write(path, text, mode=0o644, owner=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)
    if owner is not None:
        os.chown(path, owner, owner)
    return path


@pytest.fixture
def host(searchable_tmp):
    """A root with one rootless user (mallory, uid 1000, owning her home) and a root-only secret."""
    write(os.path.join(searchable_tmp, "etc/passwd"),
          "root:x:0:0::/root:/bin/sh\nmallory:x:%d:%d::%s:/bin/sh\n" % (USER, USER, HOME))
    secret = write(os.path.join(searchable_tmp, "etc/shadow"), SECRET + "\n", mode=0o600)
    os.makedirs(os.path.join(searchable_tmp, HOME.lstrip("/"), ".config/containers"))
    StorageTree(searchable_tmp, ROOTLESS, owner=USER)
    return {"root": searchable_tmp, "secret": secret, "home": os.path.join(searchable_tmp, HOME.lstrip("/"))}


def assert_no_secret(result):
    text = json.dumps(result)
    assert "SECRET" not in text and "j9T" not in text, text


# --- confidentiality -----------------------------------------------------------------------------

def test_a_users_storage_conf_symlinked_to_shadow_leaks_nothing(host):
    os.symlink(host["secret"], os.path.join(host["home"], ".config/containers/storage.conf"))
    os.lchown(os.path.join(host["home"], ".config/containers/storage.conf"), USER, USER)
    result = storage.scan(host["root"])
    assert_no_secret(result)
    assert any("storage.conf" in e["error"] for e in result["errors"]), result["errors"]


def test_a_users_storage_conf_hard_linked_to_shadow_leaks_nothing(host):
    os.link(host["secret"], os.path.join(host["home"], ".config/containers/storage.conf"))
    result = storage.scan(host["root"])
    assert_no_secret(result)
    assert any("storage.conf" in e["error"] for e in result["errors"]), result["errors"]


def test_a_parse_error_names_the_line_and_never_quotes_the_file(tmp_path):
    path = write(str(tmp_path / "storage.conf"), "[storage]\n" + SECRET + "\n")
    tables, error = conf.read("/", path)
    assert tables == {} and error == "%s: expected key = value at line 2" % path


def test_a_containers_json_readable_only_by_root_is_not_read_for_the_user(host):
    tree = StorageTree(host["root"], ROOTLESS, owner=USER)
    tree.add_krun_config("c1", 0o700, uid=USER)
    containers = os.path.join(tree.full, "overlay-containers", "containers.json")
    os.unlink(containers)
    os.link(host["secret"], containers)
    result = storage.scan(host["root"])
    assert_no_secret(result)
    assert result["files"][0]["container_id"] is None


# --- integrity -----------------------------------------------------------------------------------

@pytest.fixture
def victim(host):
    """A root-owned storage tree outside mallory's home with an owner-only config: what she aims at."""
    tree = StorageTree(host["root"], "/srv/victim")
    path = tree.add_krun_config("v1", 0o700)
    return {"tree": tree, "path": path}


@pytest.mark.parametrize("planted", ["graphroot", "overlay", "layer", "diff"])
def test_a_symlinked_directory_in_a_users_storage_is_never_followed(host, victim, planted):
    own = os.path.join(host["root"], ROOTLESS.lstrip("/"))
    target = victim["tree"].full
    if planted == "graphroot":
        os.rename(own, own + ".old")
        link, points_to = own, target
    elif planted == "overlay":
        os.rmdir(os.path.join(own, "overlay"))
        link, points_to = os.path.join(own, "overlay"), os.path.join(target, "overlay")
    elif planted == "layer":
        link, points_to = os.path.join(own, "overlay", "layer-v1"), os.path.join(target, "overlay", "layer-v1")
    else:
        os.makedirs(os.path.join(own, "overlay", "layer-v1"))
        os.chown(os.path.join(own, "overlay", "layer-v1"), USER, USER)
        link, points_to = os.path.join(own, "overlay", "layer-v1", "diff"), \
            os.path.join(target, "overlay", "layer-v1", "diff")
    os.symlink(points_to, link)
    os.lchown(link, USER, USER)
    result = storage.scan(host["root"], fix=True)
    assert mode_of(victim["path"]) == 0o700
    assert [f["changed"] for f in result["files"] if f["storage_owner"] == "mallory"] in ([], [False])


def test_a_symlinked_directory_in_rootful_storage_is_never_followed(host, victim):
    tree = StorageTree(host["root"])
    os.symlink(os.path.join(victim["tree"].full, "overlay", "layer-v1"), os.path.join(tree.full, "overlay", "l2"))
    storage.scan(host["root"], fix=True)
    assert mode_of(victim["path"]) == 0o700


def test_a_hard_linked_config_is_not_changed(host, victim):
    tree = StorageTree(host["root"])
    rootfs = tree.add_container("c2")
    os.link(victim["path"], os.path.join(rootfs, CONFIG_NAME))
    result = storage.scan(host["root"], extra_roots=[], fix=True)
    linked = [f for f in result["files"] if f["container_id"] == "c2"][0]
    assert (linked["changed"], "hard links" in linked["error"]) == (False, True)
    assert mode_of(victim["path"]) == 0o700


def test_a_config_owned_by_another_user_in_rootless_storage_is_not_changed(host):
    tree = StorageTree(host["root"], ROOTLESS, owner=USER)
    path = tree.add_krun_config("c1", 0o700, uid=USER)
    os.chown(path, 2000, 2000)
    result = storage.scan(host["root"], fix=True)
    assert mode_of(path) == 0o700
    assert "owned by uid 2000" in result["files"][0]["error"]


def test_a_root_owned_config_in_a_users_storage_is_not_changed_and_says_why(host):
    """The user may have moved a root-owned file there (a directory of theirs that root wrote in):
    root must not chmod it, and the user cannot; the scan says so instead of an EPERM."""
    path = StorageTree(host["root"], ROOTLESS, owner=USER).add_krun_config("c1", 0o700, uid=USER)
    os.chown(path, 0, 0)
    result = storage.scan(host["root"], fix=True)
    assert mode_of(path) == 0o700
    record = result["files"][0]
    assert (record["changed"], record["status"]) == (False, storage.UNREADABLE)
    assert "owned by uid 0, not by the storage's owner" in record["error"]


SUBORDINATE = 100000  # mallory's first subordinate uid in the fixture's /etc/subuid


@pytest.fixture
def subuid(host):
    write(os.path.join(host["root"], "etc/subuid"), "mallory:%d:65536\nother:300000:65536\n" % SUBORDINATE)
    return host


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_stale_config_of_a_users_subordinate_id_is_fixed_by_root_walking_safely(subuid, check_mode):
    """A file of the user's subordinate uid (the container's root in a user namespace of its own,
    e.g. --userns=keep-id): the user's child cannot chmod it, so root does, walking as safely."""
    tree = StorageTree(subuid["root"], ROOTLESS, owner=USER)
    path = tree.add_krun_config("c1", 0o700, uid=USER)
    os.chown(path, SUBORDINATE, SUBORDINATE)
    os.chown(os.path.dirname(path), SUBORDINATE + 1, SUBORDINATE + 1)  # a diff/ of a mapped id
    result = storage.scan(subuid["root"], fix=True, check_mode=check_mode)
    record = result["files"][0]
    assert result["errors"] == [] and "fix_as_root" not in record
    assert (record["changed"], record["mode_before"], record["mode_after"]) == (True, "0700", "0444")
    # check mode shows what is: still owner-only, the fix's result beside it
    assert (record["status"], record["mode"]) == ((storage.UNREADABLE, "0700") if check_mode else (storage.OK, "0444"))
    assert mode_of(path) == (0o700 if check_mode else 0o444)


def test_a_config_of_another_users_subordinate_id_is_not_changed(subuid):
    path = StorageTree(subuid["root"], ROOTLESS, owner=USER).add_krun_config("c1", 0o700, uid=USER)
    os.chown(path, 300000, 300000)
    result = storage.scan(subuid["root"], fix=True)
    assert mode_of(path) == 0o700 and "owned by uid 300000" in result["files"][0]["error"]


def test_a_symlink_swapped_in_before_root_walks_to_a_subordinate_file_is_not_followed(subuid, victim):
    """Between the user's child reporting the file and root's walk, the user replaces the layer's
    diff/ with a symlink to a directory holding root's file: root refuses the component."""
    tree = StorageTree(subuid["root"], ROOTLESS, owner=USER)
    path = tree.add_krun_config("c1", 0o700, uid=USER)
    os.chown(path, SUBORDINATE, SUBORDINATE)
    diff = os.path.dirname(path)

    def child_then_swap(uid, gid, groups, func, args, timeout):
        result = hostfs.run_as_user(uid, gid, groups, func, args, timeout)
        os.rename(diff, diff + ".moved")
        os.symlink(os.path.dirname(victim["path"]), diff)
        return result
    result = storage.scan(subuid["root"], fix=True, as_user=child_then_swap)
    assert mode_of(victim["path"]) == 0o700 and mode_of(diff + ".moved/" + CONFIG_NAME) == 0o700
    assert result["files"][0]["changed"] is False and "symlink" in result["files"][0]["error"]


def test_a_users_own_stale_config_is_fixed_as_that_user(host):
    path = StorageTree(host["root"], ROOTLESS, owner=USER).add_krun_config("c1", 0o700, uid=USER)
    result = storage.scan(host["root"], fix=True)
    assert (mode_of(path), result["files"][0]["changed"], result["files"][0]["process_uid"]) == (0o444, True, USER)


def test_a_directory_owned_by_another_user_in_rootful_storage_is_an_unsafe_transition(host):
    tree = StorageTree(host["root"])
    path = tree.add_krun_config("c1", 0o700)
    os.chown(os.path.dirname(path), USER, USER)  # the layer's diff/ handed to an unprivileged user
    result = storage.scan(host["root"], fix=True)
    assert mode_of(path) == 0o700 and result["files"] == []
    assert "unsafe path" in result["errors"][0]["error"]


def test_a_swap_race_between_check_and_chmod_never_changes_the_target(host, victim):
    """A thread swaps the name between a regular file and a symlink to the victim, for 2 s at most."""
    tree = StorageTree(host["root"])
    rootfs = tree.add_container("racer")
    name = os.path.join(rootfs, CONFIG_NAME)
    decoy = os.path.join(rootfs, "decoy")
    stop = time.time() + 2
    done = threading.Event()

    def swap():
        while not done.is_set() and time.time() < stop:
            write(decoy, "{}", 0o700)
            os.replace(decoy, name)
            os.symlink(victim["path"], decoy)
            os.replace(decoy, name)
    racer = threading.Thread(target=swap)
    racer.start()
    try:
        while time.time() < stop:
            storage.scan(host["root"], fix=True)
    finally:
        done.set()
        racer.join()
    assert mode_of(victim["path"]) == 0o700


# --- availability --------------------------------------------------------------------------------

def scan_within(seconds, *args, **kwargs):
    """The scan's result, or a failure when it takes longer than ``seconds`` (a hang)."""
    box = {}

    def run():
        try:
            box["result"] = storage.scan(*args, **kwargs)
        except BaseException as exc:  # pylint: disable=broad-exception-caught  # re-raised below
            box["error"] = exc
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "the scan hung"
    if "error" in box:
        raise box["error"]
    return box["result"]


@pytest.mark.parametrize("kind", ["fifo", "device", "sparse", "deep", "wrong types"])
def test_a_hostile_containers_json_is_one_error_and_the_scan_goes_on(host, kind):
    tree = StorageTree(host["root"])
    tree.add_krun_config("c1", 0o700)
    path = os.path.join(tree.full, "overlay-containers", "containers.json")
    os.unlink(path)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        os.mknod(path, 0o644 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero
    elif kind == "sparse":
        with open(path, "wb") as handle:
            handle.truncate(2 * 1024 ** 3)
    elif kind == "deep":
        write(path, "[" * 200000 + "]" * 200000)
    else:
        write(path, json.dumps([{"id": 7, "names": [None, {}], "layer": "layer-c1"}, {"layer": ["x"]}, 3]))
    result = scan_within(20, host["root"])
    assert [f["status"] for f in result["files"]] == ["unreadable_by_user"]
    if kind == "wrong types":
        assert (result["files"][0]["container_id"], result["files"][0]["container_name"]) == (None, None)
    else:
        assert [e["path"] for e in result["errors"]] == [hostfs.display(
            "/var/lib/containers/storage/overlay-containers/containers.json")]


@pytest.mark.parametrize("kind", ["fifo with a waiting writer", "device"])
def test_a_special_file_under_the_config_name_is_never_opened(host, kind):
    tree = StorageTree(host["root"])
    rootfs = tree.add_container("c1")
    path = os.path.join(rootfs, CONFIG_NAME)
    opened = threading.Event()
    if kind == "device":
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))
        writer = None
    else:
        os.mkfifo(path, 0o600)

        def wait_for_a_reader():  # open(O_WRONLY) returns only once somebody opens the FIFO to read
            fd = os.open(path, os.O_WRONLY)
            opened.set()
            os.close(fd)
        writer = threading.Thread(target=wait_for_a_reader, daemon=True)
        writer.start()
    result = scan_within(20, host["root"], fix=True)
    record = result["files"][0]
    assert (record["kind"], record["status"], record["changed"]) == ("other", "suspicious", False)
    if writer:
        assert not opened.wait(0.5), "the scan opened the FIFO"
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))  # release the writer
        writer.join(5)


@pytest.mark.parametrize("text", ["[storage]\nx = " + "[" * 100000, "[storage]\n" + "#" * (2 * 1024 * 1024)])
def test_a_huge_or_deep_storage_conf_is_one_error(host, text):
    write(os.path.join(host["home"], ".config/containers/storage.conf"), text, owner=USER)
    result = scan_within(20, host["root"])
    assert any("storage.conf" in e["error"] for e in result["errors"]), result["errors"]


def test_a_fifo_storage_conf_does_not_hang_the_scan(host):
    path = os.path.join(host["home"], ".config/containers/storage.conf")
    os.mkfifo(path)
    os.chown(path, USER, USER)
    result = scan_within(20, host["root"])
    assert any("not a regular file" in e["error"] for e in result["errors"]), result["errors"]


def test_control_characters_and_undecodable_bytes_in_names_are_escaped(host):
    tree = StorageTree(host["root"])
    layer = os.fsdecode(b"l\x1b[31m\xff")
    write(os.path.join(tree.full, "overlay", layer, "diff", CONFIG_NAME), "{}", 0o700)
    record = storage.scan(host["root"])["files"][0]
    assert record["layer"] == "l\\x1b[31m\\xff"
    json.dumps(record).encode("ascii")


# --- cost: accounts without storage -------------------------------------------------------------

def counting(calls):
    def as_user(uid, gid, groups, func, args, timeout):
        calls.append(uid)
        return hostfs.run_as_user(uid, gid, groups, func, args, timeout)
    return as_user


@pytest.fixture
def accounts(host):
    """mallory plus the accounts of a Debian host: a missing home, root-owned homes, a home below
    mallory's own directory (where root must not look), and a root-owned home mallory may write."""
    root = host["root"]
    extra = [("nobody", 65534, "/nonexistent"), ("daemon", 1, "/usr/sbin"), ("www-data", 33, "/var/www"),
             ("sneaky", 1001, HOME + "/sub"), ("shared", 1002, "/srv/shared")]
    with open(os.path.join(root, "etc/passwd"), "a") as handle:
        for name, uid, home in extra:
            handle.write("%s:x:%d:%d::%s:/bin/sh\n" % (name, uid, uid, home))
    for home in ("usr/sbin", "var/www", "srv/shared"):
        os.makedirs(os.path.join(root, home), exist_ok=True)
    os.chmod(os.path.join(root, "srv/shared"), 0o777)
    os.makedirs(os.path.join(root, HOME.lstrip("/"), "sub"))
    os.chown(os.path.join(root, HOME.lstrip("/")), USER, USER)
    return host


def test_accounts_that_root_can_tell_have_no_storage_cost_no_child(accounts):
    calls = []
    result = storage.scan(accounts["root"], as_user=counting(calls))
    # mallory (her own home), sneaky (below mallory's directory), shared (others may write it)
    assert sorted(calls) == [USER, 1001, 1002]
    assert [e["path"] for e in result["storage_roots"]] == [ROOTLESS]


def test_a_root_owned_home_that_holds_storage_is_still_scanned_as_its_user(accounts):
    """www-data's home is root's, but someone made .local there for www-data: the child looks."""
    tree = StorageTree(accounts["root"], "/var/www/.local/share/containers/storage", owner=33)
    path = tree.add_krun_config("c1", 0o700, uid=33)
    os.chown(path, 33, 33)
    calls = []
    result = storage.scan(accounts["root"], as_user=counting(calls))
    assert 33 in calls
    assert "/var/www/.local/share/containers/storage" in [e["path"] for e in result["storage_roots"]]


def test_a_rootless_storage_path_sends_every_account_to_its_child(accounts):
    write(os.path.join(accounts["root"], "etc/containers/storage.conf"),
          '[storage]\nrootless_storage_path = "/var/lib/rootless/$UID"\n')
    calls = []
    storage.scan(accounts["root"], as_user=counting(calls))
    assert sorted(calls) == sorted([USER, 65534, 1, 33, 1001, 1002])


def test_one_layer_the_user_cannot_enter_costs_that_layer_alone(subuid):
    """A layer whose directory one of her subordinate ids owns with mode 0700 (what an image whose
    / is 0700 leaves under --userns=keep-id): her child cannot even lstat inside it. That layer is
    one error; her other stale files are still found and fixed."""
    tree = StorageTree(subuid["root"], ROOTLESS, owner=USER)
    stale = tree.add_krun_config("c1", 0o700, uid=USER)
    closed = tree.add_krun_config("c2", 0o700, uid=USER)
    layer = os.path.dirname(os.path.dirname(closed))  # overlay/<layer>, above diff/
    os.chown(layer, SUBORDINATE, SUBORDINATE)
    os.chmod(layer, 0o700)
    result = storage.scan(subuid["root"], fix=True)
    assert [f["container_id"] for f in result["files"]] == ["c1"] and mode_of(stale) == 0o444
    assert len(result["errors"]) == 1 and "layer-c2" in result["errors"][0]["path"], result["errors"]


def test_a_failed_fork_is_one_error_for_that_user_and_the_scan_goes_on(host, monkeypatch):
    """A user who exhausts the process limit makes fork() fail: her storage is one error, named,
    and root's own storage is still scanned."""
    StorageTree(host["root"]).add_krun_config("rootful", 0o700, uid=1234)

    def no_fork():
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    result = storage.scan(host["root"])
    assert [f["container_id"] for f in result["files"]] == ["rootful"]
    (error,) = result["errors"]
    assert "mallory" in error["error"] and "could not start a process" in error["error"], error


# --- ordinary content is a finding, never a failure ----------------------------------------------

def test_an_image_layers_config_owned_by_its_non_root_uid_in_rootful_storage_is_fixed(host):
    """Image layers keep their files' uids (an image built as USER 1000 leaves 1000:1000). Rootful
    storage is root's alone: nobody but root and the image put files there, so the mode of that file
    is changed through its checked handle like a root-owned one's."""
    path = StorageTree(host["root"]).add_krun_config("c1", 0o700, uid=1234)
    os.chown(path, 1000, 1000)
    audited = storage.scan(host["root"])
    assert "error" not in audited["files"][0] and audited["files"][0]["status"] == storage.UNREADABLE
    fixed = storage.scan(host["root"], fix=True)
    assert fixed["files"][0]["changed"] and mode_of(path) == 0o444


def test_a_users_own_hard_link_to_her_own_stale_config_is_fixed_as_her(host):
    """She may hard link her own file anywhere in her home; her child changes it with her authority
    alone (the kernel lets it chmod only what she owns), so the link count refuses nothing there."""
    path = StorageTree(host["root"], ROOTLESS, owner=USER).add_krun_config("c1", 0o700, uid=USER)
    other = os.path.join(host["home"], "my-copy.json")
    os.link(path, other)
    result = storage.scan(host["root"], fix=True)
    assert result["files"][0]["changed"] and mode_of(other) == 0o444 and result["errors"] == []


# --- the child that acts for a user is out of her reach ------------------------------------------

def _child_pid_and_release(uid, gid, func_ready, timeout=10):
    """Run a child for uid that reports its pid and waits for a byte; yield (pid, release, outcome)."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    outcome = {}

    def child():
        os.write(ready_w, str(os.getpid()).encode())
        return func_ready(go_r)

    def parent():
        try:
            outcome["result"] = hostfs.run_as_user(uid, gid, [gid], child, timeout=timeout)
        except hostfs.ChildFailed as exc:
            outcome["failed"] = str(exc)

    thread = threading.Thread(target=parent)
    thread.start()
    pid = int(os.read(ready_r, 32))
    return pid, lambda: (os.write(go_w, b"x"), thread.join(timeout + 5)), outcome


def _wait_for(fd):
    os.read(fd, 1)
    return "done"


def _as_the_user(uid, action):
    """``action()`` in a process with the user's every id, as her own shell would run it: its
    errno, or 0 when it succeeded."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - reported through the exit status
        code = 0
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            action()
        except OSError as exc:
            code = exc.errno or 99
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.mark.parametrize("sig", [signal.SIGSTOP, signal.SIGKILL])
def test_the_user_cannot_signal_the_child_that_scans_for_her(sig):
    """kill -STOP -1 in a loop held the whole module until the task timeout; SIGKILL lost her scan
    at her will. The child keeps root as its real and saved uid, so her signals are refused."""
    pid, release, outcome = _child_pid_and_release(USER, USER, _wait_for)
    try:
        assert _as_the_user(USER, lambda: os.kill(pid, sig)) == errno.EPERM
        assert _as_the_user(USER, lambda: os.kill(-1, signal.SIGSTOP)) in (0, errno.ESRCH)
        assert "S" in _proc_state(pid) or "R" in _proc_state(pid)  # not stopped
    finally:
        release()
    assert outcome == {"result": "done"}, outcome


def _proc_state(pid):
    with open("/proc/%d/stat" % pid) as handle:
        return handle.read().rsplit(")", 1)[1].split()[0]


def test_the_user_cannot_read_the_childs_memory_or_environment():
    """ptrace and /proc/PID/mem, environ, fd: refused to her (the child is not dumpable and its
    real uid is root's), while the child still opens files with her authority alone."""
    def probe():
        for name in ("mem", "environ"):
            with open("/proc/%d/%s" % (pid, name), "rb") as handle:
                handle.read(1)
        os.listdir("/proc/%d/fd" % pid)

    pid, release, outcome = _child_pid_and_release(USER, USER, _wait_for)
    try:
        assert _as_the_user(USER, probe) == errno.EACCES
    finally:
        release()
    assert outcome == {"result": "done"}


def _read_shadow_and_report_ids(_fd, secret):
    ids = (os.getresuid(), os.getresgid())
    try:
        with open(secret) as handle:
            handle.read()
        return {"read": True, "ids": ids}
    except OSError as exc:
        return {"read": False, "errno": exc.errno, "ids": ids}


def test_the_child_still_has_her_authority_alone_for_every_file(host):
    pid, release, outcome = _child_pid_and_release(
        USER, USER, lambda fd: _read_shadow_and_report_ids(os.read(fd, 1), host["secret"]))
    release()
    result = outcome["result"]
    assert result["read"] is False and result["errno"] == errno.EACCES, result
    assert result["ids"][0][1] == USER and result["ids"][1] == [USER, USER, USER], result


def test_a_child_that_outgrows_its_memory_ceiling_is_one_failure():
    """A hostile tree that makes the scan allocate without end costs the child, not the host."""
    with pytest.raises(hostfs.ChildFailed, match="MemoryError"):
        hostfs.run_as_user(USER, USER, [USER], bytearray, (hostfs.CHILD_MEMORY_LIMIT + 1,))


def test_a_stalled_scan_costs_that_user_her_budget_and_no_more(host, monkeypatch):
    """A FUSE mount she serves with allow_other can stall any lstat below it: her child is killed
    when her budget (a constant, not the task timeout shared by all users) is spent; her storage
    is one error and root's own storage is still reported."""
    StorageTree(host["root"]).add_krun_config("rootful", 0o700, uid=1234)
    monkeypatch.setattr(storage, "USER_SCAN_SECONDS", 1)
    monkeypatch.setattr(storage, "scan_user", lambda *args: time.sleep(30))
    started = time.time()
    result = storage.scan(host["root"])
    assert time.time() - started < 10
    assert [f["container_id"] for f in result["files"]] == ["rootful"]
    (error,) = result["errors"]
    assert "mallory" in error["error"] and "gave up after 1s" in error["error"], error


def _sleep_after_reporting(fd):
    os.write(fd, str(os.getpid()).encode())
    time.sleep(60)


def test_the_child_dies_with_the_module_that_started_it():
    """When the task times out and Ansible kills the module, the child acting for a user must not
    go on scanning (or holding her storage) as an orphan."""
    ready_r, ready_w = os.pipe()
    module = os.fork()
    if module == 0:  # pragma: no cover - killed by the test
        try:
            hostfs.run_as_user(USER, USER, [USER], _sleep_after_reporting, (ready_w,), 120)
        finally:
            os._exit(0)
    child = int(os.read(ready_r, 32))
    os.kill(module, signal.SIGKILL)
    os.waitpid(module, 0)
    deadline = time.time() + 10
    while time.time() < deadline and os.path.exists("/proc/%d" % child) and _proc_state(child) != "Z":
        time.sleep(0.05)
    assert not os.path.exists("/proc/%d" % child) or _proc_state(child) == "Z", "the child outlived its module"


# --- cost and output bounded by design -----------------------------------------------------------

def _result_size(root):
    return len(json.dumps(storage.scan(root)))


@pytest.mark.parametrize("owner", [None, USER], ids=["rootful", "rootless"])
def test_a_stale_layer_shared_by_many_images_names_a_few_and_counts_the_rest(host, owner):
    """Hundreds of images over a few stale layers made every layer's record carry every image (13.9
    MB of facts from 25 KB of her JSON). Each record now names at most IMAGES_LISTED images, with
    the total beside them."""
    graphroot = ROOTLESS if owner else storage.DEFAULT_GRAPHROOT
    StorageTree(host["root"], graphroot, owner=owner).add_shared_stale_layers(3, 40, names_per_image=20)
    result = storage.scan(host["root"])
    assert result["counts"]["image_layer"] == 3
    for record in result["files"]:
        assert record["images_total"] == 40 and len(record["images"]) == storage.IMAGES_LISTED, record
        assert all(len(image["names"]) <= storage.NAMES_LISTED for image in record["images"])


def test_the_result_grows_with_layers_plus_images_never_with_their_product(host):
    tree = StorageTree(host["root"])
    tree.add_shared_stale_layers(20, 20)
    small = _result_size(host["root"])
    tree.add_shared_stale_layers(20, 400)
    large = _result_size(host["root"])
    assert large < small * 1.2, (small, large)


def test_one_users_files_beyond_her_limit_are_counted_not_listed(host, monkeypatch):
    """Her listing stops at USER_LISTED files (the limit and what it left out are in the result);
    her counts stay exact, and root's own files are still listed."""
    monkeypatch.setattr(storage, "USER_LISTED", 3)
    StorageTree(host["root"], ROOTLESS, owner=USER).add_shared_stale_layers(8, 1)
    StorageTree(host["root"]).add_krun_config("rootful", 0o700, uid=1234)
    result = storage.scan(host["root"], fix=True)
    assert result["counts"]["unreadable_by_user"] == 0 and result["counts"]["changed"] == 9, result["counts"]
    assert result["counts"]["total"] == 9
    listed = [f["container_id"] or f["layer"] for f in result["files"]]
    assert "rootful" in listed and len(listed) == 4, listed
    assert result["listed"]["omitted"]["files"] == 5 and result["listed"]["limits"]["user_files"] == 3


def test_a_hosts_listing_stops_at_its_limit_with_exact_counts(host, monkeypatch):
    monkeypatch.setattr(storage, "HOST_LISTED", 5)
    StorageTree(host["root"]).add_shared_stale_layers(12, 1)
    result = storage.scan(host["root"])
    assert result["counts"]["image_layer"] == 12 and len(result["files"]) == 5
    assert result["listed"] == {"limits": {"user_files": storage.USER_LISTED, "files": 5,
                                           "errors": storage.HOST_LISTED_ERRORS,
                                           "not_examined": storage.HOST_LISTED_ERRORS},
                                "omitted": {"files": 7, "errors": 0, "not_examined": 0}}


def test_a_users_many_errors_are_counted_beyond_the_limit(host, monkeypatch):
    """An error per layer (layers she made unreadable) is bounded like files: the scan still says
    her storage was not fully examined."""
    monkeypatch.setattr(storage, "HOST_LISTED_ERRORS", 4)
    tree = StorageTree(host["root"], ROOTLESS, owner=USER)
    paths = [tree.add_krun_config("c%d" % n, 0o700, uid=USER) for n in range(10)]
    for path in paths:
        layer = os.path.dirname(os.path.dirname(path))
        os.chown(layer, 0, 0)  # a directory of root's inside hers: her child cannot enter a 0700 one
        os.chmod(layer, 0o700)
    result = storage.scan(host["root"])
    assert len(result["errors"]) == 4 and result["listed"]["omitted"]["errors"] == 6, result["errors"]


def test_a_store_path_from_her_configuration_is_escaped_and_bounded_in_the_result(host):
    """storage_roots echoed the graphroot of her storage.conf raw: control characters and any length."""
    graphroot = "/home/mallory/\x1b[31m/" + "/".join(["x" * 200] * 15)
    write(os.path.join(host["home"], ".config/containers/storage.conf"), '[storage]\ngraphroot = "%s"\n'
          % graphroot.replace("\x1b", "\\u001b"), owner=USER)
    StorageTree(host["root"], graphroot, owner=USER).add_krun_config("c1", 0o700, uid=USER)
    result = storage.scan(host["root"])
    text = json.dumps(result)
    assert "\x1b" not in text and "\\u001b" not in text, [line for line in text.split(", ") if "u001b" in line]
    assert result["files"], result["errors"]
    for entry in result["storage_roots"]:
        assert all(len(value) <= 512 for value in entry.values() if isinstance(value, str)), entry
