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

# A Python of exactly one minor version, on PATH or under pyenv: find_python_minor 3.13
find_python_minor() {
  local minor=$1
  find_python_where "sys.version_info[:2] == (${minor/./, })" "$(python_override "$minor")" "python$minor" \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$minor".*/bin/python"$minor"
}
python_override() {
  case $1 in 3.11) echo "${FLEETFIX_PYTHON311:-}" ;; 3.13) echo "${FLEETFIX_PYTHON313:-}" ;; esac
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

# The ansible-core lines the collection claims (meta/runtime.yml: >= 2.17), each the latest patch,
# pinned in tests/requirements-LINE.txt, with the controller Python it runs on here: 2.17 supports
# Python 3.10-3.12 and 2.20+ need 3.12+, so 3.11 up to 2.19 and 3.13 after. 2.19 is the main venv
# (tests/requirements.txt), which also runs everything else.
MATRIX_LINES="2.17 2.18 2.19 2.20 2.21"
matrix_python_minor() {
  case $1 in 2.17|2.18|2.19) echo 3.11 ;; *) echo 3.13 ;; esac
}
matrix_venv() {
  if [ "$1" = 2.19 ]; then echo "$VENV"; else echo "${FLEETFIX_MATRIX_VENVS:-$REPO}/.venv-$1"; fi
}
ensure_matrix_venv() {
  local line=$1 python minor
  [ "$line" = 2.19 ] && { ensure_venv; return; }
  minor=$(matrix_python_minor "$line")
  python=$(find_python_minor "$minor") \
    || die "no Python $minor found (on PATH or under pyenv; set FLEETFIX_PYTHON${minor/./}): ansible-core $line needs it"
  make_venv "$(matrix_venv "$line")" "$REPO/tests/requirements-$line.txt" "$python"
}

# The publishing tools (galaxy-importer, antsibull-docs, Sphinx) on Python 3.11, apart from the
# controller's venv: they pin their own ansible-lint and docutils.
VENV_PUBLISH=${FLEETFIX_MATRIX_VENVS:-$REPO}/.venv-publish
ensure_publish_venv() {
  local python
  python=$(find_python_minor 3.11) || die "no Python 3.11 found (set FLEETFIX_PYTHON311): the publishing tools need it"
  make_venv "$VENV_PUBLISH" "$REPO/tests/requirements-publish.txt" "$python"
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

# The collection as it is published: the installed copy with galaxy.yml's repository set (Galaxy's
# importer and ansible-lint's galaxy rule require one; the collection has no public home yet, so
# galaxy.yml names none). stage_release REPOSITORY_URL prints the collections path it made; the
# collection is at ansible_collections/fleetfix/crun below it.
stage_release() {
  local repository=$1 stage=$CACHE/release
  rm -rf "$stage" && mkdir -p "$stage/ansible_collections/fleetfix"
  cp -a "$INSTALLED" "$stage/ansible_collections/fleetfix/crun"
  python - "$stage/ansible_collections/fleetfix/crun/galaxy.yml" "$repository" <<'PY' || return 1
import sys
import yaml
path, repository = sys.argv[1:]
with open(path) as handle:
    text = handle.read()
if yaml.safe_load(text).get("repository"):
    sys.exit("galaxy.yml already names a repository; build it with ansible-galaxy collection build")
with open(path, "w") as handle:
    handle.write(text + "repository: %s\n" % repository)
PY
  echo "$stage"
}

# containers.podman (for molecule's podman driver) comes out of the ansible wheel on the package
# index, since the collection server is out of reach. Pinned: ansible 12.3.0 ships it as 1.18.0.
ANSIBLE_WHEEL_VERSION=12.3.0
# The collections the tests use beside this one, from the ansible package on the package index (no
# Galaxy here): containers.podman (molecule's podman driver) and community.general (its redis fact
# cache plugin, the shared cache of the fleet tests' two controllers).
WHEEL_COLLECTIONS="containers/podman community/general"
ensure_wheel_collections() {
  local missing=() name
  for name in $WHEEL_COLLECTIONS; do
    [ -f "$COLLECTIONS/ansible_collections/$name/MANIFEST.json" ] || missing+=("$name")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local wheels=$CACHE/wheels
  mkdir -p "$wheels"
  say "extracting ${missing[*]} from the ansible $ANSIBLE_WHEEL_VERSION wheel"
  ls "$wheels"/ansible-"$ANSIBLE_WHEEL_VERSION"-*.whl >/dev/null 2>&1 \
    || pip download --quiet --no-deps --dest "$wheels" "ansible==$ANSIBLE_WHEEL_VERSION" \
    || die "could not download the ansible $ANSIBLE_WHEEL_VERSION wheel (for ${missing[*]})"
  python - "$wheels"/ansible-"$ANSIBLE_WHEEL_VERSION"-*.whl "$COLLECTIONS" "${missing[@]}" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    prefixes = tuple("ansible_collections/%s/" % name for name in sys.argv[3:])
    wheel.extractall(sys.argv[2], [n for n in wheel.namelist() if n.startswith(prefixes)])
PY
  for name in "${missing[@]}"; do
    [ -f "$COLLECTIONS/ansible_collections/$name/MANIFEST.json" ] || die "$name is missing from the ansible wheel"
  done
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
  # a package never starts its service here (redis-server would listen on a port): test tools only
  local policy=/usr/sbin/policy-rc.d added=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 0755 "$policy" && added=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || { [ -z "$added" ] || rm -f "$policy"; die "apt-get install $* failed"; }
  [ -z "$added" ] || rm -f "$policy"
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
