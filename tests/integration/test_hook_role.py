"""The hook role on this machine, with its real podman and crun.

The hook goes into a private hooks directory (hook_dirs) that only these tests pass to podman
(--hooks-dir), so no other container on the machine ever runs it.
Test stand-in: the owner-only /.krun_config.json baked into the test image stands for the file an
affected crun (1.7.1-1.20 with libkrun) writes; such a crun cannot run here. podman, crun, the
hook program, the role and the module are real.
"""

import json
import os
import shutil
import stat
import subprocess

import pytest

from support import build_busybox_image

pytestmark = pytest.mark.podman

PODMAN = shutil.which("podman")
STALE_IMAGE = "localhost/fleetfix-test-krun-stale"
SYMLINK_IMAGE = "localhost/fleetfix-test-krun-symlink"
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
    yield
    podman("rmi", "--force", STALE_IMAGE, SYMLINK_IMAGE, check=False)


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
