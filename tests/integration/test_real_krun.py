"""The seed's symptom on real crun, and each remediation path curing it, asserted by running the
container and reading its environment, never by reading a mode.

Real: upstream crun 1.8.1 (affected) and 1.21 (fixed) built --with-libkrun from Debian's source
tarballs (tests/realcrun/build), the kernel's permission check on the file real crun wrote, the
hook program, the krun_config module, and podman for the stale-container case.
TEST STAND-IN: libkrun.so.1 (tests/realcrun/libkrun-standin.c), the microVM monitor, which is not
packaged anywhere reachable here; it opens /.krun_config.json as the container's user, as the real
VMM's file server does, and runs the command with the environment found there.

The fast variant runs crun directly on an OCI bundle (about a second each); the bundle's rootfs
sits where an overlay layer's diff/ would, so the storage sweep finds the file real crun wrote.
"""

import json
import os
import shutil
import stat
import subprocess
import uuid

import pytest

from ansible_collections.fleetfix.crun.plugins.module_utils import _canary as canary
from support import REPO, PrivatePodman, build_busybox_image, path_without, run_process

HOOK = os.path.join(REPO, "roles", "hook", "files", "fleetfix-krun-hook")
BUILD = os.path.join(REPO, "tests", "realcrun", "build")
PRINT_ENV = 'echo "marker TEST=$TEST container=$container"'
CURED = "marker TEST=here container=oci"
SYMPTOM = "marker TEST= container="


def runtime(realcrun, version, name="krun"):
    return os.path.join(realcrun, "crun-%s" % version, "bin", name)


