"""The hook under each instance's own podman and crun: installed, working, removed.

On the krun instance the container runs through real crun 1.8.1's krun handler; its libkrun is
the TEST STAND-IN (tests/realcrun/libkrun-standin.c), which reads /.krun_config.json as the
container's user, as the microVM's file server does. The cure is asserted by what the container
prints, never by a mode.
"""

import json

import pytest

HOOK_JSON = "/usr/share/containers/oci/hooks.d/50-fleetfix-krun.json"
HOOK_PROGRAM = "/usr/local/libexec/fleetfix-krun-hook"
PODMAN_RUN = "PODMAN_IGNORE_CGROUPSV1_WARNING=1 podman run --rm --network none --user 1234 "
PRINT_ENV = " localhost/fleetfix-inner-env sh -c 'echo marker TEST=$TEST container=$container'"
CURED = "marker TEST=here container=oci"
SYMPTOM = "marker TEST= container="
KRUN_ROUTES = ["--runtime krun", "--runtime krun --read-only", "--annotation run.oci.handler=krun"]


def removed(host):
    return host.file("/var/tmp/fleetfix-phase").exists


def has_krun(host):
    return host.file("/usr/bin/krun").exists


def test_the_krun_instance_alone_runs_real_crun_with_the_krun_handler(host):
    version = host.check_output("crun --version")
    assert has_krun(host) == (host.backend.name == "fleetfix-hook-krun")
    assert ("+LIBKRUN" in version) == has_krun(host), version
    if has_krun(host):
        assert version.splitlines()[0] == "crun version 1.8.1"
        assert host.package("crun").version == "1.8.1-1+fleetfix1"


@pytest.mark.parametrize("route", KRUN_ROUTES)
def test_a_non_root_krun_container_gets_its_environment_only_with_the_hook(host, route):
    if not has_krun(host):
        pytest.skip("no krun handler on %s (the test above says which instance has one)" % host.backend.name)
    result = host.run(PODMAN_RUN + "-e TEST=here " + route + PRINT_ENV)
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == (SYMPTOM if removed(host) else CURED)


def test_a_root_krun_container_gets_its_environment_with_or_without_the_hook(host):
    if not has_krun(host):
        pytest.skip("no krun handler on %s" % host.backend.name)
    result = host.run(PODMAN_RUN.replace("--user 1234 ", "") + "-e TEST=here --runtime krun" + PRINT_ENV)
    assert (result.rc, result.stdout.strip()) == (0, CURED), result.stderr


def test_hook_files_are_present_until_removed(host):
    assert host.file(HOOK_JSON).exists != removed(host)
    assert host.file(HOOK_PROGRAM).exists != removed(host)
    if not removed(host):
        document = json.loads(host.file(HOOK_JSON).content_string)
        assert document == {"version": "1.0.0", "when": {"always": True}, "stages": ["createRuntime"],
                            "hook": {"path": "/usr/bin/python3", "timeout": 10,
                                     "args": ["python3", "-I", "-S", HOOK_PROGRAM]}}
        program = host.file(HOOK_PROGRAM)
        assert (program.user, program.group, program.mode) == ("root", "root", 0o755)


def test_non_root_container_reads_its_config_only_with_the_hook(host):
    result = host.run(PODMAN_RUN + "localhost/fleetfix-inner-stale sh -c 'stat -c %a /.krun_config.json; "
                                   "cat /.krun_config.json'")
    if removed(host):
        # every run gets a fresh copy of the image's owner-only file: without the hook, the bug is back
        assert result.rc != 0 and "Permission denied" in result.stderr
    else:
        assert result.rc == 0, result.stderr
        mode, content = result.stdout.split("\n", 1)
        assert mode == "444"
        assert json.loads(content)["process"]["user"]["uid"] == 1234


def test_symlinked_config_starts_and_the_target_keeps_its_mode(host):
    result = host.run(PODMAN_RUN + "localhost/fleetfix-inner-symlink true")
    assert result.rc == 0, result.stderr
    sentinel = host.file("/var/tmp/fleetfix-sentinel")
    assert (sentinel.mode, sentinel.content_string) == (0o600, "sentinel")


def test_broken_hook_file_elsewhere_made_the_role_refuse_and_change_nothing(host):
    if not removed(host):
        assert not host.file("/var/tmp/fleetfix-refusal").exists
        return
    assert "00-broken.json" in host.file("/var/tmp/fleetfix-refusal").content_string
    assert host.file("/var/tmp/other-hooks.d").listdir() == ["00-broken.json"]
