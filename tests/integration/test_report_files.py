"""The report_files action on this controller: the report role's one step that writes files."""

import os
import stat


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
