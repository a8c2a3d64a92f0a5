#!/usr/bin/env bash
# The journal's tests on real file systems (issue 10), each program counted by Tests/CABI/run.sh:
#   run.sh kill PROGRAM CYCLES   journal_kill: CYCLES kill -9 cycles of a writer, in a new folder under
#                                ${TMPDIR:-/var/tmp} (a disk file system), removed afterwards;
#                                EDGECORE_KILL_SEED=N repeats a run's kill times
#   run.sh full PROGRAM          journal_full: a journal on a 1 MiB tmpfs mounted for the run, in a mount
#                                namespace of its own (root, or else an unprivileged user namespace), so
#                                the mount goes away with the run whatever happens; unmounted at the end
set -u
here=$(cd "$(dirname "$0")" && pwd)
cabi_run=$here/../CABI/run.sh
mode=${1:-} program=${2:-}
[ -x "$program" ] || { echo "usage: run.sh kill PROGRAM CYCLES | run.sh full PROGRAM" >&2; exit 2; }
program=$(cd "$(dirname "$program")" && pwd)/$(basename "$program")

case $mode in
kill)
  folder=$(mktemp -d "${TMPDIR:-/var/tmp}/edgecore-journal-kill.XXXXXX") || exit 1
  trap 'rm -rf "$folder"' EXIT
  EDGECORE_TEST_FOLDER=$folder EDGECORE_KILL_CYCLES=${3:-100} "$cabi_run" journal_kill "" "$program"
  ;;
full)
  if [ -z "${EDGECORE_JOURNAL_NAMESPACE:-}" ]; then
    # Into a private mount namespace first: as root a plain one, else a user namespace mapped to root.
    export EDGECORE_JOURNAL_NAMESPACE=1
    if [ "$(id -u)" -eq 0 ]; then
      exec unshare --mount --propagation private "$0" "$@"
    fi
    exec unshare --user --map-root-user --mount "$0" "$@"
  fi
  mountpoint=$(mktemp -d "${TMPDIR:-/tmp}/edgecore-journal-full.XXXXXX") || exit 1
  trap 'umount "$mountpoint" 2>/dev/null; rmdir "$mountpoint"' EXIT
  if ! mount -t tmpfs -o size=1m,mode=0755 edgecore-journal-full "$mountpoint"; then
    echo "FAIL journal_full: cannot mount a tmpfs (run as root, or enable unprivileged user namespaces)"
    echo "cabi-journal_full: 0 passed, 1 failed"
    exit 1
  fi
  EDGECORE_TEST_FOLDER=$mountpoint "$cabi_run" journal_full "" "$program"
  ;;
*)
  echo "usage: run.sh kill PROGRAM CYCLES | run.sh full PROGRAM" >&2
  exit 2
  ;;
esac
