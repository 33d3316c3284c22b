#!/usr/bin/env bash
# Installs (Debian packages) or starts what `make demo`, `make test` or `make bench` need and the
# machine lacks. Safe to run again: it only acts on what is missing.
set -euo pipefail
purpose=${1:-test}

need_pkgs=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_pkgs+=(mosquitto)
if [ "$purpose" != demo ]; then
  command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
  command -v victoria-metrics >/dev/null 2>&1 || need_pkgs+=(victoria-metrics)
  # CJK glyphs for the pages' Chinese text in headless Chromium.
  [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need_pkgs+=(fonts-wqy-microhei)
  command -v pg_ctlcluster >/dev/null 2>&1 || command -v psql >/dev/null 2>&1 \
    || need_pkgs+=(postgresql)
fi

if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
    echo "ensure-deps: missing Debian packages: ${need_pkgs[*]} (run as root to install)" >&2
    exit 1
  fi
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  echo "ensure-deps: installing ${need_pkgs[*]}" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${need_pkgs[@]}" >/dev/null
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ "$purpose" = test ]; then
  # The tests use the machine's PostgreSQL (trust auth, database `test`); start it if it is down.
  if ! port_open 5432; then
    if command -v pg_ctlcluster >/dev/null 2>&1; then
      version=$(ls /etc/postgresql | sort -V | tail -n 1)
      pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    fi
    for _ in $(seq 1 50); do port_open 5432 && break; sleep 0.2; done
  fi
  if port_open 5432 && command -v psql >/dev/null 2>&1; then
    # Trust auth as on the CI machines; create the database the tests use if it is missing.
    psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" \
      2>/dev/null | grep -q 1 \
      || psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test" >/dev/null 2>&1 \
      || echo "ensure-deps: could not create database test" >&2
  fi
fi
exit 0
