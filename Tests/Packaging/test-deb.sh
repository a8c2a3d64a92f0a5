#!/usr/bin/env bash
# The Debian packages on this machine (make deb-test; part of make check): build the amd64 packages
# (scripts/make-deb.sh, lintian included), install them with apt-get (their Depends resolved from Debian),
# test what they installed, then purge them and check that no file of theirs is left.
#   - edgecore --version; no rpath; check of examples/site-simulated.yaml; a site naming a profile found
#     only in /usr/share/edgecore/profiles (and an unknown profile refused)
#   - a program built with pkg-config against the installed header and library runs
#   - the installed edgecore-gateway forwards the simulated site through a private mosquitto
#     (Tests/Integration/gateway_smoke.sh with EDGECORE_GATEWAY=/usr/bin/edgecore-gateway)
#   - man finds the pages, bash completion loads, the unit and the conffile are in place
#   - the tool's tests (Tests/Integration/test_tool*.py) against /usr/bin/edgecore
# Needs root (CI) or passwordless sudo; otherwise it says so and skips (exit 0). Prints
# "deb: N passed, M failed" (counted by scripts/test.sh).
set -uo pipefail
# No `| grep -q` here: grep -q stops reading at its first match, the writer then dies of SIGPIPE and, under
# pipefail, the pipeline fails although it matched (CI saw it once on `ldd ... | grep -q`). grep >/dev/null.
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
packages=(edgecore-tools libedgecore-dev)
version=$(sed -n 's/^#define EDGECORE_VERSION_STRING "\(.*\)"/\1/p' include/edgecore.h)
libpkg=libedgecore${version%%.*}
packages+=("$libpkg")
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n)
  else echo "deb-test: skipped: installing packages needs root or passwordless sudo"; exit 0; fi
fi
apt_get=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -y -q)
work=$(mktemp -d /tmp/edgecore-deb-test.XXXXXX)
installed=0
passed=0 failed=0
result() { if [ "$1" -eq 0 ]; then echo "PASS $2"; passed=$((passed + 1)); else echo "FAIL $2"; failed=$((failed + 1)); fi; }
cleanup() {
  if [ "$installed" -eq 1 ]; then "${apt_get[@]}" purge "${packages[@]}" >/dev/null 2>&1; fi
  rm -rf "$work"
}
trap cleanup EXIT
start=$SECONDS

for p in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep 'install ok installed' >/dev/null; then
    echo "deb-test: $p is installed already: purging it first (a run that was interrupted?)"
    "${apt_get[@]}" purge "${packages[@]}" >/dev/null
    break
  fi
done

make -s examples ARCH=x86_64 >/dev/null || { echo "deb-test: make examples failed"; echo "deb: 0 passed, 1 failed"; exit 1; }
scripts/make-deb.sh amd64 > "$work/make-deb.log" 2>&1
result $? "make deb (amd64), lintian: $(sed -n 's/^make-deb: lintian on //p' "$work/make-deb.log")"
debs=()
for p in "${packages[@]}"; do debs+=("./build/deb/${p}_${version}-1_amd64.deb"); done
"${apt_get[@]}" install --no-install-recommends "${debs[@]}" > "$work/apt.log" 2>&1
status=$?
installed=1
result $status "apt-get install ${debs[*]}"
[ "$status" -eq 0 ] || { tail -20 "$work/apt.log"; echo "deb: $passed passed, $((failed))" failed; exit 1; }
for p in "${packages[@]}"; do dpkg -L "$p" > "$work/$p.files"; done

# The tool.
[ "$(/usr/bin/edgecore --version)" = "edgecore $version (libEdgeCore $version)" ]
result $? "edgecore --version: $(/usr/bin/edgecore --version)"
! readelf -d /usr/bin/edgecore /usr/bin/edgecore-gateway | grep -E 'R(UN)?PATH' >/dev/null
result $? "the installed binaries carry no rpath"
ldd /usr/bin/edgecore | grep -E "libEdgeCore.so.1 => (/usr)?/lib/x86_64-linux-gnu/libEdgeCore.so.1 " >/dev/null
result $? "edgecore loads /usr/lib/x86_64-linux-gnu/libEdgeCore.so.1"
/usr/bin/edgecore check examples/site-simulated.yaml > "$work/plan" 2>&1
status=$?
[ "$status" -eq 0 ] && grep -q 'meter-tcp' "$work/plan"
result $? "edgecore check examples/site-simulated.yaml (exit $status, plan of $(wc -l < "$work/plan") lines)"
mkdir -p "$work/site"
site() {
  printf 'buses:\n  - name: meters\n    type: tcp\n    host: 127.0.0.1\n    port: 1502\n    devices:\n      - name: main\n        profile: %s\n        unit_id: 3\n' "$1" > "$work/site/site.yaml"
}
site eastron-sdm630
env -u EDGECORE_PROFILES /usr/bin/edgecore check "$work/site/site.yaml" > "$work/plan2" 2>&1
status=$?
[ "$status" -eq 0 ] && grep -q 'main' "$work/plan2"
result $? "a site naming profile eastron-sdm630 checks with the profile of /usr/share/edgecore/profiles (exit $status)"
site no-such-profile
env -u EDGECORE_PROFILES /usr/bin/edgecore check "$work/site/site.yaml" > "$work/plan3" 2>&1
status=$?
[ "$status" -eq 3 ] && grep -q 'no-such-profile' "$work/plan3"
result $? "an unknown profile is refused with exit 3 (exit $status: $(head -c 200 "$work/plan3"))"

