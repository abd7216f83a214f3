"""Helpers shared by the unit and integration tests: stand-in crun binaries and c/storage trees."""

import io
import json
import os
import shutil
import signal
import stat
import statistics
import subprocess
import tarfile
import tempfile
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# `crun --version` texts of real builds, with their provenance (tests/fixtures/crun-version/README.md)
VERSION_FIXTURES = os.path.join(REPO, "tests", "fixtures", "crun-version")
CONFIG_NAME = ".krun_config.json"


def median_seconds(func, repeat):
    """The median wall time of ``repeat`` calls of ``func``: the benchmarks' one way of timing."""
    times = []
    for dummy in range(repeat):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)


def stand_in_crun(root, path, fixture=None, script=None):
    """A stand-in crun binary that prints a real --version fixture (or runs `script`)."""
    if script is None:
        script = 'cat "%s"' % os.path.join(VERSION_FIXTURES, fixture)
    write(os.path.join(str(root), path.lstrip("/")), "#!/bin/sh\n%s\n" % script, 0o755)


def shared_object(path, soname):
    """A real (empty) ELF shared object with that soname, built with the machine's C compiler:
    ldconfig caches only real ones."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise AssertionError("no C compiler: scripts/setup-host installs build-essential")
    subprocess.run([compiler, "-shared", "-fPIC", "-x", "c", "-", "-o", path, "-Wl,-soname," + soname],
                   input=b"int fleetfix_test_symbol;\n", check=True, capture_output=True)


def link(root, path, target):
    full = os.path.join(str(root), path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    os.symlink(target, full)


def path_without(directory, *missing):
    """A PATH directory (made in ``directory``) linking every program of /usr/sbin and /usr/bin
    except ``missing``: a machine where those tools are not installed."""
    directory.mkdir()
    for system_dir in ("/usr/sbin", "/usr/bin"):
        for name in os.listdir(system_dir):
            if name not in missing and not (directory / name).exists():
                os.symlink(os.path.join(system_dir, name), str(directory / name))
    return str(directory)


def krun_config(uid):
    return json.dumps({"ociVersion": "1.0.0", "process": {"user": {"uid": uid, "gid": uid},
                                                          "env": ["container=oci"], "args": ["/bin/sh"]}})


class StorageTree:
    """One graphroot under an alternate filesystem root."""

    # each driver's layer directory and a layer's rootfs in it, as containers/storage lays them out
    LAYOUTS = {"overlay": ("overlay", "diff"), "vfs": ("vfs/dir", ""), "btrfs": ("btrfs/subvolumes", ""),
               "aufs": ("aufs/diff", "")}

    def __init__(self, root, graphroot="/var/lib/containers/storage", driver="overlay", owner=None,
                 records="containers.json"):
        self.root = str(root)
        self.graphroot = graphroot
        self.driver = driver
        self.owner = owner
        self.records = records
        self.full = os.path.join(self.root, graphroot.lstrip("/"))
        self.containers = []
        os.makedirs(os.path.join(self.full, self.LAYOUTS[driver][0]), exist_ok=True)
        self.chown()

    def chown(self, top=None):
        """Give the tree from ``top`` (default: the first directory below the root's /home, or the
        graphroot) to ``owner``, as a rootless user's storage is theirs."""
        if self.owner is None:
            return
        parts = self.graphroot.strip("/").split("/")
        top = top or os.path.join(self.root, *(parts[:2] if parts[0] == "home" else parts))
        for directory, _dirs, names in os.walk(top):
            os.chown(directory, self.owner, self.owner)
            for name in names:
                os.chown(os.path.join(directory, name), self.owner, self.owner, follow_symlinks=False)

    def rootfs(self, layer):
        layers, inside = self.LAYOUTS[self.driver]
        return os.path.join(self.full, layers, layer, inside)

    def add_container(self, cid, name=None, layer=None, write_json=True):
        layer = layer or "layer-" + cid
        self.containers.append({"id": cid, "names": [name or "ctr-" + cid], "layer": layer, "image": "img"})
        os.makedirs(self.rootfs(layer), exist_ok=True)
        if write_json:
            self.write_containers_json()
        self.chown()
        return self.rootfs(layer)

    def write_containers_json(self):
        """The container records, in containers.json or (``records``) a file of that name under
        the graphroot's <driver>-containers, or a full path for a runroot's."""
        path = self.records if self.records.startswith("/") else os.path.join(
            self.full, "%s-containers" % self.driver, self.records)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            json.dump(self.containers, handle)

    def add_image_layer(self, layer, mode=0o700, names=("localhost/app:1",)):
        """An image whose one layer holds an owner-only config, recorded in images.json and layers.json."""
        path = os.path.join(self.rootfs(layer), CONFIG_NAME)
        write(path, krun_config(0), mode)
        for kind, records in (("images", [{"id": "img-" + layer, "names": list(names), "layer": layer}]),
                              ("layers", [{"id": layer}])):
            write(os.path.join(self.full, "%s-%s" % (self.driver, kind), "%s.json" % kind), json.dumps(records))
        self.chown()
        return path

    def add_shared_stale_layers(self, layers, images, names_per_image=1):
        """``layers`` stale layers stacked in one chain, under ``images`` images whose top layers
        sit on that chain: every stale layer is in every image (a base image's layers shared by
        many images, the output amplification of docs/security.md)."""
        chain, parent = [], None
        for n in range(layers):
            layer = "shared-%04d" % n
            write(os.path.join(self.rootfs(layer), CONFIG_NAME), krun_config(0), 0o700)
            chain.append({"id": layer, "parent": parent})
            parent = layer
        tops = []
        for n in range(images):
            top = "top-%04d" % n
            os.makedirs(self.rootfs(top), exist_ok=True)
            chain.append({"id": top, "parent": parent})
            tops.append({"id": "img-%04d" % n, "layer": top, "digest": "sha256:%064d" % n,
                         "names": ["localhost/app-%04d:%d" % (n, k) for k in range(names_per_image)]})
        for kind, records in (("images", tops), ("layers", chain)):
            write(os.path.join(self.full, "%s-%s" % (self.driver, kind), "%s.json" % kind), json.dumps(records))
        self.chown()

    def config_path(self, cid):
        return os.path.join(self.rootfs("layer-" + cid), CONFIG_NAME)

    def add_krun_config(self, cid, mode=0o700, uid=1234, name=None, write_json=True):
        rootfs = self.add_container(cid, name, write_json=write_json)
        path = os.path.join(rootfs, CONFIG_NAME)
        with open(path, "w") as handle:
            handle.write(krun_config(uid))
        os.chmod(path, mode)
        self.chown()
        return path


