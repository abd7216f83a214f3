"""The hook under the instance's own podman 5.4.2 and crun 1.21: installed, working, removed."""

import json

HOOK_JSON = "/usr/share/containers/oci/hooks.d/50-fleetfix-krun.json"
HOOK_PROGRAM = "/usr/local/libexec/fleetfix-krun-hook"
PODMAN_RUN = "PODMAN_IGNORE_CGROUPSV1_WARNING=1 podman run --rm --network none --user 1234 "


def removed(host):
    return host.file("/var/tmp/fleetfix-phase").exists


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