class Bundle:
    """An OCI bundle whose rootfs is a layer's diff/ in a graphroot of its own, under an alternate
    host root (``host``), so the sweep looks at this graphroot alone, never at the machine's."""

    def __init__(self, base, realcrun, uid=1234, readonly=False, hook=False, annotations=None):
        self.host = os.path.join(str(base), "host")
        self.base = os.path.join(self.host, "bundle")
        self.graphroot = os.path.join(self.base, "storage")
        self.rootfs = os.path.join(self.graphroot, "overlay", "layer1", "diff")
        self.state = os.path.join(self.base, "state")
        os.makedirs(os.path.join(self.rootfs, "bin"))
        os.chmod(str(base), 0o755)  # the container's user walks down to its rootfs
        shutil.copy(shutil.which("busybox"), os.path.join(self.rootfs, "bin", "busybox"))
        for applet in ("sh", "echo"):
            os.symlink("busybox", os.path.join(self.rootfs, "bin", applet))
        subprocess.run([runtime(realcrun, "1.21", "crun"), "spec"], cwd=self.base, check=True)
        with open(os.path.join(self.base, "config.json")) as handle:
            config = json.load(handle)
        config["root"] = {"path": self.rootfs, "readonly": readonly}
        config["process"].update({"terminal": False, "user": {"uid": uid, "gid": uid},
                                  "env": ["PATH=/bin", "TEST=here", "container=oci"],
                                  "args": ["sh", "-c", PRINT_ENV]})
        config["annotations"] = dict(annotations or {})
        if hook:
            # as the hook role's JSON runs it
            config["hooks"] = {"createRuntime": [{"path": "/usr/bin/python3",
                                                  "args": ["python3", "-I", "-S", HOOK]}]}
        with open(os.path.join(self.base, "config.json"), "w") as handle:
            json.dump(config, handle)

    def run(self, binary):
        proc = subprocess.run([binary, "--root", self.state, "run", "-b", self.base, "c" + uuid.uuid4().hex[:12]],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    def run_with_the_bundle_hidden(self, binary):
        """crun run --config FILE from /, without -b: crun then hands createRuntime hooks "bundle":
        "/" (its own getcwd(), crun#2025), as podman's calls did for --uidmap with a CDI device."""
        proc = subprocess.run([binary, "--root", self.state, "run", "--config", os.path.join(self.base, "config.json"),
                               "c" + uuid.uuid4().hex[:12]], cwd="/", stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    @property
    def config_mode(self):
        return stat.S_IMODE(os.lstat(os.path.join(self.rootfs, ".krun_config.json")).st_mode)


def test_affected_crun_loses_a_non_root_containers_environment(realcrun, tmp_path):
    bundle = Bundle(tmp_path, realcrun)
    assert bundle.run(runtime(realcrun, "1.8.1")) == SYMPTOM
    assert bundle.config_mode == 0o700


def test_affected_crun_is_fine_for_a_root_container(realcrun, tmp_path):
    assert Bundle(tmp_path, realcrun, uid=0).run(runtime(realcrun, "1.8.1")) == CURED


def test_fixed_crun_keeps_a_non_root_containers_environment(realcrun, tmp_path):
    bundle = Bundle(tmp_path, realcrun)
    assert bundle.run(runtime(realcrun, "1.21")) == CURED
    assert bundle.config_mode == 0o444


def test_the_annotation_route_on_plain_crun_shows_the_symptom_too(realcrun, tmp_path):
    bundle = Bundle(tmp_path, realcrun, annotations={"run.oci.handler": "krun"})
    assert bundle.run(runtime(realcrun, "1.8.1", "crun")) == SYMPTOM


def test_a_container_created_under_the_affected_crun_loses_env_and_command_under_the_fixed_one(realcrun, tmp_path):
    bundle = Bundle(tmp_path, realcrun)
    bundle.run(runtime(realcrun, "1.8.1"))
    # O_CREAT|O_TRUNC keeps the old inode and its 0700; the command falls back to /bin/sh
    assert bundle.run(runtime(realcrun, "1.21")) == ""
    assert bundle.config_mode == 0o700


@pytest.mark.parametrize("variant", ["krun", "read-only rootfs", "annotation"])
def test_the_hook_cures_the_affected_crun(realcrun, tmp_path, variant):
    bundle = Bundle(tmp_path, realcrun, hook=True, readonly=variant == "read-only rootfs",
                    annotations={"run.oci.handler": "krun"} if variant == "annotation" else None)
    binary = runtime(realcrun, "1.8.1", "crun" if variant == "annotation" else "krun")
    assert bundle.run(binary) == CURED


def test_the_hook_cures_the_affected_crun_when_crun_hands_it_bundle_slash(realcrun, tmp_path):
    """Real crun 1.8.1 hands the hook "bundle": "/" here (shown by the state it got); the hook finds
    the rootfs through the state's "root" and the environment arrives. It used to log "skipped" and
    the container lost its environment while the host counted as mitigated."""
    bundle = Bundle(tmp_path, realcrun, hook=True)
    path = os.path.join(bundle.base, "config.json")
    with open(path) as handle:
        config = json.load(handle)
    seen = os.path.join(str(tmp_path), "state-seen.json")
    config["hooks"]["createRuntime"].insert(0, {"path": "/bin/sh", "args": ["sh", "-c", "cat > %s" % seen]})
    with open(path, "w") as handle:
        json.dump(config, handle)
    assert bundle.run_with_the_bundle_hidden(runtime(realcrun, "1.8.1")) == CURED
    with open(seen) as handle:
        assert json.load(handle)["bundle"] == "/"
    assert bundle.config_mode == 0o444


def test_the_sweep_cures_a_stale_container_under_the_fixed_crun(realcrun, tmp_path, module):
    bundle = Bundle(tmp_path, realcrun)
    bundle.run(runtime(realcrun, "1.8.1"))
    assert bundle.run(runtime(realcrun, "1.21")) == ""
    swept = module(tmp_path, "fleetfix.crun.krun_config",
                   {"root": bundle.host, "storage_roots": ["/bundle/storage"], "state": "fixed"})
    assert swept["changed"] is True and swept["counts"]["changed"] == 1, swept
    assert bundle.run(runtime(realcrun, "1.21")) == CURED


@pytest.mark.parametrize("version", ["1.8.1", "1.21"])
def test_a_krun_container_whose_user_namespace_hides_the_state_directory_never_starts_nor_leaves_a_file(
        realcrun, tmp_path, searchable_tmp, module, version):
    """podman#27822: crun 1.7.1 to 1.26 cannot start a krun container in a user namespace that crun
    creates and that does not map the state directory's owner. krun.c reads the state's
    config.json before it writes /.krun_config.json (until f311dc07, crun 1.27, moved both before
    the namespace), so the start fails first and writes nothing: such a container lost nothing,
    and the audit, which judges by the file in its layer, counts nothing for it."""
    bundle = Bundle(searchable_tmp, realcrun)  # every directory above the state one searchable
    path = os.path.join(bundle.base, "config.json")
    with open(path) as handle:
        config = json.load(handle)
    config["linux"]["namespaces"].append({"type": "user"})
    for key in ("uidMappings", "gidMappings"):
        config["linux"][key] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    with open(path, "w") as handle:
        json.dump(config, handle)
    proc = subprocess.run([runtime(realcrun, version), "--root", bundle.state, "run", "-b", bundle.base, "c-userns"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0 and "config.json`: Permission denied" in proc.stderr, proc.stderr
    assert not os.path.lexists(os.path.join(bundle.rootfs, ".krun_config.json"))
    audited = module(tmp_path, "fleetfix.crun.krun_config", {"root": bundle.host, "storage_roots": ["/bundle/storage"]})
    assert audited["counts"]["total"] == 0 and audited["errors"] == [], audited


@pytest.mark.podman
def test_podman_stale_container_is_cured_by_the_sweep(realcrun, tmp_path, module):
    """podman records the runtime path given at create: a symlink repointed from 1.8.1 to 1.21
    between two starts is the upgrade of the package under a container that already exists."""
    podman_binary = shutil.which("podman")
    if podman_binary is None:
        pytest.fail("podman is not installed: scripts/setup-host installs it")
    podman = PrivatePodman(str(tmp_path), podman_binary)
    try:
        build_busybox_image(podman, "localhost/fleetfix-test-env", config_mode=None)
        os.makedirs(str(tmp_path / "bin"))
        krun = str(tmp_path / "bin" / "krun")
        os.symlink(runtime(realcrun, "1.8.1"), krun)
        cid = podman("create", "--runtime", krun, "--network", "none", "--user", "1234", "-e", "TEST=here",
                     "--env", "container=oci", "localhost/fleetfix-test-env", "sh", "-c", PRINT_ENV)

        def start():
            return podman("start", "--attach", cid)
        assert start() == SYMPTOM
        os.unlink(krun)
        os.symlink(runtime(realcrun, "1.21"), krun)
        assert start() == ""
        swept = module(tmp_path, "fleetfix.crun.krun_config",
                       {"root": str(tmp_path), "storage_roots": ["/storage"], "state": "fixed"})
        assert swept["counts"]["changed"] == 1, swept
        assert start() == CURED
    finally:
        podman.close()


# --- the build's faults: each one line naming what is missing, never a silent fallback ------------

def build_in(tmp_path, env):
    return subprocess.run([BUILD], capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, FLEETFIX_REALCRUN_CACHE=str(tmp_path / "cache"), **env))


def test_a_missing_build_dependency_is_named_in_one_line(tmp_path):
    proc = build_in(tmp_path, {"PATH": path_without(tmp_path / "bin", "gperf", "go-md2man")})
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    prefix, suffix = "ERROR: cannot build real crun: missing ", " (scripts/setup-host installs them)"
    assert lines[0].startswith(prefix) and lines[0].endswith(suffix)
    assert sorted(lines[0][len(prefix):-len(suffix)].split()) == ["go-md2man", "gperf"]
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("served, needle", [
    (None, "cannot fetch crun_1.8.1.orig.tar.xz from"),
    (b"not the release tarball", "does not have the expected sha256"),
])
def test_an_unreachable_or_wrong_source_tarball_fails_in_one_line(tmp_path, served, needle):
    mirror = tmp_path / "mirror"
    if served is not None:
        (mirror / "pool/main/c/crun").mkdir(parents=True)
        (mirror / "pool/main/c/crun/crun_1.8.1.orig.tar.xz").write_bytes(served)
    proc = build_in(tmp_path, {"FLEETFIX_DEBIAN_MIRROR": "file://%s" % mirror})
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
    assert proc.returncode != 0 and len(errors) == 1 and needle in errors[0], proc.stderr
    assert not any(name.endswith(".tar.xz") for name in os.listdir(str(tmp_path / "cache" / "downloads")))


# --- the packages the molecule and fleet hosts install (tests/realcrun/debs) ----------------------

DEBS = os.path.join(REPO, "tests", "realcrun", "debs")


def deb_field(deb, field):
    return subprocess.run(["dpkg-deb", "--field", deb, field], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_packages_hold_the_real_builds_without_the_cache_rpath_and_name_the_stand_in(realcrun, tmp_path):
    out = tmp_path / "debs"
    subprocess.run([DEBS, realcrun, str(out)], capture_output=True, text=True, check=True, timeout=120)
    for version in ("1.8.1", "1.21"):
        deb = str(out / ("crun_%s-1+fleetfix1_amd64.deb" % version))
        tree = tmp_path / version
        subprocess.run(["dpkg-deb", "-x", deb, str(tree)], check=True)
        binary = str(tree / "usr" / "bin" / "crun")
        printed = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
        assert printed.splitlines()[0] == "crun version %s" % version and "+LIBKRUN" in printed
        dynamic = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout
        assert "NEEDED" in dynamic and "RPATH" not in dynamic and "RUNPATH" not in dynamic
        assert os.readlink(str(tree / "usr" / "bin" / "krun")) == "crun"
        assert "libyajl2" in deb_field(deb, "Depends")
    standin = [name for name in os.listdir(str(out)) if name.startswith("libkrun1_")]
    assert standin == ["libkrun1_1.18.1-0+fleetfix.standin1_amd64.deb"]
    assert "TEST STAND-IN" in deb_field(str(out / standin[0]), "Description")
    older = str(out / "older-libkrun" / "libkrun1_1.17.0-0+fleetfix.standin1_amd64.deb")
    assert "TEST STAND-IN" in deb_field(older, "Description")
    listing = subprocess.run(["dpkg-deb", "-c", older], capture_output=True, text=True, check=True).stdout
    assert "libkrun.so.1 -> libkrun.so.1.17.0" in listing
    index = (out / "repo" / "Packages").read_text()
    assert "Package: crun\nVersion: 1.21-1+fleetfix1\n" in index and "1.8.1" not in index
    assert "Package: libkrun1\nVersion: 1.18.1-0+fleetfix.standin1\n" in index and "1.17.0" not in index


@pytest.mark.parametrize("missing, needle", [
    ("patchelf", "patchelf is missing"),
    ("build", "no complete real crun build in"),
])
def test_a_package_that_cannot_be_made_fails_in_one_line(realcrun, tmp_path, missing, needle):
    source = str(tmp_path / "empty") if missing == "build" else realcrun
    proc = subprocess.run([DEBS, source, str(tmp_path / "out")], capture_output=True, text=True, timeout=120,
                          check=False, env=dict(os.environ, PATH=path_without(tmp_path / "bin", missing)))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1 and lines[0].startswith("ERROR: ") and needle in lines[0], \
        proc.stderr
    assert not (tmp_path / "out").exists()


# --- the canary that tests the symptom itself (through podman's normal configuration) -------------

@pytest.fixture
def private_podman(tmp_path, monkeypatch):
    """Real podman whose normal configuration is private (CONTAINERS_CONF / CONTAINERS_STORAGE_CONF
    in the environment the canary's commands inherit), hooks directory included."""
    podman_binary = shutil.which("podman")
    if podman_binary is None:
        pytest.fail("podman is not installed: scripts/setup-host installs it")
    podman = PrivatePodman(str(tmp_path), podman_binary)
    for name, value in podman.env.items():
        monkeypatch.setenv(name, value)
    yield podman
    podman.close()


def install_hook(podman):
    os.makedirs(podman.hooks_dir, exist_ok=True)
    with open(os.path.join(podman.hooks_dir, "50-fleetfix-krun.json"), "w") as handle:
        json.dump({"version": "1.0.0", "hook": {"path": "/usr/bin/python3", "args": ["python3", "-I", "-S", HOOK]},
                   "when": {"always": True}, "stages": ["createRuntime"]}, handle)


def without_libkrun(realcrun, tmp_path):
    """Real crun 1.8.1 whose RPATH names an empty directory: +LIBKRUN, but libkrun cannot load."""
    with open(runtime(realcrun, "1.8.1", "crun"), "rb") as handle:
        data = handle.read()
    old, new = (realcrun + "/lib").encode(), (realcrun + "/nil").encode()
    assert old in data and len(old) == len(new)
    krun = str(tmp_path / "nolib" / "krun")
    os.makedirs(os.path.dirname(krun))
    with open(krun, "wb") as handle:
        handle.write(data.replace(old, new))
    os.chmod(krun, 0o755)
    return krun


@pytest.mark.podman
@pytest.mark.parametrize("version, hook, status", [("1.8.1", False, "failed"), ("1.8.1", True, "passed"),
                                                   ("1.21", False, "passed")])
def test_the_symptom_canary_fails_exactly_where_the_environment_is_lost(realcrun, private_podman, version, hook, status):
    if hook:
        install_hook(private_podman)
    result = canary.canary(run_process, krun=runtime(realcrun, version), timeout=60)
    assert (result["status"], result["kind"]) == (status, "symptom"), result
    if status == "failed":
        assert "FLEETFIX_CANARY did not arrive" in result["reason"]


@pytest.mark.podman
def test_where_libkrun_cannot_load_the_canary_tests_the_file_mode_and_says_so(realcrun, private_podman, tmp_path):
    install_hook(private_podman)
    result = canary.canary(run_process, krun=without_libkrun(realcrun, tmp_path), timeout=60)
    assert (result["status"], result["kind"]) == ("passed", "file mode"), result
    assert result["reason"].startswith("the krun handler cannot start here")


def test_the_audit_finds_the_libkrun_a_real_crun_loads_through_its_rpath(realcrun, module, tmp_path):
    """No krun entry point and no libkrun in the linker's paths: only the binary's DT_RPATH says
    where its libkrun is, and the annotation route runs the handler (tested above)."""
    crun = runtime(realcrun, "1.8.1", "crun")
    result = module(tmp_path, "fleetfix.crun.crun_info", {"paths": [crun]})
    found = [r for r in result["runtimes"] if r["realpath"] == crun]
    assert found and found[0]["libkrun"] == os.path.join(realcrun, "lib", "libkrun.so.1"), result["runtimes"]
    verdicts = {v["id"]: v["status"] for v in found[0]["advisories"]}
    assert (verdicts["crun-1685"], verdicts["CVE-2025-24965"]) == ("affected", "affected")
    # the stand-in libkrun carries no version (no versioned file name, no package): said, not guessed
    assert verdicts["libkrun-config-keys"] == "unknown"


# --- images that carry the bug to other hosts --------------------------------------------------

@pytest.mark.podman
def test_an_image_layer_with_the_stale_file_names_its_image_and_the_sweep_does_not_change_the_export(
        tmp_path, module):
    """An image whose layer holds an owner-only config (what `podman commit` of an affected
    container makes) is named with its id, names, digest and users. The sweep fixes the layer on
    this host; `podman save` still exports it -rwx------ (containers/storage rebuilds the layer tar
    from the tar-split headers it recorded), so only a rebuild of the image cures other hosts."""
    import tarfile
    podman_binary = shutil.which("podman")
    if podman_binary is None:
        pytest.fail("podman is not installed: scripts/setup-host installs it")
    podman = PrivatePodman(str(tmp_path), podman_binary)
    try:
        build_busybox_image(podman, "localhost/fleetfix-test-stale-image")
        podman("create", "--name", "from-stale-image", "localhost/fleetfix-test-stale-image", "true")
        args = {"root": str(tmp_path), "storage_roots": ["/storage"], "state": "audited"}
        audited = module(tmp_path, "fleetfix.crun.krun_config", args)
        layer_files = [f for f in audited["files"] if f["container_id"] is None]
        assert len(layer_files) == 1 and layer_files[0]["impact"] == "image_layer", audited["files"]
        image = layer_files[0]["images"][0]
        assert image["names"] == ["localhost/fleetfix-test-stale-image:latest"]
        assert image["digest"].startswith("sha256:") and image["containers"] == ["from-stale-image"]

        swept = module(tmp_path, "fleetfix.crun.krun_config", dict(args, state="fixed"))
        assert swept["counts"]["changed"] == 1
        archive = str(tmp_path / "saved.tar")
        podman("save", "--output", archive, "localhost/fleetfix-test-stale-image")
        modes = []
        with tarfile.open(archive) as outer:
            for member in outer.getmembers():
                if member.isfile() and member.name.endswith(".tar"):
                    with tarfile.open(fileobj=outer.extractfile(member)) as layer:
                        modes += [m.mode for m in layer.getmembers() if m.name in (".krun_config.json", "./.krun_config.json")]
        assert modes == [0o700]
    finally:
        podman.close()
