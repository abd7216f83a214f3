"""Make ``ansible_collections.fleetfix.crun`` importable from the working tree."""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def link_collection():
    base = os.path.join(REPO, ".cache", "pytest", "ansible_collections", "fleetfix")
    link = os.path.join(base, "crun")
    os.makedirs(base, exist_ok=True)
    if not os.path.islink(link):
        os.symlink(REPO, link)
    top = os.path.dirname(os.path.dirname(base))
    if top not in sys.path:
        sys.path.insert(0, top)


link_collection()
