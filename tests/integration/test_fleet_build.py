"""The fleet simulator never starts a host without its real crun (tests/fleet/fleet.py)."""

import os
import subprocess
import sys

from support import REPO, path_without

FLEET = os.path.join(REPO, "tests", "fleet", "fleet.py")


def test_a_fleet_whose_real_crun_cannot_be_built_fails_in_one_line_and_starts_nothing(tmp_path):
    env = dict(os.environ, PATH=path_without(tmp_path / "bin", "gperf"), FLEETFIX_FLEET_DIR=str(tmp_path / "fleet"),
               FLEETFIX_REALCRUN_CACHE=str(tmp_path / "realcrun"))
    before = sorted(os.listdir("/sys/class/net"))
    proc = subprocess.run([sys.executable, FLEET, "up", "2"], capture_output=True, text=True, timeout=120,
                          check=False, env=env)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("fleet: no real crun to install: ERROR: cannot build real crun: missing ") \
        and "gperf" in last, proc.stderr
    assert sorted(os.listdir("/sys/class/net")) == before
    assert not os.path.exists(str(tmp_path / "fleet" / "hosts"))
