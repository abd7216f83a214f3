"""A verdict of fixed claims everything that could change it was examined: every store, record
file, driver and runtime the host's own tools use. Each layout here is one that containers/storage,
podman or CRI-O use (the upstream file is named in each test) and that the audit once missed,
calling the host fixed or affected wrongly. Constructed roots; the crun binaries are stand-ins
printing real `crun --version` texts."""

import os

from ansible_collections.fleetfix.crun.plugins.module_utils import _audit, _hostfs
from support import StorageTree, link, run_process, stand_in_crun, write

FIXED_CRUN = "debian-13-crun-1.21.txt"
AFFECTED_KRUN = "fedora-41-crun-1.20-libkrun.txt"


def audit(root):
    return _audit.audit(run_process, root=str(root), timeout=2)


def verdict(report, advisory="crun-1685"):
    return next(v for v in report["advisories"] if v["id"] == advisory)


def storage_conf(root, text):
    write(os.path.join(str(root), "etc/containers/storage.conf"), text)


def fixed_host(root):
    stand_in_crun(root, "/usr/bin/crun", FIXED_CRUN)


def test_a_stale_image_layer_in_an_additional_image_store_makes_the_host_affected(tmp_path):
    """store.go load(): every additionalimagestores entry is a read-only image store whose layers
    any container may start from (the bootc layout keeps one at /usr/lib/containers/storage)."""
    fixed_host(tmp_path)
    storage_conf(tmp_path, '[storage]\ndriver = "overlay"\n[storage.options]\n'
                           'additionalimagestores = ["/usr/lib/containers/storage"]\n')
    StorageTree(tmp_path, "/usr/lib/containers/storage").add_image_layer("bootc-layer")
    report = audit(tmp_path)
    assert report["status"] == "affected", report["summary"]
    (stale,) = report["files"]
    assert stale["path"].startswith("/usr/lib/containers/storage/overlay/bootc-layer/")
    assert (stale["impact"], stale["images"][0]["names"]) == ("image_layer", ["localhost/app:1"])
    assert [r["source"] for r in report["storage_roots"]] == ["additionalimagestores"]


def test_a_stale_image_layer_in_the_imagestore_makes_the_host_affected(tmp_path):
    """store.go load(): with [storage] imagestore, images and their layers live there, apart from
    the containers in the graphroot."""
    fixed_host(tmp_path)
    storage_conf(tmp_path, '[storage]\ndriver = "overlay"\nimagestore = "/srv/images"\n')
    StorageTree(tmp_path, "/srv/images").add_image_layer("img-layer")
    report = audit(tmp_path)
    assert report["status"] == "affected", report["summary"]
    assert report["files"][0]["storage_root"] == "/srv/images"


def test_a_root_container_kept_in_volatile_containers_json_breaks_nothing(tmp_path):
    """containers.go newContainerStore: podman run --rm and Quadlet containers are volatile, kept
    in volatile-containers.json. Unmapped, their layer looked like an image layer: affected."""
    fixed_host(tmp_path)
    StorageTree(tmp_path, records="volatile-containers.json").add_krun_config("rm-ctr", 0o700, uid=0, name="tmp")
    report = audit(tmp_path)
    assert report["status"] == "fixed", report["summary"]
    assert (report["files"][0]["container_name"], report["files"][0]["impact"]) == ("tmp", "root_only")


def test_a_non_root_volatile_container_is_a_container_not_an_image_to_rebuild(tmp_path):
    fixed_host(tmp_path)
    StorageTree(tmp_path, records="volatile-containers.json").add_krun_config("rm-ctr", 0o700, uid=1234, name="job")
    report = audit(tmp_path)
    assert report["status"] == "affected"
    assert (report["files"][0]["container_name"], report["files"][0]["impact"]) == ("job", "env_lost")
    assert "images" not in report["files"][0]


def test_transient_store_records_under_the_runroot_are_read(tmp_path):
    """store.go load() / containers.go: with transient_store = true the volatile records live in
    <runroot>/<driver>-containers/volatile-containers.json."""
    fixed_host(tmp_path)
    storage_conf(tmp_path, '[storage]\ndriver = "overlay"\nrunroot = "/run/containers/storage"\n'
                           'transient_store = true\n')
    records = os.path.join(str(tmp_path), "run/containers/storage/overlay-containers/volatile-containers.json")
    StorageTree(tmp_path, records=records).add_krun_config("t1", 0o700, uid=0, name="transient")
    report = audit(tmp_path)
    assert report["status"] == "fixed", report["summary"]
    assert report["files"][0]["container_name"] == "transient"


