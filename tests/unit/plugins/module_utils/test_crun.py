"""Discovery on constructed filesystem roots.

The crun binaries here are test stand-ins: small shell scripts that print a real `crun --version`
text from tests/fixtures/crun-version (or hang, fail, print garbage). Everything else is real: they are
found, resolved and executed through the module's own runner with its real timeout.
"""

import os
import shutil
import subprocess
import time

import pytest

from ansible_collections.fleetfix.crun.plugins.module_utils import _crun
from ansible_collections.fleetfix.crun.plugins.module_utils import _hostfs as hostfs
from support import VERSION_FIXTURES as FIXTURES, dpkg_db, link, run_process, shared_object, stand_in_crun, write


def info(root, **kwargs):
    kwargs.setdefault("search_path", [])
    kwargs.setdefault("timeout", 2)
    return _crun.crun_info(kwargs.pop("runner", run_process), root=str(root), **kwargs)


def test_no_crun_is_not_applicable_with_reason(tmp_path):
    result = info(tmp_path)
    assert result["runtimes"] == []
    assert result["affected"] is False
    assert {v["reason"] for v in result["advisories"]} == {"no crun found"}


def test_fedora_libkrun_build_with_krun_symlink_is_one_affected_runtime(tmp_path):
    stand_in_crun(tmp_path, "/usr/bin/crun", "fedora-41-crun-1.20-libkrun.txt")
    link(tmp_path, "/usr/bin/krun", "crun")
    result = info(tmp_path)
    assert len(result["runtimes"]) == 1
    runtime = result["runtimes"][0]
    assert (runtime["path"], runtime["version"], runtime["krun_entrypoints"]) == ("/usr/bin/crun", "1.20", ["/usr/bin/krun"])
    assert "+LIBKRUN" in runtime["features"]
    assert result["affected"] is True


def test_absolute_symlink_resolves_inside_the_alternate_root(tmp_path):
    stand_in_crun(tmp_path, "/usr/libexec/crun/crun", "fedora-41-crun-1.20-libkrun.txt")
    link(tmp_path, "/usr/bin/crun-krun", "/usr/libexec/crun/crun")
    result = info(tmp_path)
    assert [(r["realpath"], r["krun_entrypoints"]) for r in result["runtimes"]] == \
        [("/usr/libexec/crun/crun", ["/usr/bin/crun-krun"])]


def test_symlink_loop_is_ignored(tmp_path):
    link(tmp_path, "/usr/bin/crun", "/usr/bin/krun")
    link(tmp_path, "/usr/bin/krun", "/usr/bin/crun")
    assert hostfs.HostRoot(str(tmp_path)).resolve("/usr/bin/crun") is None
    assert info(tmp_path)["runtimes"] == []


def ldconfig(root):
    """The root's /etc/ld.so.cache, written by the real ldconfig from the root's ld.so.conf."""
    tool = shutil.which("ldconfig") or "/sbin/ldconfig"
    subprocess.run([tool, "-r", str(root)], check=True, capture_output=True)


def test_libkrun_is_found_through_the_cache_ldconfig_writes_from_ld_so_conf(tmp_path):
    stand_in_crun(tmp_path, "/usr/bin/crun", "source-build-crun-1.7.2-libkrun.txt")
    write(str(tmp_path / "etc/ld.so.conf"), "include /etc/ld.so.conf.d/*.conf\n")
    write(str(tmp_path / "etc/ld.so.conf.d/local.conf"), "# local builds\n/opt/krun/lib\n")
    shared_object(str(tmp_path / "opt/krun/lib/libkrun.so.1"), "libkrun.so.1")
    ldconfig(tmp_path)
    result = info(tmp_path)
    assert result["libkrun"] == "/opt/krun/lib/libkrun.so.1"
    verdicts = {v["id"]: v["status"] for v in result["advisories"]}
    assert (verdicts["crun-1685"], verdicts["CVE-2025-24965"]) == ("affected", "affected")


