# shellcheck shell=bash
# Shared by the scripts in this folder: where things live and how the controller is set up.
# Source it; it sets REPO, CACHE, VENV and exports ANSIBLE_COLLECTIONS_PATH.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${FLEETFIX_CACHE:-$REPO/.cache}
VENV=${FLEETFIX_VENV:-$REPO/.venv}
COLLECTIONS=$CACHE/collections
INSTALLED=$COLLECTIONS/ansible_collections/fleetfix/crun
export ANSIBLE_COLLECTIONS_PATH=$COLLECTIONS
export ANSIBLE_CONFIG=$REPO/ansible.cfg
export ANSIBLE_LOCAL_TEMP=$CACHE/ansible-tmp
export PATH=$VENV/bin:$PATH

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# The first candidate that runs and passes a Python check: find_python_where CHECK CANDIDATE...
find_python_where() {
  local check=$1 candidate
  shift
  for candidate in "$@"; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c "import sys; sys.exit(0 if $check else 1)" 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# ansible-core 2.19 needs Python 3.11 or newer on the controller.
find_python() {
  find_python_where 'sys.version_info >= (3, 11)' "${FLEETFIX_PYTHON:-}" python3.11 python3.12 python3.13 python3
}

# The second line of the test matrix: the newest ansible-core (2.21), which needs Python 3.12+;
# 3.13 is used, looked for on PATH and under pyenv.
find_python313() {
  find_python_where 'sys.version_info[:2] == (3, 13)' "${FLEETFIX_PYTHON313:-}" python3.13 \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13
}

# A venv with pinned tools, rebuilt when its requirements file changes:
#   make_venv DIR REQUIREMENTS PYTHON
make_venv() {
  local venv=$1 requirements=$2 python=$3 stamp=$1/.requirements.sha256 want
  want=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  say "creating venv $venv with $($python --version 2>&1)"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" \
    || die "pip could not install $requirements"
  echo "$want" > "$stamp"
}

# The controller and test tools (ansible-core 2.19 on Python 3.11+).
ensure_venv() {
  local python
  python=$(find_python) || die "no Python 3.11+ found (set FLEETFIX_PYTHON); ansible-core 2.19 needs one"
  make_venv "$VENV" "$REPO/tests/requirements.txt" "$python"
}

VENV_221=${FLEETFIX_VENV_221:-$REPO/.venv-2.21}
ensure_venv_221() {
  local python
  python=$(find_python313) \
    || die "no Python 3.13 found (on PATH or under pyenv; set FLEETFIX_PYTHON313): ansible-core 2.21 needs it"
  make_venv "$VENV_221" "$REPO/tests/requirements-2.21.txt" "$python"
}

# The collection as Ansible loads it: a copy of the working tree's files (tracked and untracked,
# not ignored) at ansible_collections/fleetfix/crun, so what runs is exactly what is checked out.
install_collection() {
  local fresh=$INSTALLED.new
  rm -rf "$fresh" && mkdir -p "$fresh" "$ANSIBLE_LOCAL_TEMP"
  (cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
    | tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$fresh" \
    || die "could not copy the working tree into $fresh"
  rm -rf "$INSTALLED" && mv "$fresh" "$INSTALLED"
}

# containers.podman (for molecule's podman driver) comes out of the ansible wheel on the package
# index, since the collection server is out of reach. Pinned: ansible 12.3.0 ships it as 1.18.0.
ANSIBLE_WHEEL_VERSION=12.3.0
ensure_podman_collection() {
  local target=$COLLECTIONS/ansible_collections/containers/podman
  [ -f "$target/MANIFEST.json" ] && return 0
  local wheels=$CACHE/wheels
  mkdir -p "$wheels"
  say "extracting containers.podman from the ansible $ANSIBLE_WHEEL_VERSION wheel"
  ls "$wheels"/ansible-"$ANSIBLE_WHEEL_VERSION"-*.whl >/dev/null 2>&1 \
    || pip download --quiet --no-deps --dest "$wheels" "ansible==$ANSIBLE_WHEEL_VERSION" \
    || die "could not download the ansible $ANSIBLE_WHEEL_VERSION wheel (for containers.podman)"
  python - "$wheels"/ansible-"$ANSIBLE_WHEEL_VERSION"-*.whl "$COLLECTIONS" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    members = [n for n in wheel.namelist() if n.startswith("ansible_collections/containers/podman/")]
    wheel.extractall(sys.argv[2], members)
PY
  [ -f "$target/MANIFEST.json" ] || die "containers.podman is missing from the ansible wheel"
}

bootstrap() {
  ensure_venv
  install_collection
}

apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* by hand"
  if [ -z "${FLEETFIX_APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "apt-get update failed"
    export FLEETFIX_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || die "apt-get install $* failed"
}

# The Debian mirror this machine's own apt sources name (FLEETFIX_DEBIAN_MIRROR overrides it):
# the project never names one itself.
debian_mirror() {
  local mirror=${FLEETFIX_DEBIAN_MIRROR:-$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)}
  if [ -z "$mirror" ]; then
    mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
  fi
  [ -n "$mirror" ] || die "no Debian mirror found in this machine's apt sources; set FLEETFIX_DEBIAN_MIRROR"
  printf '%s\n' "${mirror%/}"
}