def test_a_driver_without_a_layout_here_makes_the_verdict_unknown_and_names_it(tmp_path):
    """containers/storage keeps <driver>-layers per driver; zfs keeps its layers in datasets this
    scan cannot see. A host with a fixed crun is not fixed while they are unexamined."""
    fixed_host(tmp_path)
    os.makedirs(os.path.join(str(tmp_path), "var/lib/containers/storage/zfs-layers"))
    report = audit(tmp_path)
    assert report["status"] == "unknown", report["summary"]
    assert "/var/lib/containers/storage/zfs" in verdict(report)["reason"]
    assert report["coverage"]["complete"] is False
    assert "storage driver zfs" in report["coverage"]["not_examined"][0]["why"]


def test_btrfs_layers_are_examined(tmp_path):
    """drivers/btrfs Get: a layer's root file system is <graphroot>/btrfs/subvolumes/<id>."""
    fixed_host(tmp_path)
    StorageTree(tmp_path, driver="btrfs").add_krun_config("b1", 0o700, uid=1234)
    report = audit(tmp_path)
    assert report["status"] == "affected" and report["coverage"]["complete"], report["summary"]
    assert report["files"][0]["driver"] == "btrfs"


def test_an_additional_layer_store_is_named_as_not_examined(tmp_path):
    fixed_host(tmp_path)
    storage_conf(tmp_path, '[storage]\ndriver = "overlay"\n[storage.options]\n'
                           'additionallayerstores = ["/var/lib/stargz-store/store:ref"]\n')
    report = audit(tmp_path)
    assert report["status"] == "unknown"
    assert report["coverage"]["not_examined"][0]["path"] == "/var/lib/stargz-store/store:ref"


def test_an_error_never_sits_silently_beside_fixed(tmp_path):
    fixed_host(tmp_path)
    storage_conf(tmp_path, "[storage\ngraphroot = ")
    report = audit(tmp_path)
    assert report["errors"] and report["status"] == "unknown", report["summary"]
    assert "storage.conf" in verdict(report)["reason"]
    assert verdict(report, "CVE-2025-24965")["status"] == "unknown"


def test_a_complete_clean_host_is_fixed_with_complete_coverage(tmp_path):
    fixed_host(tmp_path)
    StorageTree(tmp_path).add_krun_config("new", 0o444)
    report = audit(tmp_path)
    assert (report["status"], report["coverage"], report["errors"]) == (
        "fixed", {"complete": True, "not_examined": []}, [])


def test_the_default_runtime_named_by_path_is_judged(tmp_path):
    """containers/common: [engine] runtime may be a path; conmon runs it with that path as argv[0],
    and crun picks its krun handler from that name."""
    fixed_host(tmp_path)
    stand_in_crun(tmp_path, "/opt/vm/bin/krun", AFFECTED_KRUN)
    write(os.path.join(str(tmp_path), "etc/containers/containers.conf"), '[engine]\nruntime = "/opt/vm/bin/krun"\n')
    report = audit(tmp_path)
    assert report["status"] == "affected", report["summary"]
    assert "krun entry point /opt/vm/bin/krun" in verdict(report)["reason"]


def test_a_runtime_table_entry_of_any_name_is_judged(tmp_path):
    fixed_host(tmp_path)
    stand_in_crun(tmp_path, "/opt/microvm/runtime", AFFECTED_KRUN)
    link(tmp_path, "/opt/microvm/krun", "runtime")
    write(os.path.join(str(tmp_path), "etc/containers/containers.conf"),
          '[engine.runtimes]\nmicrovm = ["/opt/microvm/krun"]\n')
    write(os.path.join(str(tmp_path), "etc/crio/crio.conf"),
          '[crio.runtime.runtimes.vm]\nruntime_path = "/opt/microvm/runtime"\n')
    report = audit(tmp_path)
    assert report["status"] == "affected", report["summary"]
    (runtime,) = [r for r in report["runtimes"] if r["realpath"] == "/opt/microvm/runtime"]
    assert runtime["krun_entrypoints"] == ["/opt/microvm/krun"]