def test_a_libkrun_listed_in_ld_so_conf_but_not_in_the_cache_is_not_loaded(tmp_path):
    """glibc's loader reads ld.so.cache, never ld.so.conf: a library installed in a listed
    directory without running ldconfig is not found by dlopen, so crun cannot run its handler."""
    stand_in_crun(tmp_path, "/usr/bin/crun", "source-build-crun-1.7.2-libkrun.txt")
    write(str(tmp_path / "etc/ld.so.conf"), "/opt/krun/lib\n")
    ldconfig(tmp_path)  # the cache as it was before libkrun arrived
    shared_object(str(tmp_path / "opt/krun/lib/libkrun.so.1"), "libkrun.so.1")
    result = info(tmp_path)
    assert result["libkrun"] is None
    assert {v["id"]: v["status"] for v in result["advisories"]}["crun-1685"] == "not_applicable"


def test_the_cache_is_read_as_glibc_writes_it():
    """This machine's own /etc/ld.so.cache, written by its glibc's ldconfig."""
    entries = _crun.ld_cache(hostfs.HostRoot("/"))
    libc = [(flags, path) for flags, name, path in entries if name == "libc.so.6"]
    assert libc and all(path.endswith("/libc.so.6") and os.path.exists(path) for _flags, path in libc)
    assert any(flags & 0xff == 3 for flags, _path in libc)


def test_a_system_file_is_seen_through_its_links_as_the_loader_sees_it_on_the_host_and_in_an_alternate_root(tmp_path):
    """On the host the kernel's own lookup answers (one stat); in an alternate root the links are
    resolved inside it. Both say the same: the file behind a chain of links, nothing for a
    dangling link or a loop."""
    write(str(tmp_path / "usr/lib/libkrun.so.1.11.1"), "ELF")
    os.symlink("libkrun.so.1.11.1", str(tmp_path / "usr/lib/libkrun.so.1"))
    os.symlink("usr/lib", str(tmp_path / "lib"))
    os.symlink("missing.so", str(tmp_path / "usr/lib/dangling.so"))
    os.symlink("loop-b.so", str(tmp_path / "usr/lib/loop-a.so"))
    os.symlink("loop-a.so", str(tmp_path / "usr/lib/loop-b.so"))
    target = os.stat(str(tmp_path / "usr/lib/libkrun.so.1.11.1"))
    for root, base in ((hostfs.HostRoot("/"), str(tmp_path)), (hostfs.HostRoot(str(tmp_path)), "")):
        found = hostfs.stat_followed(root, base + "/lib/libkrun.so.1")
        assert (found.st_ino, found.st_dev) == (target.st_ino, target.st_dev)
        for name in ("dangling.so", "loop-a.so", "nothing.so"):
            assert hostfs.stat_followed(root, base + "/usr/lib/" + name) is None


def test_libkrun_build_without_libkrun_or_entrypoint_is_not_applicable(tmp_path):
    stand_in_crun(tmp_path, "/usr/bin/crun", "fedora-41-crun-1.20-libkrun.txt")
    assert info(tmp_path)["affected"] is False


def test_runtime_named_in_containers_conf_dropin_is_found(tmp_path):
    stand_in_crun(tmp_path, "/opt/vendor/krun", "fedora-41-crun-1.20-libkrun.txt")
    write(str(tmp_path / "etc/containers/containers.conf.d/50-krun.conf"),
          '[engine.runtimes]\nkrun = [\n  "/usr/bin/krun",\n  "/opt/vendor/krun",  # vendor build\n]\nrunc = ["/opt/vendor/runc"]\n')
    stand_in_crun(tmp_path, "/opt/vendor/runc", script="echo runc version 1.1")
    result = info(tmp_path)
    assert [(r["path"], r["krun_entrypoints"]) for r in result["runtimes"]] == [("/opt/vendor/krun", ["/opt/vendor/krun"])]


def test_runtime_path_in_crio_conf_is_found(tmp_path):
    stand_in_crun(tmp_path, "/srv/crun-1.21", "debian-13-crun-1.21.txt")
    write(str(tmp_path / "etc/crio/crio.conf.d/10-crun.conf"),
          '[crio.runtime.runtimes.crun]\nruntime_path = "/srv/crun-1.21"\nruntime_type = "oci"\n')
    assert [r["version"] for r in info(tmp_path)["runtimes"]] == ["1.21"]


