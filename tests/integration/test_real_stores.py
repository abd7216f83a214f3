"""The stores real podman 5.4 writes, scanned by the audit's storage code where podman wrote them.

Real: podman 5.4.2 and containers/storage of Debian 13 (the localhost/fleetfix-test-trixie image,
tests/images/build), run nested in a privileged container with the vfs driver, as molecule's
nested hosts are; its containers.json, volatile-containers.json (podman run --rm), the transient
store's records under the runroot, and an additional image store made by podman itself.
TEST STAND-IN: the owner-only /.krun_config.json in each container's rootfs is written by the
test (through podman mount) as an affected crun would write it; no krun container runs here.
"""

import json
import os
import subprocess
import sys
import tempfile

import pytest

from support import REPO

# the collection as the tests import it (tests/conftest.py links the working tree there)
COLLECTIONS = os.path.join(REPO, ".cache", "pytest")

pytestmark = pytest.mark.podman

IMAGE = "localhost/fleetfix-test-trixie"

NESTED = r"""
set -e
export PODMAN_IGNORE_CGROUPSV1_WARNING=1
podman() { command podman --cgroup-manager cgroupfs "$@"; }
cat > /etc/containers/storage.conf <<EOF
[storage]
driver = "vfs"
graphroot = "/var/lib/containers/storage"
runroot = "/run/containers/storage"
transient_store = $TRANSIENT
[storage.options]
additionalimagestores = ["/usr/lib/containers/storage"]
EOF
mkdir -p /bb /usr/lib/containers/storage && cp /host-busybox /bb/busybox
tar -C /bb -c . | podman import -q - localhost/bb >/dev/null
# an image with the stale file in its layer, in an additional image store podman itself made
mkdir /stale && cp /host-busybox /stale/busybox
printf '{"process":{"user":{"uid":0}}}' > /stale/.krun_config.json && chmod 700 /stale/.krun_config.json
tar -C /stale -c . | podman --root /usr/lib/containers/storage --runroot /run/shared-store import -q - localhost/shared-stale \
  >/dev/null
plant() {  # name uid [create options]: a container with the file an affected crun leaves
  name=$1 uid=$2; shift 2
  podman create -q "$@" --name "$name" --user "$uid" localhost/bb /busybox true >/dev/null
  rootfs=$(podman mount "$name")
  printf '{"process":{"user":{"uid":%s}}}' "$uid" > "$rootfs/.krun_config.json"
  chmod 700 "$rootfs/.krun_config.json"
}
plant rm-root 0 --rm
plant rm-user 1234 --rm
plant kept-root 0
plant kept-user 1234
PYTHONPATH=/collections python3 - <<'PY'
import json
from ansible_collections.fleetfix.crun.plugins.module_utils import _storage
result = _storage.scan("/")
print(json.dumps({"files": [{"name": f["container_name"], "impact": f["impact"], "root": f["storage_root"],
                             "images": [n for i in f.get("images", []) for n in i["names"]]} for f in result["files"]],
                  "errors": result["errors"], "not_examined": result.get("not_examined", [])}))
PY
"""


