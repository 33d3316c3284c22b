#!/usr/bin/env bash
# Installs the Debian packages that `make demo`, `make test` or `make bench` need and the machine
# lacks. Safe to run again: it only acts on what is missing. It never prompts (no terminal
# input, `sudo -n`), and when it cannot provide something it says what and exits non-zero.
#
# The tests start their own services from these packages (a Mosquitto and a throwaway
# PostgreSQL cluster on free ports, see tests/conftest.py): no running service of the machine
# is needed or touched.
set -euo pipefail
purpose=${1:-test}

fail() {
  echo "ensure-deps: $*" >&2
  exit 1
}

pg_server_installed() {
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null 2>&1
}

lib_installed() {
  # ldconfig lives in /sbin, which is not on every user's PATH.
  local ldconfig
  ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)
  # (grep reads the whole list: a `grep -q` that stops at the first match can leave ldconfig
  # writing into a closed pipe, and under pipefail its SIGPIPE fails the check.)
  "$ldconfig" -p 2>/dev/null | grep "$1" >/dev/null
}

need_pkgs=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_pkgs+=(mosquitto)
# CJK glyphs: the pages' Chinese text in headless Chromium, and the monthly report's PDF
# (`gongzhi report` embeds this font; without it the report is written in English).
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need_pkgs+=(fonts-wqy-microhei)
if [ "$purpose" != demo ]; then
  command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
  # Playwright's driver (a Node.js binary) needs libatomic, which chromium does not pull in.
  lib_installed 'libatomic\.so\.1' || need_pkgs+=(libatomic1)
  command -v victoria-metrics >/dev/null 2>&1 || need_pkgs+=(victoria-metrics)
  # The server binaries (initdb, postgres) for the tests' own throwaway cluster.
  pg_server_installed || need_pkgs+=(postgresql)
fi

if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    fail "missing Debian packages: ${need_pkgs[*]}; install them as root:
  apt-get install ${need_pkgs[*]}"
  fi
  echo "ensure-deps: installing ${need_pkgs[*]}" >&2
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >/dev/null \
    || fail "apt-get update failed (see above); missing: ${need_pkgs[*]}"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends "${need_pkgs[@]}" </dev/null >/dev/null \
    || fail "could not install ${need_pkgs[*]} (see apt-get's message above)"
fi

# Check, rather than trust the package manager: each missing piece is named.
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] \
  || fail "mosquitto is still missing after the installation"
if [ "$purpose" != demo ]; then
  pg_server_installed || fail "the PostgreSQL server binaries (initdb) are still missing"
  lib_installed 'libatomic\.so\.1' || fail "libatomic.so.1 is still missing"
  command -v chromium >/dev/null 2>&1 || fail "chromium is still missing"
fi
exit 0