def test_malformed_containers_conf_is_reported_and_discovery_goes_on(tmp_path):
    stand_in_crun(tmp_path, "/usr/bin/crun", "debian-12-crun-1.8.1.txt")
    write(str(tmp_path / "etc/containers/containers.conf"), '[engine.runtimes]\ncrun = ["/x"\n')
    result = info(tmp_path)
    assert [r["version"] for r in result["runtimes"]] == ["1.8.1"]
    assert len(result["errors"]) == 1 and "containers.conf" in result["errors"][0]


def test_extra_paths_are_inspected(tmp_path):
    stand_in_crun(tmp_path, "/weird/place/crun", "debian-sid-crun-1.28.txt")
    assert [r["version"] for r in info(tmp_path, paths=["/weird/place/crun"])["runtimes"]] == ["1.28"]


def test_path_directories_are_searched(tmp_path):
    stand_in_crun(tmp_path, "/custom/bin/crun", "debian-sid-crun-1.28.txt")
    assert [r["path"] for r in info(tmp_path, search_path=["/custom/bin"])["runtimes"]] == ["/custom/bin/crun"]


def test_a_hanging_binary_is_unknown_and_killed_within_the_timeout(tmp_path):
    stand_in_crun(tmp_path, "/usr/bin/crun", script="sleep 30")
    started = time.monotonic()
    result = info(tmp_path, timeout=1)
    elapsed = time.monotonic() - started
    assert elapsed < 10
    assert result["runtimes"][0]["advisories"][0]["status"] == "unknown"
    assert "timed out after 1s" in result["runtimes"][0]["problem"]


def test_a_binary_that_prints_garbage_is_unknown(tmp_path):
    stand_in_crun(tmp_path, "/usr/bin/crun", script="echo 'Segmentation fault?'")
    runtime = info(tmp_path)["runtimes"][0]
    assert runtime["version"] is None
    assert {v["status"] for v in runtime["advisories"]} == {"unknown"}
    assert "printed no crun version" in runtime["advisories"][0]["reason"]


def test_a_binary_that_prints_nothing_is_unknown(tmp_path):
    stand_in_crun(tmp_path, "/usr/bin/crun", script="exit 0")
    assert {v["status"] for v in info(tmp_path)["runtimes"][0]["advisories"]} == {"unknown"}


def test_a_crashing_binary_is_unknown_with_its_exit_code(tmp_path):
    stand_in_crun(tmp_path, "/usr/bin/crun", script="kill -SEGV $$")
    runtime = info(tmp_path)["runtimes"][0]
    assert "exited -11" in runtime["problem"]


def test_state_directory_failure_of_an_affected_version_is_unknown(tmp_path):
    stand_in_crun(tmp_path, "/usr/bin/crun",
                  script="echo 'crun version 1.20'; echo 'Failed to get state directory' >&2; exit 1")
    link(tmp_path, "/usr/bin/krun", "crun")
    runtime = info(tmp_path)["runtimes"][0]
    assert runtime["version"] == "1.20"
    assert runtime["advisories"][0]["status"] == "unknown"
    assert "Failed to get state directory" in runtime["advisories"][0]["reason"]


def test_state_directory_failure_of_a_fixed_version_is_still_fixed(tmp_path):
    stand_in_crun(tmp_path, "/usr/bin/crun", script="echo 'crun version 1.21'; exit 1")
    assert {v["status"] for v in info(tmp_path)["runtimes"][0]["advisories"] if v["id"] in ("crun-1685", "CVE-2025-24965")} == {"fixed"}


def test_git_build_version_suffix_is_parsed(tmp_path):
    stand_in_crun(tmp_path, "/usr/bin/crun", script="echo 'crun version 1.20.0.0.0.1-abcd'; echo '+LIBKRUN +YAJL'")
    link(tmp_path, "/usr/bin/krun", "crun")
    runtime = info(tmp_path)["runtimes"][0]
    assert runtime["version"] == "1.20.0.0.0.1-abcd"
    assert runtime["advisories"][0]["status"] == "affected"


def test_a_non_executable_file_is_not_a_runtime(tmp_path):
    write(str(tmp_path / "usr/bin/crun"), "#!/bin/sh\n", 0o644)
    assert info(tmp_path)["runtimes"] == []


