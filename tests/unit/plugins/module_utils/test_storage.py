import json
import os
import stat
import subprocess
import sys
import tempfile
import threading

import pytest

from ansible_collections.fleetfix.crun.plugins.module_utils import _storage as storage
from support import CONFIG_NAME, StorageTree, krun_config

# Managed hosts run the scan with the standard library only; this interpreter is readable by
# unprivileged users, unlike a venv under root's home.
SYSTEM_PYTHON = "/usr/bin/python3"


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def by_container(result):
    return {f["container_id"]: f for f in result["files"]}


def test_stale_owner_only_file_is_unreadable_by_user_and_mapped_to_its_container(tmp_path):
    tree = StorageTree(tmp_path)
    tree.add_krun_config("c1", 0o700, uid=1234, name="webapp")
    record = by_container(storage.scan(str(tmp_path)))["c1"]
    assert (record["status"], record["mode"], record["process_uid"], record["container_name"]) == \
        ("unreadable_by_user", "0700", 1234, "webapp")
    assert record["path"] == "/var/lib/containers/storage/overlay/layer-c1/diff/.krun_config.json"


def test_world_readable_file_is_ok(tmp_path):
    StorageTree(tmp_path).add_krun_config("c1", 0o444)
    assert storage.scan(str(tmp_path))["counts"] == {"total": 1, "ok": 1, "unreadable_by_user": 0,
                                                     "suspicious": 0, "changed": 0, "env_lost": 0,
                                                     "image_layer": 0, "root_only": 0, "refused": 0,
                                                     "refused_breaking": 0}


def test_container_without_the_file_is_not_reported(tmp_path):
    StorageTree(tmp_path).add_container("plain")
    result = storage.scan(str(tmp_path))
    assert result["files"] == [] and result["storage_roots"][0]["containers"] == 1


def test_vfs_driver_layout_is_scanned(tmp_path):
    StorageTree(tmp_path, driver="vfs").add_krun_config("v1", 0o700)
    record = storage.scan(str(tmp_path))["files"][0]
    assert (record["driver"], record["container_id"], record["status"]) == ("vfs", "v1", "unreadable_by_user")


def test_image_layer_file_has_no_container(tmp_path):
    tree = StorageTree(tmp_path)
    os.makedirs(tree.rootfs("image-layer"))
    with open(os.path.join(tree.rootfs("image-layer"), CONFIG_NAME), "w") as handle:
        handle.write(krun_config(0))
    os.chmod(os.path.join(tree.rootfs("image-layer"), CONFIG_NAME), 0o700)
    record = storage.scan(str(tmp_path))["files"][0]
    assert (record["layer"], record["container_id"]) == ("image-layer", None)


def passwd(root, text):
    os.makedirs(os.path.join(root, "etc"), exist_ok=True)
    with open(os.path.join(root, "etc", "passwd"), "w") as handle:
        handle.write(text)


def test_rootless_storage_of_each_user_is_found(searchable_tmp):
    passwd(searchable_tmp, "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n"
           "nohome:x:1001:1001::/nonexistent:/bin/sh\n")
    StorageTree(searchable_tmp, "/home/alice/.local/share/containers/storage", owner=1000) \
        .add_krun_config("a1", 0o700, uid=0)
    result = storage.scan(searchable_tmp)
    assert [(r["owner"], r["source"]) for r in result["storage_roots"]] == [("alice", "rootless")]
    assert result["files"][0]["storage_owner"] == "alice"


def test_users_own_storage_conf_graphroot_is_honoured(searchable_tmp):
    passwd(searchable_tmp, "bob:x:1000:1000::/home/bob:/bin/sh\n")
    conf = os.path.join(searchable_tmp, "home/bob/.config/containers/storage.conf")
    os.makedirs(os.path.dirname(conf))
    with open(conf, "w") as handle:
        handle.write('[storage]\ndriver = "overlay"\ngraphroot = "$HOME/containers"\n')
    StorageTree(searchable_tmp, "/home/bob/containers", owner=1000).add_krun_config("b1", 0o700)
    assert [f["storage_root"] for f in storage.scan(searchable_tmp)["files"]] == ["/home/bob/containers"]


def test_graphroot_from_storage_conf_replaces_the_default(tmp_path):
    conf = tmp_path / "etc/containers/storage.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text('[storage]\ndriver = "overlay"\ngraphroot = "/srv/storage"  # moved\n')
    StorageTree(tmp_path, "/srv/storage").add_krun_config("s1")
    StorageTree(tmp_path).add_krun_config("ignored")
    assert [f["container_id"] for f in storage.scan(str(tmp_path))["files"]] == ["s1"]