# The development package.
[ "$(pkg-config --modversion edgecore)" = "$version" ] && [ "$(pkg-config --variable=libdir edgecore)" = /usr/lib/x86_64-linux-gnu ]
result $? "pkg-config edgecore: $version in /usr/lib/x86_64-linux-gnu"
# shellcheck disable=SC2046  # pkg-config output is a list of flags
gcc -std=c11 -Wall -Wextra -Werror -pedantic examples/ring_demo.c $(pkg-config --cflags --libs edgecore) -lpthread \
  -o "$work/ring_demo" && timeout 60 "$work/ring_demo" 12 | grep '^published 12 drained 12 dropped 0 rejected 0$' >/dev/null
result $? "examples/ring_demo.c builds against the installed package (pkg-config) and runs"

# The gateway against the simulated site, through a private mosquitto.
EDGECORE_GATEWAY=/usr/bin/edgecore-gateway Tests/Integration/gateway_smoke.sh x86_64 "" "" > "$work/gateway.log" 2>&1
status=$?
sed 's/^/  /' "$work/gateway.log"
result $status "the installed edgecore-gateway forwards the simulated site to mosquitto"

# Manual, completion, unit, conffile.
if grep -qs '^path-exclude=*/usr/share/man' /etc/dpkg/dpkg.cfg.d/*; then
  echo "deb-test: man pages not checked: this system's dpkg excludes /usr/share/man (/etc/dpkg/dpkg.cfg.d)"
else
  for source in docs/man/*.*.md; do   # every page of the manual (docs/man/README.md)
    page=${source##*/}; page=${page%.md}; section=${page##*.}; page=${page%.*}
    man -w "$section" "$page" 2>/dev/null | grep "^/usr/share/man/man$section/$page.$section.gz$" >/dev/null
    result $? "man -w $section $page"
  done
fi
completion=$(bash -c 'source /usr/share/bash-completion/completions/edgecore && complete -p edgecore &&
  COMP_WORDS=(edgecore ch); COMP_CWORD=1; _edgecore; echo "${COMPREPLY[*]}"' 2>&1)
[ "$completion" = "complete -F _edgecore edgecore
check" ]
result $? "bash completion of 'edgecore ch' gives check"
grep -q '^ExecStart=/usr/bin/edgecore-gateway ' /lib/systemd/system/edgecore-gateway.service &&
  grep -q '^EnvironmentFile=-/etc/default/edgecore-gateway$' /lib/systemd/system/edgecore-gateway.service &&
  [ -f /etc/default/edgecore-gateway ] && dpkg-query -W -f='${Conffiles}' edgecore-tools | grep /etc/default/edgecore-gateway >/dev/null
result $? "the systemd unit runs /usr/bin/edgecore-gateway with /etc/default/edgecore-gateway (a conffile)"
if command -v systemd-analyze >/dev/null && [ -d /run/systemd/system ]; then
  systemd-analyze verify /lib/systemd/system/edgecore-gateway.service > "$work/verify" 2>&1
  result $? "systemd-analyze verify edgecore-gateway.service $(head -c 300 "$work/verify")"
fi

# The tool's own tests against the installed binary.
EDGECORE_TOOL=/usr/bin/edgecore Tests/Integration/run.sh Tests/Integration/test_tool*.py > "$work/pytest.log" 2>&1
status=$?
summary=$(grep -E '(passed|failed|error).* in [0-9.]+s' "$work/pytest.log" | tail -n 1 | sed 's/=//g; s/^ *//')
[ "$status" -eq 0 ] || sed 's/^/  /' "$work/pytest.log" | tail -40
result $status "Tests/Integration/test_tool*.py with EDGECORE_TOOL=/usr/bin/edgecore: ${summary:-no summary}"
# Their own count, for scripts/test.sh's total (make check runs them here only, not in integration-test).
tool_passed=$(sed -nE 's/(^|.* )([0-9]+) passed.*/\2/p' <<<"$summary")
tool_failed=$(sed -nE 's/(^|.* )([0-9]+) failed.*/\2/p' <<<"$summary")
echo "tool-installed: ${tool_passed:-0} passed, ${tool_failed:-$([ "$status" -eq 0 ] && echo 0 || echo 1)} failed"

# Purge: nothing of the packages is left.
"${apt_get[@]}" purge "${packages[@]}" > "$work/purge.log" 2>&1
result $? "apt-get purge ${packages[*]}"
installed=0
left=$(cat "$work"/*.files | sort -u | while IFS= read -r f; do
  if [ ! -d "$f" ] && { [ -e "$f" ] || [ -L "$f" ]; }; then echo "$f"; fi
  case $f in /usr/share/edgecore|/usr/share/doc/edgecore-tools|/usr/share/doc/$libpkg|/usr/share/doc/libedgecore-dev)
    [ ! -e "$f" ] || echo "$f";;
  esac
done)
[ -z "$left" ] && [ ! -e /etc/default/edgecore-gateway ]
result $? "after purge no file of the packages is left${left:+: $left}"
echo "deb-test: $((SECONDS - start)) s"
echo "deb: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