@pytest.mark.parametrize("fixture, version, commit_prefix", [
    ("debian-12-crun-1.8.1.txt", "1.8.1", "f8a096be"),
    ("debian-sid-crun-1.28.txt", "1.28", "54f16ffb"),
])
def test_parse_version_output_reads_version_and_commit(fixture, version, commit_prefix):
    with open(os.path.join(FIXTURES, fixture)) as handle:
        parsed = _crun.parse_version_output(handle.read())
    assert parsed["version_string"] == version and parsed["commit"].startswith(commit_prefix)


def test_json_c_feature_of_crun_1_28_is_parsed():
    with open(os.path.join(FIXTURES, "debian-sid-crun-1.28.txt")) as handle:
        assert _crun.parse_version_output(handle.read())["features"][-1] == "+JSON_C"


def test_merged_usr_directory_symlinks_do_not_duplicate_entry_points(tmp_path):
    """Debian 13 and Fedora: /bin is a symlink to usr/bin, so /bin/krun is /usr/bin/krun."""
    stand_in_crun(tmp_path, "/usr/bin/crun", "fedora-41-crun-1.20-libkrun.txt")
    link(tmp_path, "/usr/bin/krun", "crun")
    link(tmp_path, "/bin", "usr/bin")
    link(tmp_path, "/sbin", "usr/sbin")
    runtimes = info(tmp_path, search_path=["/bin", "/usr/bin"])["runtimes"]
    assert [(r["path"], r["krun_entrypoints"]) for r in runtimes] == [("/usr/bin/crun", ["/usr/bin/krun"])]


def elf_with(rpath=None, runpath=None):
    """A minimal ELF64 file whose only content is a dynamic section naming these search paths."""
    import struct
    strings, entries = b"\x00", []
    for tag, value in ((15, rpath), (29, runpath)):
        if value is not None:
            entries.append((tag, len(strings)))
            strings += value.encode() + b"\x00"
    dynamic = b"".join(struct.pack("<qQ", tag, offset) for tag, offset in entries + [(0, 0)])
    strtab_at, dynamic_at = 64, 64 + len(strings)
    sections_at = dynamic_at + len(dynamic)
    header = b"\x7fELF" + bytes([2, 1, 1]) + b"\x00" * 9 + struct.pack(
        "<HHIQQQIHHHHHH", 3, 62, 1, 0, 0, sections_at, 0, 64, 56, 0, 64, 3, 0)
    sections = b"\x00" * 64 + struct.pack("<IIQQQQIIQQ", 0, 3, 0, 0, strtab_at, len(strings), 0, 0, 1, 0) \
        + struct.pack("<IIQQQQIIQQ", 0, 6, 0, 0, dynamic_at, len(dynamic), 1, 0, 8, 16)
    return header + strings + dynamic + sections


@pytest.mark.parametrize("rpath, runpath, expected", [
    ("$ORIGIN/../lib:/opt/krun/lib", None, ["/opt/crun/lib", "/opt/krun/lib"]),
    ("/ignored/when/runpath", "${ORIGIN}/lib", ["/opt/crun/bin/lib"]),
    (None, None, []),
])
def test_the_loader_looks_first_where_the_binary_says(tmp_path, rpath, runpath, expected):
    write(str(tmp_path / "opt/crun/bin/crun"), "")
    with open(str(tmp_path / "opt/crun/bin/crun"), "wb") as handle:
        handle.write(elf_with(rpath, runpath))
    dirs = _crun.loader_dirs(hostfs.HostRoot(str(tmp_path)), "/opt/crun/bin/crun", ["/usr/lib64"])
    assert dirs == expected + ["/usr/lib64"]


def test_libkrun_next_to_a_crun_built_with_an_rpath_is_the_one_it_loads(tmp_path):
    with_rpath = tmp_path / "opt/crun/bin/crun"
    write(str(with_rpath), "")
    with_rpath.write_bytes(elf_with(rpath="$ORIGIN/../lib"))
    write(str(tmp_path / "opt/crun/lib/libkrun.so.1"), "")
    found = _crun.libkrun_flavours(hostfs.HostRoot(str(tmp_path)), "/opt/crun/bin/crun", (1, 20, 0), [])
    assert found == {"libkrun.so.1": "/opt/crun/lib/libkrun.so.1"}


