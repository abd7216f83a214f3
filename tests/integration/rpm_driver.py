"""Runs inside an RPM-family test container: calls one of the collection's package functions with
real rpm, dnf or zypper, and prints its result (or its error) as one JSON line.

    python3 rpm_driver.py '{"call": "upgrade", "kwargs": {...}}'

The collection and tests/support.py are mounted read-only on PYTHONPATH; support's runner has
the modules' contract (C locale, a process group killed at the timeout, CommandTimeout).
"""

import json
import sys

from ansible_collections.fleetfix.crun.plugins.module_utils import _audit as audit
from ansible_collections.fleetfix.crun.plugins.module_utils import _hostfs as hostfs
from ansible_collections.fleetfix.crun.plugins.module_utils import _packages as packages
from support import run_process as runner


CALLS = {
    "audit": lambda **kw: audit.audit(runner, **kw),
    "upgrade": lambda **kw: packages.upgrade(runner, **kw),
    "rollback": lambda **kw: packages.rollback(runner, **kw),
}


def main():
    request = json.loads(sys.argv[1])
    try:
        result = {"result": CALLS[request["call"]](**request.get("kwargs", {}))}
    except (packages.PackageError, hostfs.CommandTimeout) as exc:
        result = {"error": "%s: %s" % (type(exc).__name__, exc)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
