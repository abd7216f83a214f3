"""A fleet of simulated hosts on this machine, each with its own real sshd.

    python tests/fleet/fleet.py up N [--seed S]     start N hosts, seed their state, write the inventory
    python tests/fleet/fleet.py down                stop everything started, restore kernel settings
    python tests/fleet/fleet.py status
    python tests/fleet/fleet.py kill HOST           stop one host's sshd (it becomes unreachable)
    python tests/fleet/fleet.py stale --every K     a new owner-only .krun_config.json on every K-th host

Each host is a network namespace on a private bridge (a test subnet that exists only on this
machine; the script refuses to start unless that subnet routes through its own bridge, so no
packet leaves the machine) running sshd in its own mount namespace: an overlay per top-level
directory (etc usr var opt home srv) whose upper directory belongs to the host, a plain /root of
its own, tmpfs /run and /tmp. A file in an upper directory changes that host only; a character
device 0/0 hides a path; an opaque directory hides a directory's content.

Seeding draws each host's state from a fixed, seeded mix (see KINDS) and writes the ground truth
to truth.json. Every crun is real code: the Debian 12 crun 1.8.1 (no krun handler) is this
machine's own; a krun host has real upstream crun 1.8.1 built --with-libkrun (affected) or 1.21
(fixed), installed by dpkg from the .deb packages of tests/realcrun/debs, with the TEST STAND-IN
libkrun (tests/realcrun/libkrun-standin.c: no microVM can run here). dpkg installs each package
once, into a package layer (an overlay upper directory of its own) that the hosts of that kind
stack between their own upper directory and this machine's. An affected host's layer also holds
a local apt repository (file:) offering the fixed package, with its lists, so apt can upgrade it
offline. Container storage is laid out as c/storage lays it out, with owner-only
.krun_config.json files as an affected crun leaves them.
"""

import argparse
import ipaddress
import json
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
REALCRUN_BUILD = os.path.join(REPO, "tests", "realcrun", "build")
REALCRUN_DEBS = os.path.join(REPO, "tests", "realcrun", "debs")
FLEET = os.environ.get("FLEETFIX_FLEET_DIR", os.path.join(REPO, ".cache", "fleet"))
SUBNET = ipaddress.ip_network("10.231.0.0/16")
BRIDGE = "fxbr0"
BRIDGE_IP = "10.231.0.1"
OVERLAID = ("etc", "usr", "var", "opt", "home", "srv")
MAX_HOSTS = 1000  # a Linux bridge takes at most 1024 ports
NEIGH_SYSCTLS = {"net.ipv4.neigh.default.gc_thresh2": 4096, "net.ipv4.neigh.default.gc_thresh3": 8192}

# kind -> weight. Expected audit status per kind is in expected_status().
KINDS = (("no_crun", 15), ("debian_181", 25), ("krun_181", 35), ("fixed_121_stale", 15), ("fixed_121_clean", 10))
# kind -> the package layer its hosts stack (see build_layers)
LAYER_OF = {"krun_181": "affected", "fixed_121_stale": "fixed", "fixed_121_clean": "fixed",
            "krun_by_path": "fixed", "image_store_stale": "fixed"}
# Hosts whose state only the stores and runtimes their tools use reveal, placed whatever the seed
# draws (a fleet of 3 hosts or more has both), each on the fixed layer (packaged crun 1.21):
# - krun_by_path: podman's default runtime is [engine] runtime = "/opt/vm/bin/krun", a copy of the
#   real crun 1.8.1 binary; conmon runs it as krun, so it runs the krun handler. Nothing on PATH
#   shows it. Affected (crun-1685 and CVE-2025-24965); the hook mitigates only the first.
# - image_store_stale: an additional image store (/usr/lib/containers/storage, as bootc lays it
#   out) holds an image layer with an owner-only config. Affected until the sweep fixes it.
PLACED = {1: "krun_by_path", 2: "image_store_stale"}
BY_PATH_KRUN = "opt/vm/bin/krun"
IMAGE_STORE = "usr/lib/containers/storage"
STORAGE = "var/lib/containers/storage"
APT_NO_CACHE = "etc/apt/apt.conf.d/docker-clean"


