#!/usr/bin/env bash
# Modbus integration tests: makes/updates the venv .build-venv (Debian's python3, pinned packages of
# requirements.txt), builds the test peers (Tests/Peers -> build/peers), runs pytest on Tests/Integration.
#   Tests/Integration/run.sh [pytest args...]      e.g. -k unplug, -x, -v,
#                                                  Tests/Integration/test_peers.py::test_delay_ms
# Exits with pytest's status; "no tests collected" (pytest's 5) counts as a failure.
# Needs scripts/install-deps.sh (socat, python3-venv, python3-pip, libmodbus-dev).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/.build-venv"
requirements="$root/Tests/Integration/requirements.txt"
stamp="$venv/.edgecore-requirements"
python=/usr/bin/python3

if [ ! -x "$venv/bin/python" ] || ! cmp -s "$requirements" "$stamp"; then
  if [ ! -x "$venv/bin/python" ]; then
    echo "run.sh: creating $venv"
    "$python" -m venv "$venv" || { echo "run.sh: '$python -m venv' failed: run scripts/install-deps.sh" >&2; exit 1; }
  fi
  echo "run.sh: installing $(grep -v '^#' "$requirements" | xargs)"
  timeout 900 "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$requirements"
  cp "$requirements" "$stamp"
fi

make -s -C "$root/Tests/Peers"

cd "$root"
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the source tree
# Run Tests/Integration unless the arguments name test files or node ids themselves.
targets=(Tests/Integration)
for arg in "$@"; do
  case "$arg" in -*) ;; *) [ -e "${arg%%::*}" ] && targets=() ;; esac
done
set +e
timeout 1800 "$venv/bin/python" -m pytest -q "${targets[@]}" "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "run.sh: no tests collected: failure" >&2
fi
exit "$status"