@pytest.mark.parametrize("library, entrypoint, expected", [
    ("libkrun-tdx.so.1", False, {"crun-1685": "not_applicable", "CVE-2025-24965": "not_applicable"}),
    ("libkrun-sev.so.1", True, {"crun-1685": "not_applicable", "CVE-2025-24965": "affected"}),
    ("libkrun-sev.so.1", False, {"crun-1685": "not_applicable", "CVE-2025-24965": "affected"}),
    ("libkrun.so.1", False, {"crun-1685": "affected", "CVE-2025-24965": "affected"}),
])
def test_only_the_libkrun_flavours_crun_loads_and_reads_the_file_with_count(tmp_path, library, entrypoint, expected):
    stand_in_crun(tmp_path, "/usr/bin/crun", "source-build-crun-1.7.2-libkrun.txt")
    if entrypoint:
        link(tmp_path, "/usr/bin/krun", "crun")
    write(str(tmp_path / "usr/lib64" / library), "")
    result = info(tmp_path)
    assert {v["id"]: v["status"] for v in result["runtimes"][0]["advisories"] if v["id"] in expected} == expected
    if library == "libkrun-sev.so.1":
        assert "SEV guests read their configuration from the encrypted disk" in \
            result["runtimes"][0]["advisories"][0]["reason"]


@pytest.mark.parametrize("content", [b"", b"\x7fELF", elf_with(rpath="/opt/lib")[:100], b"\x7fELF" + b"\xff" * 200])
def test_a_truncated_or_malformed_binary_only_loses_its_own_search_path(tmp_path, content):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/crun").write_bytes(content)
    assert _crun.loader_dirs(hostfs.HostRoot(str(tmp_path)), "/bin/crun", ["/usr/lib64"]) == ["/usr/lib64"]


def krun_build(root, version):
    stand_in_crun(root, "/usr/bin/crun", script="echo 'crun version %s'; echo '+SYSTEMD +LIBKRUN +YAJL'" % version)


def versioned_libkrun(root, version):
    write(str(root / "usr/lib64" / ("libkrun.so.%s" % version)), "")
    link(root, "/usr/lib64/libkrun.so.1", "libkrun.so.%s" % version)


def libkrun_verdicts(result):
    return dict((v["id"], v["status"]) for v in result["runtimes"][0]["advisories"] if v["id"].startswith("libkrun-"))


LIBKRUN_IDS = ("libkrun-config-keys", "libkrun-env-escapes", "libkrun-command", "libkrun-workdir", "libkrun-virtiofs2")


def libkrun_expected(crun, fixed=(), affected=(), unknown=()):
    """Every libkrun advisory's status for a crun: those the crun relies on are fixed unless named."""
    relies_from = {"libkrun-command": (1, 21, 0), "libkrun-workdir": (1, 22, 0), "libkrun-virtiofs2": (1, 28, 0)}
    version = _crun.advisories.parse_version(crun)
    statuses = {}
    for advisory in LIBKRUN_IDS:
        status = "fixed" if version >= relies_from.get(advisory, (1, 7, 1)) else "not_applicable"
        statuses[advisory] = "affected" if advisory in affected else "unknown" if advisory in unknown else status
    return statuses


