import pytest

from ansible_collections.fleetfix.crun.plugins.module_utils import _conf as conf


def test_tables_strings_and_multiline_arrays_are_read():
    tables = conf.parse('''
# comment
[engine]
runtime = "crun"   # default
hooks_dir = ["/usr/share/containers/oci/hooks.d", '/etc/containers/oci/hooks.d',]

[engine.runtimes]
krun = [
  "/usr/bin/krun",   # Fedora
  "/usr/local/bin/krun",
]
''')
    assert tables[("engine",)]["runtime"] == "crun"
    assert tables[("engine",)]["hooks_dir"] == ["/usr/share/containers/oci/hooks.d", "/etc/containers/oci/hooks.d"]
    assert tables[("engine", "runtimes")]["krun"] == ["/usr/bin/krun", "/usr/local/bin/krun"]


def test_quoted_table_segments_and_scalars_are_read():
    tables = conf.parse('[crio.runtime.runtimes."crun-krun"]\nruntime_path = "/usr/bin/krun"\n'
                        'monitor_cgroup = true\nport = 10\nother = {a = 1}\n')
    assert tables[("crio", "runtime", "runtimes", "crun-krun")] == {
        "runtime_path": "/usr/bin/krun", "monitor_cgroup": True, "port": 10, "other": None}


def test_hash_inside_a_string_is_not_a_comment():
    assert conf.parse('[a]\nb = "x # y"\n')[("a",)]["b"] == "x # y"


@pytest.mark.parametrize("text", ['[a]\nb = ["x"\n', '[a\nb = 1\n', '[a]\nb = "open\n', "just words\n"])
def test_malformed_files_raise(text):
    with pytest.raises(conf.ConfError):
        conf.parse(text)


def test_drop_ins_are_read_after_the_main_file_in_name_order(tmp_path):
    (tmp_path / "etc/c.d").mkdir(parents=True)
    (tmp_path / "etc/c.conf").write_text('[x]\nv = "main"\n')
    (tmp_path / "etc/c.d/20-b.conf").write_text('[x]\nv = "b"\n')
    (tmp_path / "etc/c.d/10-a.conf").write_text('[x]\nv = "a"\n')
    loaded, errors = conf.layered(str(tmp_path), ["/etc/c.conf"], ["/etc/c.d"])
    assert [tables[("x",)]["v"] for _path, tables in loaded] == ["main", "a", "b"]
    assert errors == []


@pytest.mark.parametrize("spelled, meant", [
    (r"/srv/\u0063ontainers", "/srv/containers"),  # podman's TOML library decodes \u: so must we
    (r"/srv/\U0001F4E6", "/srv/\U0001F4E6"),
    (r"a\tb\\c\"d\be\ff\rg", "a\tb\\c\"d\be\ff\rg"),
])
def test_escapes_in_basic_strings_are_decoded_as_toml_decodes_them(spelled, meant):
    assert conf.parse('[storage]\ngraphroot = "%s"\n' % spelled)[("storage",)]["graphroot"] == meant


@pytest.mark.parametrize("spelled", [r"\x41", r"\u12", r"\uD800", r"\U00110000", "\\"])
def test_an_invalid_escape_is_a_parse_error(spelled):
    with pytest.raises(conf.ConfError):
        conf.parse('[storage]\ngraphroot = "a%s"\n' % spelled)