def build_busybox_image(podman, name, config=None, config_mode=0o700, symlink_to=None, special=None):
    """Import a one-binary busybox image whose rootfs holds a /.krun_config.json (none if config_mode is None).

    The owner-only file is a stand-in for what an affected crun (1.7.1-1.20) leaves in a rootfs;
    no such crun can run here. ``podman`` is a callable taking podman arguments and stdin.
    ``special``: "fifo" or "chardev" (1:3, /dev/null's numbers) ships that under the name
    instead, as a hostile image author can.

    Each call's layer is unique (a /.fleetfix-test-image file holds a fresh id): podman reuses a
    stored layer whose content matches, and a sweep of the machine's own storage may have fixed
    that one's file already, so an identical import would not be stale.
    """
    busybox = shutil.which("busybox")
    if busybox is None:
        raise AssertionError("busybox is not installed: scripts/setup-host installs busybox-static")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        identity = uuid.uuid4().hex.encode()
        marker = tarfile.TarInfo(".fleetfix-test-image")
        marker.size, marker.mode = len(identity), 0o444
        tar.addfile(marker, io.BytesIO(identity))
        info = tarfile.TarInfo("bin")
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in ("sh", "cat", "stat", "id", "true", "sleep"):
            link = tarfile.TarInfo("bin/" + applet)
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        entry = tarfile.TarInfo(CONFIG_NAME)
        if symlink_to:
            entry.type, entry.linkname = tarfile.SYMTYPE, symlink_to
            tar.addfile(entry)
        elif special:
            entry.type, entry.mode = {"fifo": tarfile.FIFOTYPE, "chardev": tarfile.CHRTYPE}[special], 0o600
            entry.devmajor, entry.devminor = (1, 3) if special == "chardev" else (0, 0)
            tar.addfile(entry)
        elif config_mode is not None:
            data = (config or krun_config(1234)).encode()
            entry.size, entry.mode = len(data), config_mode
            tar.addfile(entry, io.BytesIO(data))
    podman("import", "--change", 'CMD ["/bin/sh"]', "-", name, stdin=buffer.getvalue())
    return name