def test_extra_storage_roots_are_scanned_once(tmp_path):
    StorageTree(tmp_path, "/data/storage").add_krun_config("d1")
    result = storage.scan(str(tmp_path), extra_roots=["/data/storage", "/data/storage/"])
    assert [f["container_id"] for f in result["files"]] == ["d1"]


def test_symlink_to_a_host_file_is_suspicious_and_never_followed_or_changed(tmp_path):
    tree = StorageTree(tmp_path)
    rootfs = tree.add_container("evil")
    sentinel = tmp_path / "host-secret"
    sentinel.write_text("secret")
    os.chmod(str(sentinel), 0o600)
    os.symlink(str(sentinel), os.path.join(rootfs, CONFIG_NAME))
    result = storage.scan(str(tmp_path), fix=True)
    record = result["files"][0]
    assert (record["kind"], record["status"], record["changed"]) == ("symlink", "suspicious", False)
    assert record["target"] == str(sentinel)
    assert mode_of(str(sentinel)) == 0o600
    assert sentinel.read_text() == "secret"


def test_a_fifo_is_suspicious_and_does_not_block_the_scan(tmp_path):
    rootfs = StorageTree(tmp_path).add_container("fifo")
    os.mkfifo(os.path.join(rootfs, CONFIG_NAME), 0o600)
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(storage.scan(str(tmp_path), fix=True)))
    worker.daemon = True
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "scan blocked on a FIFO"
    assert (outcome["files"][0]["kind"], outcome["files"][0]["status"]) == ("other", "suspicious")


def test_a_directory_under_the_name_is_suspicious(tmp_path):
    rootfs = StorageTree(tmp_path).add_container("dir")
    os.mkdir(os.path.join(rootfs, CONFIG_NAME), 0o700)
    result = storage.scan(str(tmp_path), fix=True)
    assert (result["files"][0]["status"], result["counts"]["changed"]) == ("suspicious", 0)
    assert mode_of(os.path.join(rootfs, CONFIG_NAME)) == 0o700


def test_check_mode_shows_the_current_status_and_the_mode_the_fix_would_give(tmp_path):
    path = StorageTree(tmp_path).add_krun_config("c1", 0o700)
    result = storage.scan(str(tmp_path), fix=True, check_mode=True)
    record = result["files"][0]
    assert (record["status"], record["mode"], record["mode_after"], record["changed"]) == \
        ("unreadable_by_user", "0700", "0444", True)
    assert (result["counts"]["unreadable_by_user"], result["counts"]["changed"]) == (1, 1)
    assert mode_of(path) == 0o700


def test_fix_makes_the_file_world_readable_and_keeps_its_content(tmp_path):
    path = StorageTree(tmp_path).add_krun_config("c1", 0o700)
    with open(path) as handle:
        content = handle.read()
    record = storage.scan(str(tmp_path), fix=True)["files"][0]
    assert (record["changed"], record["mode_before"], record["mode"], record["mode_after"], record["status"]) == \
        (True, "0700", "0444", "0444", "ok")
    assert mode_of(path) == 0o444
    with open(path) as handle:
        assert handle.read() == content


def test_second_fix_changes_nothing(tmp_path):
    StorageTree(tmp_path).add_krun_config("c1", 0o700)
    storage.scan(str(tmp_path), fix=True)
    assert storage.scan(str(tmp_path), fix=True)["counts"]["changed"] == 0


def test_check_mode_predicts_the_fix_without_changing_the_file(tmp_path):
    path = StorageTree(tmp_path).add_krun_config("c1", 0o700)
    result = storage.scan(str(tmp_path), fix=True, check_mode=True)
    assert result["counts"]["changed"] == 1
    assert mode_of(path) == 0o700


def test_readable_file_with_another_mode_is_left_alone(tmp_path):
    path = StorageTree(tmp_path).add_krun_config("c1", 0o644)
    assert storage.scan(str(tmp_path), fix=True)["counts"]["changed"] == 0
    assert mode_of(path) == 0o644


def test_custom_mode_is_applied(tmp_path):
    path = StorageTree(tmp_path).add_krun_config("c1", 0o600)
    storage.scan(str(tmp_path), fix=True, mode=0o644)
    assert mode_of(path) == 0o644


