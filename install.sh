#!/usr/bin/env bash
# Offline JupyterHub installer: entry point.
#
# Makes (or reuses) a virtual environment next to this script, installs the
# installer's Python dependencies into it -- from offline-images/wheels/ with no
# network when that folder has wheels (the air-gapped case), else from the package
# index -- and runs `python -m installer "$@"` from this folder's source tree.
# Works from any current directory. Environment:
#   INSTALLER_PYTHON   python to use (default: python3)
#   INSTALLER_VENV     where the venv lives (default: .venv next to this script)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${INSTALLER_PYTHON:-python3}"
venv="${INSTALLER_VENV:-$here/.venv}"
wheels="$here/offline-images/wheels"
stamp="$venv/.installer-deps"

die() { printf 'install.sh: %s\n' "$1" >&2; [ -n "${2:-}" ] && printf 'hint: %s\n' "$2" >&2; exit 2; }

command -v "$python" >/dev/null 2>&1 || die "python3 is not installed." \
  "Install Ubuntu's python3 package (from the installation media: apt install python3)."
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null \
  || die "$("$python" -V 2>&1) is too old; the installer needs Python 3.10 or newer (Ubuntu 22.04 or later)."

have_wheels() { compgen -G "$wheels/*.whl" >/dev/null; }

pip_install() {  # pip_install PYTHON [--target DIR]
  local py="$1"; shift
  if have_wheels; then
    "$py" -m pip install --quiet --disable-pip-version-check --no-index --find-links "$wheels" "$@" jupyterhub-offline-installer
  elif [ "$#" -gt 0 ]; then
    "$py" -m pip install --quiet --disable-pip-version-check "$@" "$here"
  else  # editable: the venv always runs this checkout's code
    "$py" -m pip install --quiet --disable-pip-version-check -e "$here"
  fi
}

deps_id() { { cat "$here/pyproject.toml"; ls "$wheels" 2>/dev/null || true; } | cksum | cut -d' ' -f1; }

free_mib() {  # free MiB on the filesystem that holds $1 (or its nearest existing parent)
  "$python" -c 'import os, shutil, sys
p = os.path.abspath(sys.argv[1])
while not os.path.exists(p):
    p = os.path.dirname(p)
print(shutil.disk_usage(p).free >> 20)' "$1" 2>/dev/null || echo "?"
}

owner_of() { stat -c %U "$1" 2>/dev/null || echo "?"; }

require_writable() {  # the venv (or the folder it goes in) must be ours to write: say so, never guess
  local target="$venv"
  [ -e "$target" ] || target="$(dirname "$venv")"
  while [ ! -e "$target" ]; do target="$(dirname "$target")"; done
  if [ ! -w "$target" ]; then
    die "$target is not writable by $(id -un) (it belongs to $(owner_of "$target")), so the installer's virtual environment cannot be created or updated there." \
      "Run as root (sudo ./install.sh ...) or as $(owner_of "$target"), or set INSTALLER_VENV to a folder you can write."
  fi
}

make_venv() {
  local out created=1
  [ -e "$venv" ] && created=0  # someone's venv (an older one, or another user's): update it, never delete it
  require_writable
  if out="$("$python" -m venv "$venv" 2>&1)"; then return 0; fi
  local free; free="$(free_mib "$venv")"
  if [ "$created" = 1 ]; then rm -rf "$venv"; fi
  local pyver; pyver="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
  if "$python" -c 'import ensurepip' >/dev/null 2>&1; then
    # ensurepip is there, so python3-venv is not what is missing: say what did fail.
    printf 'install.sh: cannot create a virtual environment in %s; python -m venv said:\n' "$venv" >&2
    printf '%s\n' "$out" | tail -n 5 | sed 's/^/  /' >&2
    if [ "$free" != "?" ] && [ "$free" -lt 200 ]; then
      die "the disk holding $venv is full ($free MiB free; the venv and the installer's packages need about 200 MiB)." \
        "Free space there, or set INSTALLER_VENV to a folder on a disk with free space, then run again."
    fi
    die "the virtual environment could not be created (see python's message above)." \
      "Check that $(dirname "$venv") is writable, or set INSTALLER_VENV to another folder, then run again."
  fi
  # Ubuntu server images often lack ensurepip (package python3-venv). A venv without pip
  # still works when the bundle carries a pip wheel: pip runs straight from its wheel file.
  local pipwheel; pipwheel="$(compgen -G "$wheels/pip-*.whl" | head -n1 || true)"
  if [ -n "$pipwheel" ] && "$python" -m venv --without-pip "$venv" >/dev/null 2>&1; then
    "$venv/bin/python" "$pipwheel/pip" install --quiet --no-index --find-links "$wheels" pip && return 0
    if [ "$created" = 1 ]; then rm -rf "$venv"; fi
  fi
  printf 'install.sh: cannot create a virtual environment: the python%s-venv package is missing.\n' "$pyver" >&2
  printf 'hint: install it (apt install python%s-venv, from the installation media), or put a pip wheel in %s.\n' "$pyver" "$wheels" >&2
  return 1
}

if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$(deps_id)" ]; then
  run_python="$venv/bin/python"
elif make_venv; then
  printf 'install.sh: installing the installer'"'"'s Python packages into %s%s ...\n' "$venv" \
    "$(have_wheels && echo ' from offline-images/wheels (no network)')" >&2
  pip_install "$venv/bin/python" || die "could not install the installer's Python packages into $venv." \
    "$(have_wheels && echo "A wheel is missing from $wheels: rebuild the bundle with './install.sh export --wheels'." || echo "Check the network, or copy offline-images/wheels/ from a bundle.")"
  deps_id > "$stamp"
  run_python="$venv/bin/python"
elif "$python" -m pip --version >/dev/null 2>&1; then
  # Last resort without venv: a private --target folder, never the system site-packages.
  target="$here/.pydeps"
  printf 'install.sh: falling back to a plain install into %s\n' "$target" >&2
  pip_install "$python" --target "$target" || die "could not install the installer's Python packages into $target."
  export PYTHONPATH="$target${PYTHONPATH:+:$PYTHONPATH}"
  run_python="$python"
else
  exit 2
fi

export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
exec "$run_python" -m installer "$@"
