#!/usr/bin/env bash
# The test command (README, CI). On a machine that has nothing, it installs what the
# tests need -- Debian packages for the real daemons (when root), the venv with the
# test extras -- then runs the checks (ruff, mypy, import-linter) and pytest. Extra arguments go to pytest.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

need_apt=()
for pair in containerd:containerd ctr:containerd dockerd:docker.io docker-registry:docker-registry \
            skopeo:skopeo zstd:zstd pigz:pigz tmux:tmux unshare:util-linux ssh-keygen:openssh-client ip:iproute2; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need_apt+=("${pair#*:}")
done
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "tests/run.sh: installing ${need_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need_apt[@]}" | sort -u) >/dev/null
  else
    echo "tests/run.sh: missing ${need_apt[*]} (run as root to install them); tests that need them will skip${CI:+ -- and fail under CI}" >&2
  fi
fi

python="${PYTHON:-python3}"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
stamp="$venv/.test-deps"
want="$(cksum < pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[test]"
  echo "$want" > "$stamp"
fi

# The habits that keep the layout true (issue 12), before any test: lint, types and the import
# contract declared in pyproject.toml. Each prints its findings only when it fails; any failure
# stops here, naming the check, without running pytest.
failed=()
check() {  # NAME COMMAND...
  local name="$1" out
  shift
  if ! out="$("$@" 2>&1)"; then
    printf '%s\n' "$out" >&2
    echo "tests/run.sh: check failed: $name ($*)" >&2
    failed+=("$name")
  fi
}
check "ruff (lint)" "$venv/bin/ruff" check --quiet --output-format concise .
check "mypy (types)" "$venv/bin/mypy"
check "import-linter (import contract)" "$venv/bin/lint-imports" --no-cache
if [ "${#failed[@]}" -gt 0 ]; then
  names="$(printf '%s; ' "${failed[@]}")"
  echo "tests/run.sh: FAILED before the tests: ${names%; } -- fix the findings above" >&2
  exit 1
fi

set +e
"$venv/bin/python" -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "tests/run.sh: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
