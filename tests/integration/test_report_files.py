"""The report_files action on this controller: the report role's one step that writes files."""

import json
import os
import stat
import time

import pytest


def test_writes_atomically_then_changes_nothing_and_check_mode_writes_nothing(module, tmp_path):
    dest = tmp_path / "reports"
    files = {"fleet.json": "{}\n", "hosts.csv": "host,status\n"}
    check = module(tmp_path, "fleetfix.crun.report_files", {"dest": str(dest), "files": files}, "--check", "--diff")
    assert check["changed"] is True and not dest.exists()
    assert [d["after_header"] for d in check["diff"]] == [str(dest / "fleet.json"), str(dest / "hosts.csv")]
    first = module(tmp_path, "fleetfix.crun.report_files", {"dest": str(dest), "files": files})
    assert first["changed"] is True and first["written"][0] == str(dest)
    assert (dest / "hosts.csv").read_text() == "host,status\n"
    assert stat.S_IMODE(os.stat(str(dest / "fleet.json")).st_mode) == 0o644
    assert sorted(os.listdir(str(dest))) == ["fleet.json", "hosts.csv"], "no temporary file is left"
    again = module(tmp_path, "fleetfix.crun.report_files", {"dest": str(dest), "files": files})
    assert (again["changed"], again["written"]) == (False, [])
    os.chmod(str(dest / "fleet.json"), 0o600)
    mode_only = module(tmp_path, "fleetfix.crun.report_files", {"dest": str(dest), "files": files})
    assert mode_only["written"] == [str(dest / "fleet.json")]


def test_a_name_with_a_directory_or_a_relative_dest_is_refused(module, tmp_path):
    outside = tmp_path / "outside"
    bad = module(tmp_path, "fleetfix.crun.report_files", {"dest": str(tmp_path / "r"), "files": {"../outside": "x"}})
    assert bad.get("failed") and "plain names" in bad["msg"] and not outside.exists()
    relative = module(tmp_path, "fleetfix.crun.report_files", {"dest": "reports", "files": {"a": "x"}})
    assert relative.get("failed") and "absolute" in relative["msg"]


def plant(dest, name, how, secret):
    """What another user of a shared report_dir can leave at a report file's name."""
    os.makedirs(str(dest), exist_ok=True)
    path = str(dest / name)
    if how == "symlink":
        os.symlink(str(secret), path)
    elif how == "hardlink":
        os.link(str(secret), path)
    elif how == "fifo":
        os.mkfifo(path)
    elif how == "foreign":
        with open(path, "w") as handle:
            handle.write("SECRET of uid 1000\n")
        os.chown(path, 1000, 1000)
    return path


@pytest.mark.parametrize("how", ["symlink", "hardlink", "fifo", "foreign"])
def test_what_is_planted_at_the_destination_is_never_read_shown_or_written_through(module, tmp_path, how):
    secret = tmp_path / "secret"
    secret.write_text("SECRET root only\n")
    os.chmod(str(secret), 0o600)
    dest = tmp_path / "shared-reports"
    path = plant(dest, "fleet.json", how, secret)
    files = {"fleet.json": "{}\n"}
    started = time.monotonic()
    diff = module(tmp_path, "fleetfix.crun.report_files", {"dest": str(dest), "files": files}, "--diff")
    assert time.monotonic() - started < 60, "a FIFO at the destination must not block the run"
    assert diff["changed"] is True and "SECRET" not in json.dumps(diff)
    assert secret.read_text() == "SECRET root only\n" and stat.S_IMODE(os.stat(str(secret)).st_mode) == 0o600
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and open(path).read() == "{}\n"