def test_another_runtime_in_the_table_is_examined_and_set_aside(tmp_path):
    fixed_host(tmp_path)
    write(os.path.join(str(tmp_path), "usr/local/sbin/runc"), "#!/bin/sh\necho 'runc version 1.1.12'\n", 0o755)
    write(os.path.join(str(tmp_path), "etc/containers/containers.conf"),
          '[engine.runtimes]\nrunc = ["/usr/local/sbin/runc"]\n')
    report = audit(tmp_path)
    assert report["status"] == "fixed", report["summary"]
    assert [r["path"] for r in report["runtimes"]] == ["/usr/bin/crun"]


def test_a_runtime_someone_else_controls_is_never_run_and_is_named(tmp_path):
    fixed_host(tmp_path)
    marker = tmp_path / "ran"
    write(os.path.join(str(tmp_path), "opt/alice/krun"), "#!/bin/sh\ntouch %s\n" % marker, 0o755)
    os.chown(os.path.join(str(tmp_path), "opt/alice"), 1000, 1000)
    write(os.path.join(str(tmp_path), "etc/containers/containers.conf"), '[engine]\nruntime = "/opt/alice/krun"\n')
    report = audit(tmp_path)
    assert not marker.exists()
    assert report["status"] == "unknown"
    assert "/opt/alice/krun" in report["coverage"]["not_examined"][0]["path"]


def test_a_rootless_users_additional_image_store_is_scanned_as_her(searchable_tmp):
    """types/options.go: a user's own storage.conf decides all her stores."""
    root = searchable_tmp
    fixed_host(root)
    write(os.path.join(root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n")
    conf = os.path.join(root, "home/alice/.config/containers/storage.conf")
    write(conf, '[storage]\ndriver = "overlay"\n[storage.options]\nadditionalimagestores = ["/home/alice/shared"]\n')
    tree = StorageTree(root, "/home/alice/shared", owner=1000)
    tree.add_image_layer("shared-layer")
    for directory, _dirs, names in os.walk(os.path.join(root, "home/alice")):
        os.chown(directory, 1000, 1000)
        for name in names:
            os.chown(os.path.join(directory, name), 1000, 1000)
    report = audit(root)
    assert report["status"] == "affected", (report["summary"], report["errors"])
    assert report["files"][0]["storage_owner"] == "alice"


def test_a_home_reached_through_a_root_owned_link_is_followed_as_her_tools_would(tmp_path):
    """Debian's bin account has its home at /bin, a link to usr/bin: refusing it was an error on
    every host; a link another user controls is still refused."""
    os.makedirs(os.path.join(str(tmp_path), "usr/bin"))
    link(tmp_path, "/bin", "usr/bin")
    assert _hostfs.resolve_root_links(str(tmp_path), "/bin") == "/usr/bin"
    os.makedirs(os.path.join(str(tmp_path), "home/mallory/real"))
    link(tmp_path, "/home/mallory/link", "real")
    os.lchown(os.path.join(str(tmp_path), "home/mallory/link"), 1000, 1000)
    assert _hostfs.resolve_root_links(str(tmp_path), "/home/mallory/link") == "/home/mallory/link"


def test_the_configs_process_uid_decides_volatile_records_too(tmp_path):
    """The same impact rules hold for every record file: a config whose uid cannot be read is
    taken as a non-root container's."""
    fixed_host(tmp_path)
    path = StorageTree(tmp_path, records="volatile-containers.json").add_krun_config("x", 0o700, uid=0)
    with open(path, "w") as handle:
        handle.write("{not json")
    assert audit(tmp_path)["files"][0]["impact"] == "env_lost"


def test_a_runtime_below_a_sticky_directory_runs_only_when_root_owns_each_entry(tmp_path):
    """In a sticky directory such as /tmp nobody but root may rename or remove root's entries."""
    sticky = os.path.join(str(tmp_path), "scratch")
    os.makedirs(sticky)
    os.chmod(sticky, 0o1777)
    stand_in_crun(tmp_path, "/scratch/root/crun", FIXED_CRUN)
    stand_in_crun(tmp_path, "/scratch/alice/crun", AFFECTED_KRUN)
    os.chown(os.path.join(sticky, "alice"), 1000, 1000)
    write(os.path.join(str(tmp_path), "etc/containers/containers.conf"),
          '[engine.runtimes]\nmine = ["/scratch/root/crun"]\ntheirs = ["/scratch/alice/crun"]\n')
    report = audit(tmp_path)
    assert [r["path"] for r in report["runtimes"]] == ["/scratch/root/crun"]
    assert [n["path"] for n in report["coverage"]["not_examined"]] == ["/scratch/alice/crun"]