def test_fixing_a_layer_refuses_a_symlink_even_if_called_directly(tmp_path):
    target = tmp_path / "target"
    target.write_text("x")
    os.chmod(str(target), 0o600)
    os.symlink(str(target), str(tmp_path / CONFIG_NAME))
    fd = os.open(str(tmp_path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        record = storage.inspect_at(fd, str(tmp_path / CONFIG_NAME), (0,), storage.Sweep(fix=True))
    finally:
        os.close(fd)
    assert (record["kind"], record["changed"]) == ("symlink", False)
    assert mode_of(str(target)) == 0o600


def test_malformed_containers_json_is_reported_and_files_are_still_found(tmp_path):
    tree = StorageTree(tmp_path)
    tree.add_krun_config("c1", 0o700)
    with open(os.path.join(tree.full, "overlay-containers", "containers.json"), "w") as handle:
        handle.write("{not json")
    result = storage.scan(str(tmp_path))
    assert result["files"][0]["status"] == "unreadable_by_user"
    assert result["files"][0]["container_id"] is None
    assert result["errors"][0]["error"] == "containers.json: malformed JSON"


def test_unreadable_config_content_leaves_process_uid_unknown(tmp_path):
    path = StorageTree(tmp_path).add_krun_config("c1", 0o700)
    with open(path, "w") as handle:
        handle.write("\xff not json")
    assert storage.scan(str(tmp_path))["files"][0]["process_uid"] is None


def test_non_utf8_layer_name_is_reported_as_printable_json(tmp_path):
    tree = StorageTree(tmp_path)
    layer = os.fsdecode(b"layer-\xff")
    os.makedirs(tree.rootfs(layer))
    path = os.path.join(tree.rootfs(layer), CONFIG_NAME)
    with open(path, "w") as handle:
        handle.write(krun_config(1000))
    os.chmod(path, 0o700)
    result = storage.scan(str(tmp_path), fix=True)
    assert result["files"][0]["layer"] == "layer-\\xff"
    json.dumps(result)
    assert mode_of(path) == 0o444


def test_unreadable_layer_directory_is_reported_and_other_storage_is_still_scanned():
    """Runs the scan as an unprivileged user (nobody), the only way a directory is unreadable to it."""
    if os.geteuid() != 0 or not os.path.exists(SYSTEM_PYTHON):
        pytest.skip("needs root and %s to scan as an unprivileged user" % SYSTEM_PYTHON)
    base = tempfile.mkdtemp(prefix="fleetfix-unreadable-")
    try:
        os.chmod(base, 0o755)
        readable = StorageTree(base, "/srv/readable")
        readable.add_krun_config("r1", 0o644)
        locked = StorageTree(base, "/srv/locked")
        locked.add_krun_config("l1", 0o644)
        for directory, _dirs, files in os.walk(base):
            os.chmod(directory, 0o755)
            for name in files:
                os.chmod(os.path.join(directory, name), 0o644)
        os.chmod(os.path.join(locked.full, "overlay"), 0o700)
        code = ("import json, sys; sys.path[:0] = %r; "
                "from ansible_collections.fleetfix.crun.plugins.module_utils import _storage; "
                "print(json.dumps(_storage.scan(%r, extra_roots=['/srv/readable', '/srv/locked'])))"
                % (sys.path, base))
        out = subprocess.run([SYSTEM_PYTHON, "-c", code], user=65534, group=65534, check=True,
                             capture_output=True, text=True, cwd="/").stdout
        result = json.loads(out)
        assert [f["container_id"] for f in result["files"]] == ["r1"]
        assert result["errors"] == [{"path": "/srv/locked/overlay", "error": "Permission denied"}]
    finally:
        subprocess.run(["rm", "-rf", base], check=True)


def test_containers_storage_conf_overrides_the_system_file_like_podman(tmp_path, monkeypatch):
    conf = tmp_path / "private-storage.conf"
    conf.write_text('[storage]\ndriver = "overlay"\ngraphroot = "%s"\n' % (tmp_path / "private"))
    StorageTree("/", str(tmp_path / "private")).add_krun_config("p1")
    monkeypatch.setenv("CONTAINERS_STORAGE_CONF", str(conf))
    roots = storage.storage_roots("/")[0]
    assert (roots[0]["path"], roots[0]["owner"], roots[0]["source"]) == (str(tmp_path / "private"), "root", "storage.conf")
