#!/usr/bin/env bash
# A small certificate authority and the server certificates of a deployment:
#   ca.crt / ca.key              the CA; give ca.crt to devices and clients, keep ca.key offline
#   broker.crt / broker.key      Mosquitto's TLS listener (mosquitto, localhost, 127.0.0.1, ::1)
#   platform.crt / platform.key  the platform's HTTPS (platform, localhost, 127.0.0.1, ::1)
# Extra names or IP addresses (the estate's public host name, the server's LAN address) are
# added to both server certificates.
#
# Usage: scripts/make-certs.sh DIR [NAME_OR_IP ...]
#
# Running it again keeps the CA (devices keep trusting it) and issues fresh server
# certificates: that is how they are renewed. Delete ca.* to start a new CA.
set -euo pipefail

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  [ $# -ge 1 ] && exit 0 || exit 2
fi
command -v openssl >/dev/null 2>&1 || { echo "make-certs: openssl is not installed" >&2; exit 1; }

dir=$1; shift
extra=("$@")
CA_DAYS=${CA_DAYS:-3650}
# 825 days: the longest validity that every TLS client still accepts for a server certificate.
SERVER_DAYS=${SERVER_DAYS:-825}

# The directory stays traversable (it is mounted into containers); the keys are 0600.
mkdir -p "$dir"
umask 077
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -s "$dir/ca.key" ] && [ -s "$dir/ca.crt" ]; then
  echo "make-certs: keeping the CA in $dir" >&2
else
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" -days "$CA_DAYS" -sha256 \
    -subj "/O=Gongzhi/CN=Gongzhi deployment CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" 2>/dev/null
  echo "make-certs: new CA in $dir/ca.crt" >&2
fi

san_list() {
  local names=("$@" localhost 127.0.0.1 ::1 "${extra[@]}") out="" n
  for n in "${names[@]}"; do
    if [[ $n =~ ^[0-9.]+$ || $n == *:* ]]; then out+="IP:$n,"; else out+="DNS:$n,"; fi
  done
  echo "${out%,}"
}

issue() {  # issue NAME DNS_NAME...: NAME.key and NAME.crt signed by the CA
  local name=$1; shift
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/$name.key" -out "$work/$name.csr" -subj "/O=Gongzhi/CN=$1" 2>/dev/null
  cat >"$work/$name.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
subjectAltName=$(san_list "$@")
EOF
  openssl x509 -req -in "$work/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -CAserial "$work/ca.srl" -days "$SERVER_DAYS" -sha256 \
    -extfile "$work/$name.ext" -out "$work/$name.crt" 2>/dev/null
  openssl verify -CAfile "$dir/ca.crt" "$work/$name.crt" >/dev/null
  mv "$work/$name.key" "$dir/$name.key"
  mv "$work/$name.crt" "$dir/$name.crt"
  chmod 644 "$dir/$name.crt"
  echo "make-certs: $dir/$name.crt for $(san_list "$@")" >&2
}

issue broker mosquitto
issue platform platform
chmod 644 "$dir/ca.crt"
# Keys stay 0600: in docker-compose, make each readable by its service's user, e.g.
#   chown 1883 broker.key (Mosquitto's user), chown 10001 platform.key (the gongzhi image's user).
