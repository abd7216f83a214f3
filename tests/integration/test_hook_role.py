"""The hook role on this machine, with its real podman and crun.

The hook goes into a private hooks directory (hook_dirs) that only these tests pass to podman
(--hooks-dir), so no other container on the machine ever runs it.
Test stand-in: the owner-only /.krun_config.json baked into the test image stands for the file an
affected crun (1.7.1-1.20 with libkrun) writes; such a crun cannot run here. podman, crun, the
hook program, the role and the module are real.
"""

import ctypes
import json
import os
import shutil
import stat
import struct
import subprocess

import pytest

from support import build_busybox_image

pytestmark = pytest.mark.podman

PODMAN = shutil.which("podman")
STALE_IMAGE = "localhost/fleetfix-test-krun-stale"
SYMLINK_IMAGE = "localhost/fleetfix-test-krun-symlink"
SPECIAL_IMAGES = {"fifo": "localhost/fleetfix-test-krun-fifo", "chardev": "localhost/fleetfix-test-krun-chardev"}
IN_OPEN, IN_ATTRIB = 0x20, 0x04
SENTINEL = "/tmp/fleetfix-test-sentinel"


def podman(*args, stdin=None, check=True):
    proc = subprocess.run([PODMAN] + list(args), input=stdin, capture_output=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError("podman %s failed (%d): %s" % (" ".join(args), proc.returncode, proc.stderr.decode()))
    return proc


@pytest.fixture(scope="module")
def images():
    if PODMAN is None:
        pytest.fail("podman is not installed: scripts/setup-host installs it")
    build_busybox_image(podman, STALE_IMAGE)
    build_busybox_image(podman, SYMLINK_IMAGE, symlink_to=SENTINEL)
    for special, image in SPECIAL_IMAGES.items():
        build_busybox_image(podman, image, special=special)
    yield
    podman("rmi", "--force", STALE_IMAGE, SYMLINK_IMAGE, *SPECIAL_IMAGES.values(), check=False)


@pytest.fixture
def hook_vars(tmp_path):
    hooks_dir = tmp_path / "hooks.d"
    return hooks_dir, ["-e", json.dumps({"hook_dirs": [str(hooks_dir)],
                                         "hook_program_path": str(tmp_path / "libexec/fleetfix-krun-hook")})]


def run_as_user(hooks_dir, image, command):
    return podman("run", "--rm", "--network", "none", "--user", "1234", "--hooks-dir", str(hooks_dir), image,
                  "sh", "-c", command, check=False)


def test_without_the_hook_a_non_root_container_cannot_read_its_config(images, tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_as_user(tmp_path / "empty", STALE_IMAGE, "cat /.krun_config.json")
    assert result.returncode != 0 and b"Permission denied" in result.stderr


def test_with_the_hook_a_non_root_container_reads_its_config(playbook, images, hook_vars):
    hooks_dir, extra = hook_vars
    run = playbook("hook_role.yml", *extra)
    assert run.rc == 0, run.failure_messages()
    result = run_as_user(hooks_dir, STALE_IMAGE, "stat -c %a /.krun_config.json; cat /.krun_config.json")
    assert result.returncode == 0, result.stderr
    mode, content = result.stdout.decode().split("\n", 1)
    assert mode == "444"
    assert json.loads(content)["process"]["user"]["uid"] == 1234


def test_hook_json_is_what_podman_reads(playbook, images, hook_vars, tmp_path):
    hooks_dir, extra = hook_vars
    playbook("hook_role.yml", *extra)
    document = json.loads((hooks_dir / "50-fleetfix-krun.json").read_text())
    assert document["stages"] == ["createRuntime"]
    assert document["hook"]["args"][-1] == str(tmp_path / "libexec/fleetfix-krun-hook")
    assert stat.S_IMODE(os.stat(str(tmp_path / "libexec/fleetfix-krun-hook")).st_mode) == 0o755


def test_symlinked_config_starts_and_the_target_is_untouched(playbook, images, hook_vars):
    hooks_dir, extra = hook_vars
    with open(SENTINEL, "w") as handle:
        handle.write("sentinel")
    os.chmod(SENTINEL, 0o600)
    try:
        assert playbook("hook_role.yml", *extra).rc == 0
        result = run_as_user(hooks_dir, SYMLINK_IMAGE, "true")
        assert result.returncode == 0, result.stderr
        assert stat.S_IMODE(os.stat(SENTINEL).st_mode) == 0o600
    finally:
        os.unlink(SENTINEL)


class OpenWatch:
    """inotify on one path: an open() of it, or a change of its mode, is an event; an O_PATH
    handle (what the hook may take) is not."""

    def __init__(self, path):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0 or self.libc.inotify_add_watch(self.fd, os.fsencode(path), IN_OPEN | IN_ATTRIB) < 0:
            raise OSError(ctypes.get_errno(), "inotify on %s" % path)

    def events(self):
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return []
        masks = []
        while data:
            _wd, mask, _cookie, length = struct.unpack_from("iIII", data)
            masks.append(mask)
            data = data[16 + length:]
        return masks

    def close(self):
        os.close(self.fd)


@pytest.mark.parametrize("special", sorted(SPECIAL_IMAGES))
def test_a_special_file_under_the_name_is_never_opened_by_the_real_hook(playbook, images, hook_vars, tmp_path, special):
    """Real podman and crun run the installed hook on a container whose image ships a FIFO or a
    device node as /.krun_config.json: the container starts, the hook never opens it (inotify on
    the container's merged rootfs sees no open and no chmod) and says why in its log line."""
    hooks_dir, extra = hook_vars
    assert playbook("hook_role.yml", *extra).rc == 0
    hook_log = tmp_path / "hook-stderr.log"
    check = "test -p /.krun_config.json" if special == "fifo" else "test -c /.krun_config.json"
    cid = podman("create", "--network", "none", "--user", "1234", "--annotation", "run.oci.hooks.stderr=%s" % hook_log, SPECIAL_IMAGES[special],
                 "sh", "-c", check).stdout.decode().strip()
    try:
        merged = podman("mount", cid).stdout.decode().strip()
        planted = os.path.join(merged, ".krun_config.json")
        mode_before = stat.S_IMODE(os.lstat(planted).st_mode)
        watch = OpenWatch(planted)
        try:
            # --hooks-dir is podman's global option: the start, not the create, runs the hooks
            started = podman("--hooks-dir", str(hooks_dir), "start", "--attach", cid, check=False)
            events = watch.events()
            os.close(os.open(planted, os.O_RDONLY | os.O_NONBLOCK))  # the watch itself sees an open
            control = watch.events()
        finally:
            watch.close()
        assert started.returncode == 0, started.stderr
        assert events == [], "the hook opened or changed the %s: inotify masks %s" % (special, events)
        assert control and control[0] & IN_OPEN
        assert stat.S_IMODE(os.lstat(planted).st_mode) == mode_before
        assert "is not a regular file (never opened)" in hook_log.read_text()
        assert "container %s" % cid in hook_log.read_text()
    finally:
        podman("rm", "--force", cid, check=False)


def test_second_run_changes_nothing_and_check_mode_is_clean(playbook, images, hook_vars):
    _hooks_dir, extra = hook_vars
    assert playbook("hook_role.yml", *extra).rc == 0
    again = playbook("hook_role.yml", *extra)
    assert again.rc == 0 and again.stats["changed"] == 0
    check = playbook("hook_role.yml", "--check", *extra)
    assert check.rc == 0 and check.stats["changed"] == 0


def test_check_mode_on_a_fresh_host_predicts_and_installs_nothing(playbook, images, hook_vars, tmp_path):
    hooks_dir, extra = hook_vars
    run = playbook("hook_role.yml", "--check", *extra)
    assert run.rc == 0, run.failure_messages()
    predicted = run.results("hook program and its hook JSON")[0]["changed_paths"]
    assert predicted == [str(tmp_path / "libexec/fleetfix-krun-hook"), str(hooks_dir / "50-fleetfix-krun.json")]
    assert not hooks_dir.exists() and not (tmp_path / "libexec").exists()


def test_a_broken_hook_file_already_there_stops_the_role_before_any_change(playbook, images, hook_vars):
    hooks_dir, extra = hook_vars
    hooks_dir.mkdir()
    (hooks_dir / "00-broken.json").write_text('{"version": "1.0.0", "hook": {"path": "/bin/true"}}')
    run = playbook("hook_role.yml", *extra)
    assert run.rc != 0
    assert any("00-broken.json" in m and "nothing changed" in m for m in run.failure_messages())
    assert sorted(os.listdir(str(hooks_dir))) == ["00-broken.json"]


def test_absent_removes_everything(playbook, images, hook_vars, tmp_path):
    hooks_dir, extra = hook_vars
    assert playbook("hook_role.yml", *extra).rc == 0
    run = playbook("hook_role.yml", "-e", "hook_state=absent", *extra)
    assert run.rc == 0, run.failure_messages()
    assert os.listdir(str(hooks_dir)) == []
    assert not (tmp_path / "libexec/fleetfix-krun-hook").exists()


@pytest.mark.parametrize("extra, needle", [
    (["-e", "hook_state=installed"], "hook_state"),
    (["-e", "hook_python=python3"], "must be absolute paths"),
])
def test_bad_variables_fail_before_any_change(playbook, hook_vars, extra, needle):
    hooks_dir, base = hook_vars
    run = playbook("hook_role.yml", *(base + extra))
    assert run.rc != 0 and any(needle in m for m in run.failure_messages()), run.failure_messages()
    assert not hooks_dir.exists()
