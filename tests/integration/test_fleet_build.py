"""The fleet simulator never starts a host without its real crun (tests/fleet/fleet.py)."""

import os
import subprocess
import sys

from support import REPO

FLEET = os.path.join(REPO, "tests", "fleet", "fleet.py")


def test_a_fleet_whose_real_crun_cannot_be_built_fails_in_one_line_and_starts_nothing(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for directory in ("/usr/sbin", "/usr/bin"):
        for name in os.listdir(directory):
            if name != "gperf" and not (bin_dir / name).exists():
                os.symlink(os.path.join(directory, name), str(bin_dir / name))
    env = dict(os.environ, PATH=str(bin_dir), FLEETFIX_FLEET_DIR=str(tmp_path / "fleet"),
               FLEETFIX_REALCRUN_CACHE=str(tmp_path / "realcrun"))
    before = sorted(os.listdir("/sys/class/net"))
    proc = subprocess.run([sys.executable, FLEET, "up", "2"], capture_output=True, text=True, timeout=120,
                          check=False, env=env)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("fleet: no real crun to install: ") and "missing gperf" in last, proc.stderr
    assert sorted(os.listdir("/sys/class/net")) == before
    assert not os.path.exists(str(tmp_path / "fleet" / "hosts"))