# Each libkrun boundary on both sides, as libkrun's git history has it (see _advisories.py).
@pytest.mark.parametrize("crun, libkrun, expected", [
    ("1.20", "1.4.8", libkrun_expected("1.20", affected=("libkrun-config-keys", "libkrun-env-escapes"))),
    ("1.20", "1.4.9", libkrun_expected("1.20", affected=("libkrun-config-keys", "libkrun-env-escapes"))),
    ("1.20", "1.4.10", libkrun_expected("1.20", affected=("libkrun-env-escapes",))),
    ("1.21", "1.7.2", libkrun_expected("1.21", affected=("libkrun-env-escapes", "libkrun-command"))),
    ("1.22", "1.9.0", libkrun_expected("1.22", affected=("libkrun-env-escapes", "libkrun-workdir"))),
    ("1.22", "1.11.1", libkrun_expected("1.22", affected=("libkrun-env-escapes",))),
    ("1.22", "1.18.0", libkrun_expected("1.22", affected=("libkrun-env-escapes",))),
    ("1.22", "1.18.1", libkrun_expected("1.22")),
    ("1.28", "1.9.4", libkrun_expected("1.28", affected=("libkrun-env-escapes", "libkrun-workdir",
                                                         "libkrun-virtiofs2"))),
    ("1.28", "1.9.5", libkrun_expected("1.28", affected=("libkrun-env-escapes", "libkrun-workdir"))),
    ("1.29.1", "1.19.0", libkrun_expected("1.29.1")),
    ("1.29.1", "1.19.1", libkrun_expected("1.29.1", unknown=LIBKRUN_IDS)),
])
def test_the_libkrun_version_from_its_file_name_decides_the_libkrun_advisories(tmp_path, crun, libkrun, expected):
    krun_build(tmp_path, crun)
    versioned_libkrun(tmp_path, libkrun)
    result = info(tmp_path)
    assert result["runtimes"][0]["libkrun_version"] == _crun.advisories.format_version(
        _crun.advisories.parse_version(libkrun))
    assert libkrun_verdicts(result) == expected
    affected = [v for v in result["runtimes"][0]["advisories"] if v["id"].startswith("libkrun-") and v["status"] == "affected"]
    assert all("upgrade libkrun to" in v["reason"] and "neither a crun upgrade nor the hook helps" in v["reason"]
               for v in affected)


def test_the_libkrun_version_comes_from_its_package_when_the_file_name_has_none(tmp_path):
    krun_build(tmp_path, "1.21")
    write(str(tmp_path / "usr/lib64/libkrun.so.1"), "")
    dpkg_db(tmp_path, {"libkrun1": ("1.7.0-1", ["/usr/lib64/libkrun.so.1"], "install ok installed")})
    result = info(tmp_path)
    assert (result["runtimes"][0]["libkrun_version"], libkrun_verdicts(result)["libkrun-command"]) == ("1.7", "affected")


def test_a_libkrun_of_unknown_version_is_unknown_and_says_what_it_could_lose(tmp_path):
    krun_build(tmp_path, "1.20")
    write(str(tmp_path / "usr/lib64/libkrun.so.1"), "")
    result = info(tmp_path)
    verdict = next(v for v in result["runtimes"][0]["advisories"] if v["id"] == "libkrun-config-keys")
    assert verdict["status"] == "unknown" and "could not be determined" in verdict["reason"]


def test_a_libkrun_newer_than_any_release_the_table_knows_is_unknown_and_says_so(tmp_path):
    """libkrun's development line replaced the init that reads the file (libkrun 6ed74fac): a
    libkrun past the newest release checked is never called fixed or affected."""
    krun_build(tmp_path, "1.29.1")
    versioned_libkrun(tmp_path, "1.20.0")
    verdicts = [v for v in info(tmp_path)["runtimes"][0]["advisories"] if v["id"].startswith("libkrun-")]
    assert {v["status"] for v in verdicts} == {"unknown"}
    assert all("newer than any release this check knows (1.19)" in v["reason"] for v in verdicts)


def test_a_libkrun_linked_out_of_the_alternate_root_is_not_found(tmp_path):
    """The image's libkrun.so.1 is an absolute link to a library that exists on the machine doing
    the audit, not in the image: the image's crun could not load it."""
    image = tmp_path / "img"
    stand_in_crun(image, "/usr/bin/crun", script="echo 'crun version 1.21'; echo '+SYSTEMD +LIBKRUN +YAJL'")
    write(str(tmp_path / "outside/libkrun.so.1.17.4"), "")
    link(image, "/usr/lib64/libkrun.so.1", str(tmp_path / "outside/libkrun.so.1.17.4"))
    runtime = info(image)["runtimes"][0]
    assert (runtime["libkrun"], runtime["libkrun_version"]) == (None, None)
    os.unlink(str(image / "usr/lib64/libkrun.so.1"))
    write(str(image / "usr/lib64/libkrun.so.1.17.4"), "")
    link(image, "/usr/lib64/libkrun.so.1", "/usr/lib64/libkrun.so.1.17.4")  # absolute, inside the image
    runtime = info(image)["runtimes"][0]
    assert (runtime["libkrun"], runtime["libkrun_version"]) == ("/usr/lib64/libkrun.so.1", "1.17.4")
