#!/usr/bin/env bash
# Fetch the real boot parts the tests and the demo use, as Debian packages
# unpacked under build/assets (never installed, host apt configuration untouched):
#   vmlinuz + modules   linux-image-amd64 (bookworm)       the guest kernel
#   OVMF.fd             ovmf (bookworm)                    the firmware QEMU boots under TCG
#   OVMF.amdsev.fd      ovmf-amdsev (sid)                  the firmware a real SNP launch measures
# The sid package comes through a one-off sources list passed on the command line.
set -euo pipefail
out=${1:-build/assets}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work="$out/.apt"
mkdir -p "$work/debs" "$work/lists/partial" "$work/cache/archives/partial"

if [ -f "$out/stamp" ]; then exit 0; fi

uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
uri=${uri:-http://deb.debian.org/debian}
cat >"$work/sid.sources" <<SRC
Types: deb
URIs: $uri
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
sidopts=(-o "Dir::Etc::SourceList=$work/sid.sources" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root -q)

echo "assets: resolving packages"
apt-get update -q >/dev/null 2>&1 || true
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$kpkg" ] || { echo "assets: cannot resolve linux-image-amd64 (run apt-get update as root)" >&2; exit 1; }
(cd "$work/debs" && apt-get -o APT::Sandbox::User=root download -q "$kpkg" ovmf >/dev/null)
apt-get "${sidopts[@]}" update >/dev/null
(cd "$work/debs" && apt-get "${sidopts[@]}" download ovmf-amdsev >/dev/null)

rm -rf "$out/root"
for d in "$work"/debs/*.deb; do dpkg-deb -x "$d" "$out/root"; done
release=${kpkg#linux-image-}
cp "$out/root/boot/vmlinuz-$release" "$out/vmlinuz"
cp "$out/root/usr/share/ovmf/OVMF.fd" "$out/OVMF.fd"
cp "$out/root/usr/share/ovmf/OVMF.amdsev.fd" "$out/OVMF.amdsev.fd"
echo "$release" >"$out/kernel-release"
ls "$work"/debs >"$out/packages"
touch "$out/stamp"
echo "assets: kernel $release, OVMF.fd, OVMF.amdsev.fd in $out"
