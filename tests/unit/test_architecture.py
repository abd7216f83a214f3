"""The import rules of docs/architecture.md: a module_utils module imports only from its own layer
or below, and the modules that run on hosts import nothing from the controller's side."""

import ast
import os

import pytest

from support import REPO

MODULE_UTILS = os.path.join(REPO, "plugins", "module_utils")
LAYERS = {
    "_hostfs": 0, "_files": 0, "_elf": 0, "_params": 0,
    "_conf": 1, "_advisories": 1,
    "_package_db": 2, "_crun": 2, "_storage": 2, "_hooks": 2, "_packages": 2,
    "_audit": 3, "_remediate": 3, "_canary": 3,
}


def imports(path):
    with open(path) as handle:
        tree = ast.parse(handle.read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ansible_collections."):
            parts = node.module.split(".")
            found.update([parts[-1]] if parts[-1].startswith("_") else [alias.name for alias in node.names])
    return found


def test_every_module_utils_module_has_a_layer():
    present = {name[:-3] for name in os.listdir(MODULE_UTILS) if name.endswith(".py") and name != "__init__.py"}
    assert present == set(LAYERS)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_a_module_imports_only_its_own_layer_or_below(name):
    for imported in imports(os.path.join(MODULE_UTILS, name + ".py")):
        assert imported in LAYERS, "%s imports %s, which is not a module_utils module" % (name, imported)
        assert LAYERS[imported] <= LAYERS[name], "%s (layer %d) imports %s (layer %d)" % (
            name, LAYERS[name], imported, LAYERS[imported])