def run(*argv, check=True, **kwargs):
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kwargs)


def host_ip(index):
    return str(SUBNET.network_address + 2 + index)


def host_name(index):
    return "fxh%d" % index


def host_dir(index):
    return os.path.join(FLEET, "hosts", host_name(index))


def load_state():
    try:
        with open(os.path.join(FLEET, "state.json")) as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return None


def save_state(state):
    os.makedirs(FLEET, exist_ok=True)
    with open(os.path.join(FLEET, "state.json"), "w") as handle:
        json.dump(state, handle, indent=1)


# ---------------------------------------------------------------- seeding

def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)


def hide(upper, path):
    """A 0/0 character device in the upper directory hides the path on this host only."""
    full = os.path.join(upper, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    os.mknod(full, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def chown_tree(top, uid):
    for directory, _dirs, files in os.walk(top):
        os.chown(directory, uid, uid)
        for name in files:
            os.chown(os.path.join(directory, name), uid, uid, follow_symlinks=False)


def opaque_dir(upper, path):
    full = os.path.join(upper, path)
    os.makedirs(full, exist_ok=True)
    os.setxattr(full, "trusted.overlay.opaque", b"y")


def seed_storage(upper, rng, containers, stale_share, symlinks=0, min_stale=0, prefix=STORAGE):
    """c/storage with containers; returns (stale file paths, symlink paths) as seen on the host."""
    records, stale, planted = [], [], []
    for number in range(containers):
        cid = "%064x" % rng.getrandbits(256)
        layer = "%064x" % rng.getrandbits(256)
        records.append({"id": cid, "names": ["ctr-%d" % number], "layer": layer, "image": "img"})
        diff = os.path.join(upper, prefix, "overlay", layer, "diff")
        os.makedirs(diff)
        path = "/" + os.path.join(prefix, "overlay", layer, "diff", ".krun_config.json")
        if number < symlinks:
            os.symlink("/etc/shadow", os.path.join(diff, ".krun_config.json"))
            planted.append(path)
        elif number < symlinks + min_stale or rng.random() < 0.8:
            owner_only = number < symlinks + min_stale or rng.random() < stale_share
            write(os.path.join(diff, ".krun_config.json"),
                  json.dumps({"process": {"user": {"uid": 1000 + number}, "env": ["container=oci"]}}),
                  0o700 if owner_only else 0o444)
            if owner_only:
                stale.append(path)
    write(os.path.join(upper, prefix, "overlay-containers", "containers.json"), json.dumps(records), 0o600)
    return stale, planted


def seed_host(index, seed):
    """Give one host its state; return its ground truth."""
    rng = random.Random(seed * 100003 + index)
    upper = os.path.join(host_dir(index), "upper")
    kind = rng.choices([k for k, _w in KINDS], weights=[w for _k, w in KINDS])[0]
    kind = PLACED.get(index, kind)
    opaque_dir(upper, "var/lib/containers")  # this machine's own containers stay out of every host
    opaque_dir(upper, "etc/ansible")  # and so do its facts files
    opaque_dir(upper, "usr/share/containers/oci/hooks.d")
    # This machine's image turns apt's binary cache off (docker-clean), so every apt-cache run
    # rebuilds it (0.6 s of CPU); a Debian host keeps /var/cache/apt/pkgcache.bin. Hosts get apt
    # as installed, so a simulated host costs what a real one does.
    if os.path.exists("/" + APT_NO_CACHE):
        hide(upper, APT_NO_CACHE)
    stale, planted = [], []
    if kind == "no_crun":
        hide(upper, "usr/bin/crun")
    elif kind == "krun_181":
        stale, planted = seed_storage(upper, rng, rng.randint(0, 50), 0.4, 1 if rng.random() < 0.2 else 0)
    elif kind.startswith("fixed_121"):
        stale_kind = kind == "fixed_121_stale"
        stale, planted = seed_storage(upper, rng, rng.randint(2, 30), 0.5 if stale_kind else 0.0,
                                      min_stale=1 if stale_kind else 0)
    elif kind == "krun_by_path":
        binary = os.path.join(upper, BY_PATH_KRUN)
        os.makedirs(os.path.dirname(binary))
        shutil.copy2(os.path.join(FLEET, "layers", "affected", "upper", "usr", "bin", "crun"), binary)
        write(os.path.join(upper, "etc/containers/containers.conf"), '[engine]\nruntime = "/%s"\n' % BY_PATH_KRUN)
    elif kind == "image_store_stale":
        write(os.path.join(upper, "etc/containers/storage.conf"),
              '[storage]\ndriver = "overlay"\n[storage.options]\nadditionalimagestores = ["/%s"]\n' % IMAGE_STORE)
        layer = "%064x" % rng.getrandbits(256)
        write(os.path.join(upper, IMAGE_STORE, "overlay", layer, "diff", ".krun_config.json"),
              json.dumps({"process": {"user": {"uid": 0}, "env": ["container=oci"]}}), 0o700)
        write(os.path.join(upper, IMAGE_STORE, "overlay-images", "images.json"),
              json.dumps([{"id": "%064x" % rng.getrandbits(256), "names": ["localhost/shared:1"], "layer": layer}]))
        write(os.path.join(upper, IMAGE_STORE, "overlay-layers", "layers.json"), json.dumps([{"id": layer}]))
        stale = ["/%s/overlay/%s/diff/.krun_config.json" % (IMAGE_STORE, layer)]
    rootless = kind in ("krun_181", "fixed_121_stale") and rng.random() < 0.3
    if rootless:
        with open("/etc/passwd") as handle:
            passwd = handle.read()
        write(os.path.join(upper, "etc/passwd"), passwd + "fxuser:x:1500:1500::/home/fxuser:/bin/sh\n")
        stale += seed_storage(upper, rng, 2, 0.0, min_stale=1,
                              prefix="home/fxuser/.local/share/containers/storage")[0]
        chown_tree(os.path.join(upper, "home/fxuser"), 1500)  # a user's storage is theirs, as podman leaves it
    return {"host": host_name(index), "ip": host_ip(index), "kind": kind, "layer": LAYER_OF.get(kind),
            "stale": stale, "symlinks": planted,
            "rootless": rootless, "expected_status": expected_status(kind, stale)}


def expected_status(kind, stale):
    if stale:
        return "affected"
    return {"no_crun": "not_applicable", "debian_181": "not_applicable", "krun_181": "affected",
            "fixed_121_stale": "fixed", "fixed_121_clean": "fixed", "krun_by_path": "affected"}[kind]


# ---------------------------------------------------------------- hosts

INIT = """#!/bin/sh
# Runs as PID 1 of host {name}'s mount namespace, then becomes its sshd. The fleet directory is
# bound to /run/fleet first, so it stays reachable wherever it lives once /tmp, /var... are covered.
set -e
umount -l /run/netns 2>/dev/null || true
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/fleet /run/sshd && touch /run/utmp
mount --bind {fleet} /run/fleet
for d in {overlaid}; do
  mount -t overlay overlay -o lowerdir={lower},upperdir={dir}/upper/$d,workdir={dir}/work/$d /$d
done
mount --bind {dir}/root /root
mount -t tmpfs -o mode=1777 tmpfs /tmp
hostname {name}
exec /usr/sbin/sshd -D -e -f /run/fleet/hosts/{name}/sshd_config
"""

SSHD_CONFIG = """ListenAddress {ip}
HostKey /run/fleet/keys/host_ed25519
AuthorizedKeysFile /run/fleet/keys/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 200
MaxSessions 50
PidFile none
Subsystem sftp internal-sftp
"""


def ensure_tools():
    missing = [tool for tool in ("sshd", "ssh-keygen") if shutil.which(tool) is None
               and not os.path.exists("/usr/sbin/" + tool)]
    if missing:
        if shutil.which("apt-get") is None:
            sys.exit("fleet: %s missing; install openssh-server" % ", ".join(missing))
        run("apt-get", "install", "-y", "-qq", "openssh-server", env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def keys():
    directory = os.path.join(FLEET, "keys")
    os.makedirs(directory, exist_ok=True)
    for name in ("id_ed25519", "host_ed25519"):
        if not os.path.exists(os.path.join(directory, name)):
            run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fleetfix-fleet", "-f", os.path.join(directory, name))
    shutil.copy(os.path.join(directory, "id_ed25519.pub"), os.path.join(directory, "authorized_keys"))
    return directory


def check_route():
    """Refuse to go on unless the test subnet is reached through our own bridge."""
    route = json.loads(run("ip", "-j", "route", "get", host_ip(0)).stdout)
    if not route or route[0].get("dev") != BRIDGE:
        raise SystemExit("fleet: %s does not route through %s (%s); refusing to start" % (SUBNET, BRIDGE, route))


# Runs in a mount namespace of its own: dpkg installs the real packages into a layer's upper
# directories, over this machine's root, as it would on a host.
LAYER_BUILD = """set -e
for d in {overlaid}; do
  mkdir -p {layer}/upper/$d {layer}/work/$d
  mount -t overlay overlay -o lowerdir=/$d,upperdir={layer}/upper/$d,workdir={layer}/work/$d /$d
done
export DEBIAN_FRONTEND=noninteractive
unset APT_CONFIG  # a host's apt state lives in its layer, whatever this machine's apt configuration says
dpkg -i {packages}
if [ -n "{repo}" ]; then
  cp -r {repo} /srv/fleetfix-repo
  echo 'deb [trusted=yes] file:/srv/fleetfix-repo ./' > /etc/apt/sources.list.d/fleetfix-local.list
  apt-get update -qq -o APT::Sandbox::User=root -o Dir::Etc::SourceList=/etc/apt/sources.list.d/fleetfix-local.list \\
    -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0
fi
"""


def last_line(text):
    return (text.strip().splitlines() or ["(no message)"])[-1]


def build_layers():
    """The package layers: real crun from .deb packages, installed by dpkg once per kind of host."""
    built = run(REALCRUN_BUILD, check=False)
    if built.returncode != 0:  # no host gets a stand-in crun instead
        raise SystemExit("fleet: no real crun to install: %s" % last_line(built.stderr))
    debs = os.path.join(FLEET, "debs")
    shutil.rmtree(debs, ignore_errors=True)
    packaged = run(REALCRUN_DEBS, built.stdout.strip(), debs, check=False)
    if packaged.returncode != 0:
        raise SystemExit("fleet: cannot package the real crun: %s" % last_line(packaged.stderr))
    layers = os.path.join(FLEET, "layers")
    shutil.rmtree(layers, ignore_errors=True)
    # affected: crun 1.8.1 and a repository offering 1.21; fixed: crun 1.21
    for layer, crun_version, repo in (("affected", "1.8.1", os.path.join(debs, "repo")), ("fixed", "1.21", "")):
        packages = " ".join([os.path.join(debs, "crun_%s-1+fleetfix1_amd64.deb" % crun_version)]
                            + [os.path.join(debs, name) for name in os.listdir(debs) if name.startswith("libkrun1_")])
        script = LAYER_BUILD.format(overlaid=" ".join(OVERLAID), layer=os.path.join(layers, layer),
                                    packages=packages, repo=repo)
        proc = run("unshare", "--mount", "--propagation", "private", "sh", "-c", script, check=False)
        if proc.returncode != 0:
            raise SystemExit("fleet: cannot build the %s package layer: %s" % (layer, proc.stderr.strip()[-2000:]))


def lower_dirs(layer):
    """A host's overlay lowerdir for directory $d: its package layer, if any, over this machine's root."""
    return "/run/fleet/layers/%s/upper/$d:/$d" % layer if layer else "/$d"


def start_host(index, state, layer=None):
    name, directory, ip = host_name(index), host_dir(index), host_ip(index)
    for sub in OVERLAID:
        os.makedirs(os.path.join(directory, "upper", sub), exist_ok=True)
        os.makedirs(os.path.join(directory, "work", sub), exist_ok=True)
    os.makedirs(os.path.join(directory, "root"), mode=0o700, exist_ok=True)
    write(os.path.join(directory, "init.sh"),
          INIT.format(name=name, dir=directory, fleet=os.path.realpath(FLEET), overlaid=" ".join(OVERLAID),
                      lower=lower_dirs(layer)), 0o755)
    write(os.path.join(directory, "sshd_config"), SSHD_CONFIG.format(ip=ip))
    veth = "fxv%d" % index
    run("ip", "netns", "add", name)
    state["netns"].append(name)
    run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name)
    run("ip", "link", "set", veth, "master", BRIDGE, "up")
    run("ip", "-n", name, "addr", "add", "%s/%d" % (ip, SUBNET.prefixlen), "dev", "eth0")
    run("ip", "-n", name, "link", "set", "eth0", "up")
    run("ip", "-n", name, "link", "set", "lo", "up")
    log = open(os.path.join(directory, "sshd.log"), "w")
    proc = subprocess.Popen(["ip", "netns", "exec", name, "unshare", "--mount", "--uts", "--propagation", "private",
                             os.path.join(directory, "init.sh")], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    state["pids"][name] = proc.pid


def wait_for_ssh(ips, timeout=60):
    deadline = time.monotonic() + timeout
    pending = set(ips)
    while pending and time.monotonic() < deadline:
        for ip in list(pending):
            with socket.socket() as sock:
                sock.settimeout(0.2)
                if sock.connect_ex((ip, 22)) == 0:
                    pending.discard(ip)
        if pending:
            time.sleep(0.2)
    if pending:
        raise SystemExit("fleet: sshd did not come up on %d host(s), e.g. %s" % (len(pending), sorted(pending)[:3]))


def write_inventory(count, key_dir):
    hosts = dict((host_name(i), {"ansible_host": host_ip(i)}) for i in range(count))
    inventory = {"all": {"hosts": hosts, "vars": {
        "ansible_user": "root",
        "ansible_ssh_private_key_file": os.path.join(key_dir, "id_ed25519"),
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
        "ansible_python_interpreter": "/usr/bin/python3",
    }}}
    path = os.path.join(FLEET, "inventory.json")
    with open(path, "w") as handle:
        json.dump(inventory, handle, indent=1)
    return path


def up(count, seed):
    if os.geteuid() != 0:
        raise SystemExit("fleet: needs root (network and mount namespaces)")
    if not 1 <= count <= MAX_HOSTS:
        raise SystemExit("fleet: between 1 and %d hosts" % MAX_HOSTS)
    if (os.path.realpath(FLEET) + "/").startswith("/run/"):
        raise SystemExit("fleet: the fleet directory %s is under /run, which every host mounts over first; "
                         "set FLEETFIX_FLEET_DIR elsewhere" % FLEET)
    if load_state():
        down()
    ensure_tools()
    shutil.rmtree(os.path.join(FLEET, "hosts"), ignore_errors=True)
    state = {"count": count, "seed": seed, "netns": [], "pids": {}, "sysctls": {}, "bridge": False}
    save_state(state)
    try:
        build_layers()  # before any network change: a host without its real crun is not started
        run("ip", "link", "add", BRIDGE, "type", "bridge")
        state["bridge"] = True
        run("ip", "addr", "add", "%s/%d" % (BRIDGE_IP, SUBNET.prefixlen), "dev", BRIDGE)
        run("ip", "link", "set", BRIDGE, "up")
        save_state(state)
        check_route()
        if count > 500:
            for key, value in NEIGH_SYSCTLS.items():
                state["sysctls"][key] = run("sysctl", "-n", key).stdout.strip()
                run("sysctl", "-q", "-w", "%s=%d" % (key, value))
        key_dir = keys()
        truth = [seed_host(i, seed) for i in range(count)]
        for index in range(count):
            start_host(index, state, truth[index]["layer"])
        save_state(state)
        wait_for_ssh([host_ip(i) for i in range(count)])
        with open(os.path.join(FLEET, "truth.json"), "w") as handle:
            json.dump(truth, handle, indent=1)
        return write_inventory(count, key_dir)
    except BaseException:
        save_state(state)
        down()
        raise


def kill_namespace(name):
    """Kill every process in a host's network namespace: its sshd and every session sshd forked
    (those run in sessions of their own and would keep a ControlPersist connection alive)."""
    pids = run("ip", "netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    return [int(pid) for pid in pids]


def kill_host(name):
    """The host goes away: it becomes unreachable, established connections included."""
    kill_namespace(name)


def down():
    state = load_state()
    if not state:
        return
    pids = []
    for name in state.get("netns", []):
        pids.extend(kill_namespace(name))
    for pid in pids:  # reap: a namespace (and its veth) lives until its last process is gone
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            deadline = time.monotonic() + 5
            while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
                time.sleep(0.02)
    for name in state.get("netns", []):
        run("ip", "netns", "del", name, check=False)
    for index in range(state.get("count", 0)):
        if os.path.exists("/sys/class/net/fxv%d" % index):
            run("ip", "link", "del", "fxv%d" % index, check=False)
    if state.get("bridge"):
        run("ip", "link", "del", BRIDGE, check=False)
    for key, value in state.get("sysctls", {}).items():
        run("sysctl", "-q", "-w", "%s=%s" % (key, value), check=False)
    os.unlink(os.path.join(FLEET, "state.json"))
    for made in ("hosts", "layers", "debs"):
        shutil.rmtree(os.path.join(FLEET, made), ignore_errors=True)


# Runs inside a host's mount namespace: a container created by an affected crun appears in its
# storage (a restored backup, an image committed from an affected container), as c/storage lays it out.
ADD_STALE = """
import json, os, sys
storage, cid = "/" + sys.argv[1], sys.argv[2]
diff = os.path.join(storage, "overlay", cid, "diff")
os.makedirs(diff)
path = os.path.join(diff, ".krun_config.json")
with open(path, "w") as handle:
    handle.write(json.dumps({"process": {"user": {"uid": 1234}, "env": ["container=oci"]}}))
os.chmod(path, 0o700)
records_path = os.path.join(storage, "overlay-containers", "containers.json")
os.makedirs(os.path.dirname(records_path), exist_ok=True)
try:
    with open(records_path) as handle:
        records = json.load(handle)
except (IOError, OSError):
    records = []
records.append({"id": cid, "names": ["restored-" + cid[:8]], "layer": cid, "image": "img"})
with open(records_path + ".new", "w") as handle:
    json.dump(records, handle)
os.chmod(records_path + ".new", 0o600)
os.rename(records_path + ".new", records_path)
print(path)
"""


def add_stale(every):
    """Give every ``every``-th running host one new owner-only config; return {host: path}."""
    state = load_state()
    if not state:
        raise SystemExit("fleet: no fleet is up")
    added = {}
    for index in range(0, state["count"], every):
        name = host_name(index)
        cid = os.urandom(32).hex()
        out = run("nsenter", "-t", str(state["pids"][name]), "-m", "/usr/bin/python3", "-c", ADD_STALE, STORAGE, cid)
        added[name] = out.stdout.strip()
    return added


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("up")
    start.add_argument("count", type=int)
    start.add_argument("--seed", type=int, default=7)
    sub.add_parser("down")
    sub.add_parser("status")
    stop = sub.add_parser("kill", help="stop one host's sshd: it becomes unreachable")
    stop.add_argument("host")
    stale = sub.add_parser("stale", help="a new owner-only .krun_config.json on every K-th host")
    stale.add_argument("--every", type=int, default=10)
    args = parser.parse_args()
    if args.command == "up":
        started = time.monotonic()
        inventory = up(args.count, args.seed)
        print("fleet: %d hosts up in %.1f s; inventory %s" % (args.count, time.monotonic() - started, inventory))
    elif args.command == "down":
        started = time.monotonic()
        down()
        print("fleet: down in %.1f s" % (time.monotonic() - started))
    elif args.command == "kill":
        kill_host(args.host)
    elif args.command == "stale":
        print(json.dumps(add_stale(args.every)))
    else:
        state = load_state()
        print(json.dumps({"count": state["count"], "pids": len(state["pids"])} if state else {"count": 0}))


if __name__ == "__main__":
    main()
