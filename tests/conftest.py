"""Make ``ansible_collections.fleetfix.crun`` importable from the working tree."""

import os
import shutil
import sys
import tempfile

import pytest

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


@pytest.fixture
def searchable_tmp():
    """A temporary directory every user can search (pytest's own is root's, mode 0700): for trees a
    scan reads as an unprivileged user, such as a rootless user's home."""
    base = tempfile.mkdtemp(prefix="fleetfix-test-", dir="/tmp")
    os.chmod(base, 0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)
