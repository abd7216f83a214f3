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

import pytest

from support import REPO

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
