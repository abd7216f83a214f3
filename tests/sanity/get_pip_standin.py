"""Test stand-in for pip's get-pip.py bootstrap script, used by ansible-test sanity.

ansible-test creates a virtual environment per sanity test and bootstraps pip into it with a
get-pip.py that it downloads from a host this machine cannot reach. This does the same job
from what is reachable: pip from the standard library's ensurepip, then the exact packages
ansible-test asks for (pip==<its version>, ...) from the package index. get-pip's own flags
that pip install does not know are dropped.
"""

import subprocess
import sys

GET_PIP_ONLY_FLAGS = ("--no-setuptools", "--no-wheel")

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, "-m", "pip", "install"]
                      + [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_FLAGS])
sys.exit(0)