def scan_in_podman5(transient):
    if subprocess.run(["podman", "image", "exists", IMAGE], check=False).returncode != 0:
        pytest.fail("%s is missing: scripts/test builds it (tests/images/build trixie)" % IMAGE)
    proc = subprocess.run(
        ["podman", "run", "--rm", "--privileged", "--network", "none", "-e", "TRANSIENT=%s" % transient,
         "-v", "%s:/host-busybox:ro" % os.path.realpath("/bin/busybox"),
         "-v", "%s:/collections/ansible_collections/fleetfix/crun:ro" % REPO, IMAGE, "sh", "-c", NESTED],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("transient", ["false", "true"], ids=["graphroot-records", "transient-store"])
def test_every_container_podman_5_keeps_is_mapped_and_the_additional_store_is_scanned(transient):
    result = scan_in_podman5(transient)
    impacts = dict((f["name"], f["impact"]) for f in result["files"] if f["name"])
    assert impacts == {"rm-root": "root_only", "rm-user": "env_lost", "kept-root": "root_only",
                       "kept-user": "env_lost"}
    (shared,) = [f for f in result["files"] if not f["name"]]
    assert (shared["root"], shared["impact"], shared["images"]) == (
        "/usr/lib/containers/storage", "image_layer", ["localhost/shared-stale:latest"])
    # nothing unexamined: Debian's system accounts (home /bin, a link to usr/bin) included
    assert (result["errors"], result["not_examined"]) == ([], [])


BTRFS = r"""
set -e
mount -o loop "$IMAGE_FILE" "$MOUNT"
trap 'podman umount --all >/dev/null 2>&1; umount --recursive "$MOUNT"' EXIT
printf '[storage]\ndriver = "btrfs"\ngraphroot = "%s/storage"\nrunroot = "%s/run"\n' "$MOUNT" "$MOUNT" \
  > "$MOUNT/storage.conf"
export CONTAINERS_STORAGE_CONF="$MOUNT/storage.conf"
mkdir "$MOUNT/rootfs" && cp "$BUSYBOX" "$MOUNT/rootfs/busybox"
tar -C "$MOUNT/rootfs" -c . | podman import -q - localhost/fleetfix-btrfs >/dev/null
podman create -q --name btrfs-user --user 1234 localhost/fleetfix-btrfs /busybox true >/dev/null
rootfs=$(podman mount btrfs-user)
printf '{"process":{"user":{"uid":1234}}}' > "$rootfs/.krun_config.json"
chmod 700 "$rootfs/.krun_config.json"
PYTHONPATH="$COLLECTIONS" "$PYTHON" -c '
import json, os
from ansible_collections.fleetfix.crun.plugins.module_utils import _storage
result = _storage.scan("/", extra_roots=[os.environ["MOUNT"] + "/storage"])
print(json.dumps([(f["driver"], f["container_name"], f["impact"], f["path"]) for f in result["files"]]))'
"""


def test_real_podman_keeps_btrfs_layers_where_the_scan_reads_them(tmp_path):
    """Real podman (this machine's 4.3.1) with the btrfs driver, on a btrfs the kernel mounts from a
    loop file (btrfs-progs makes it; scripts/setup-host installs it), in a mount namespace of its
    own: each layer is <graphroot>/btrfs/subvolumes/<id> (drivers/btrfs Get)."""
    for tool in ("mkfs.btrfs", "podman"):
        if not any(os.access(os.path.join(d, tool), os.X_OK) for d in os.environ["PATH"].split(os.pathsep) + ["/sbin"]):
            pytest.fail("%s is missing: scripts/setup-host installs it" % tool)
    image = tmp_path / "btrfs.img"
    subprocess.run(["truncate", "-s", "300M", str(image)], check=True)
    subprocess.run(["mkfs.btrfs", "-q", str(image)], check=True, capture_output=True)
    mount = tempfile.mkdtemp(prefix="fleetfix-btrfs-", dir="/tmp")
    conf = tmp_path / "containers.conf"  # podman's rlimits as this machine allows them
    conf.write_text('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n')
    try:
        proc = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", BTRFS], capture_output=True, text=True,
            timeout=300, check=False,
            env=dict(os.environ, IMAGE_FILE=str(image), MOUNT=mount, BUSYBOX=os.path.realpath("/bin/busybox"),
                     COLLECTIONS=COLLECTIONS, PYTHON=sys.executable, CONTAINERS_CONF=str(conf)))
        assert proc.returncode == 0, proc.stderr
        ((driver, name, impact, path),) = json.loads(proc.stdout.strip().splitlines()[-1])
        assert (driver, name, impact) == ("btrfs", "btrfs-user", "env_lost")
        assert path.startswith(mount + "/storage/btrfs/subvolumes/")
    finally:
        os.rmdir(mount)