class PrivatePodman:
    """podman with a private containers.conf and storage.conf, as podman's own overrides allow.

    Containers, images and hooks of the machine are never touched: everything lives under base.
    """

    def __init__(self, base, podman="podman", graphroot=None):
        self.podman = podman
        self.graphroot = graphroot or os.path.join(base, "storage")
        self.base = base
        self.runroot = tempfile.mkdtemp(prefix="fleetfix-run-", dir="/tmp")  # podman: at most 50 characters
        self.hooks_dir = os.path.join(base, "hooks.d")
        self.env = {"CONTAINERS_CONF": os.path.join(base, "containers.conf"),
                    "CONTAINERS_STORAGE_CONF": os.path.join(base, "storage.conf")}
        with open(self.env["CONTAINERS_CONF"], "w") as handle:
            handle.write('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
                         '[engine]\nhooks_dir = ["%s"]\n' % self.hooks_dir)
        with open(self.env["CONTAINERS_STORAGE_CONF"], "w") as handle:
            handle.write('[storage]\ndriver = "overlay"\ngraphroot = "%s"\nrunroot = "%s"\n'
                         % (self.graphroot, self.runroot))

    def __call__(self, *args, stdin=None, check=True):
        proc = subprocess.run([self.podman] + list(args), input=stdin, capture_output=True, check=False,
                              env=dict(os.environ, **self.env))
        if check and proc.returncode != 0:
            raise AssertionError("podman %s: %s" % (" ".join(args), proc.stderr.decode()))
        return proc.stdout.decode().strip()

    def plant(self, name, uid=1234, symlink_to=None, image="localhost/fleetfix-test-busybox"):
        """Create a container and put into its rootfs what an affected crun (or an attacker) would."""
        cid = self("create", "--name", name, "--user", str(uid), image, "sleep", "600")
        merged = self("mount", cid)
        path = os.path.join(merged, ".krun_config.json")
        if symlink_to:
            os.symlink(symlink_to, path)
        else:
            with open(path, "w") as handle:
                handle.write(krun_config(uid))
            os.chmod(path, 0o700)
        self("umount", cid)
        return cid

    def config_mode(self, cid):
        merged = self("mount", cid)
        try:
            return stat.S_IMODE(os.lstat(os.path.join(merged, ".krun_config.json")).st_mode)
        finally:
            self("umount", cid)

    def close(self):
        self("rm", "--all", "--force", check=False)
        self("rmi", "--all", "--force", check=False)
        subprocess.run(["umount", "-R", self.runroot], capture_output=True, check=False)
        shutil.rmtree(self.runroot, ignore_errors=True)


def png_pixels(path):
    """(width, height, {(r, g, b): count}) of an 8-bit RGB or RGBA PNG, with the standard library only."""
    import struct
    import zlib
    with open(path, "rb") as handle:
        data = handle.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "%s is not a PNG" % path
    offset, idat, header = 8, [], None
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        chunk = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        offset += 12 + length
    width, height, depth, colour_type = header[:4]
    assert depth == 8 and colour_type in (2, 6), "only 8-bit RGB(A) PNGs are decoded here"
    step = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(b"".join(idat)), width * step
    previous, counts, position = bytearray(stride), {}, 0
    for _row in range(height):
        kind, line = raw[position], bytearray(raw[position + 1:position + 1 + stride])
        position += 1 + stride
        for i in range(stride):
            left = line[i - step] if i >= step else 0
            up, corner = previous[i], previous[i - step] if i >= step else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                pa, pb, pc = abs(guess - left), abs(guess - up), abs(guess - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        for i in range(0, stride, step):
            colour = tuple(line[i:i + 3])
            counts[colour] = counts.get(colour, 0) + 1
        previous = line
    return width, height, counts


def private_role_vars(base):
    """Role variables that keep a playbook run on this machine inside ``base``: the stand-in cruns
    (base/bin/crun and krun), the facts file, the report and the hook program."""
    base = str(base)
    return {"audit_crun_paths": [os.path.join(base, "bin/crun"), os.path.join(base, "bin/krun")],
            "audit_facts_file": os.path.join(base, "facts.d/fleetfix_crun.fact"),
            "report_dir": os.path.join(base, "reports"),
            "hook_program_path": os.path.join(base, "libexec/fleetfix-krun-hook")}


def run_process(argv, timeout, stdin=None):
    """The command runner the unit tests hand to module_utils (modules use _hostfs.module_runner):
    the same contract, on subprocess, in a process group of its own that is killed on timeout."""
    from ansible_collections.fleetfix.crun.plugins.module_utils._hostfs import CommandTimeout
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True, start_new_session=True,
                            env=dict(os.environ, LANG="C", LC_ALL="C"))
    try:
        out, err = proc.communicate(input=stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise CommandTimeout("timed out after %ss" % timeout)
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


HOOK_PROGRAM = "/usr/local/libexec/fleetfix-krun-hook"
HOOK_NAME = "50-fleetfix-krun.json"


def install_hook_as_the_role_does(root, content="# hook\n", python="/usr/bin/python3"):
    """The hook JSON and program under ``root`` as the hook role writes them (through _hooks.install)."""
    from ansible_collections.fleetfix.crun.plugins.module_utils import _hooks
    write(os.path.join(str(root), "usr/bin/python3"), "", 0o755)
    _hooks.install([os.path.join(str(root), "usr/share/containers/oci/hooks.d")], HOOK_NAME,
                   _hooks.hook_document(python, HOOK_PROGRAM),
                   program=(os.path.join(str(root), HOOK_PROGRAM.lstrip("/")), content))


def dpkg_db(root, packages):
    """A dpkg database under root: {name: (version, [paths], status)}."""
    stanzas = []
    for name, (version, paths, status) in packages.items():
        write(os.path.join(str(root), "var/lib/dpkg/info/%s.list" % name), "".join(p + "\n" for p in ["/."] + paths))
        stanzas.append("Package: %s\nStatus: %s\nVersion: %s\nDescription: x\n multi-line\n" % (name, status, version))
    write(os.path.join(str(root), "var/lib/dpkg/status"), "\n".join(stanzas))
