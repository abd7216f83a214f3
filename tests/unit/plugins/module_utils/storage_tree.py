"""Build c/storage trees the way podman lays them out, for tests and the benchmark."""

import json
import os

CONFIG_NAME = ".krun_config.json"


def krun_config(uid):
    return json.dumps({"ociVersion": "1.0.0", "process": {"user": {"uid": uid, "gid": uid},
                                                          "env": ["container=oci"], "args": ["/bin/sh"]}})


class StorageTree:
    """One graphroot under an alternate filesystem root."""

    def __init__(self, root, graphroot="/var/lib/containers/storage", driver="overlay"):
        self.root = str(root)
        self.graphroot = graphroot
        self.driver = driver
        self.full = os.path.join(self.root, graphroot.lstrip("/"))
        self.containers = []
        os.makedirs(os.path.join(self.full, "overlay" if driver == "overlay" else "vfs/dir"), exist_ok=True)

    def rootfs(self, layer):
        if self.driver == "overlay":
            return os.path.join(self.full, "overlay", layer, "diff")
        return os.path.join(self.full, "vfs", "dir", layer)

    def add_container(self, cid, name=None, layer=None, write_json=True):
        layer = layer or "layer-" + cid
        self.containers.append({"id": cid, "names": [name or "ctr-" + cid], "layer": layer, "image": "img"})
        os.makedirs(self.rootfs(layer), exist_ok=True)
        if write_json:
            self.write_containers_json()
        return self.rootfs(layer)

    def write_containers_json(self):
        directory = os.path.join(self.full, "%s-containers" % self.driver)
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "containers.json"), "w") as handle:
            json.dump(self.containers, handle)

    def config_path(self, cid):
        return os.path.join(self.rootfs("layer-" + cid), CONFIG_NAME)

    def add_krun_config(self, cid, mode=0o700, uid=1234, name=None):
        rootfs = self.add_container(cid, name)
        path = os.path.join(rootfs, CONFIG_NAME)
        with open(path, "w") as handle:
            handle.write(krun_config(uid))
        os.chmod(path, mode)
        return path
