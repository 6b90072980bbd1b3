#!/usr/bin/env bash
# hack/seal-image.sh: from a Debian root file system to what an operator uploads to the cloud and loads into the
# key broker. README "Sealing an image" walks through it; hack/e2e (TestSealImageScript) runs it and boots the
# result. Run `make build assets` first (cvmctl, keybroker, cvminit, the Debian kernel and OVMF in build/).
#
# usage: hack/seal-image.sh --config cvminit.yaml --out DIR (--rootfs DIR|TAR | --debootstrap SUITE)
#                           [--store DIR] [--resource default/disk/root] [--cmdline "console=ttyS0"] [--vcpus N]
#                           [--vcpu-type EPYC-v4] [--format raw|qcow2] [--fs ext4|erofs]
#   --config       the operator's cvminit config (YAML); its disk.luks_uuid is set to the sealed disk's
#   --rootfs       the root file system to seal: a directory or a tar archive
#   --debootstrap  make one first: debootstrap --variant=minbase --include=systemd-sysv SUITE (root, network)
#   --fs           the root file system type; the config's disk.fstype must say the same
#   --store        a keybroker store: the disk key goes there, released to this launch digest only; without it the
#                  key stays in DIR/disk-key.json (0600) for `keybroker resource add` on the broker machine
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "seal-image: $*" >&2; exit 1; }
config= out= rootfs= suite= store= resource=default/disk/root cmdline="console=ttyS0" vcpus=2 vcpu_type=EPYC-v4
format=raw fs=ext4
while [ $# -gt 0 ]; do
	[ $# -ge 2 ] || die "$1 needs a value"
	case "$1" in
	--config) config=$2 ;; --out) out=$2 ;; --rootfs) rootfs=$2 ;; --debootstrap) suite=$2 ;;
	--store) store=$2 ;; --resource) resource=$2 ;; --cmdline) cmdline=$2 ;; --vcpus) vcpus=$2 ;;
	--vcpu-type) vcpu_type=$2 ;; --format) format=$2 ;; --fs) fs=$2 ;;
	*) die "unknown argument $1 (see the usage at the top of $0)" ;;
	esac
	shift 2
done
[ -n "$config" ] && [ -n "$out" ] || die "--config and --out are required"
if [ -n "$rootfs" ] && [ -n "$suite" ] || [ -z "$rootfs$suite" ]; then die "give exactly one of --rootfs and --debootstrap"; fi
bin=${CVMINIT_BIN:-build/bin} assets=${CVMINIT_ASSETS:-build/assets}  # overridable for tests
for f in $bin/cvmctl $bin/keybroker $bin/cvminit $assets/vmlinuz $assets/OVMF.amdsev.fd $assets/kernel-release; do
	[ -e "$f" ] || die "$f is missing: run make build assets"
done
mkdir -p "$out"
[ -e "$out/disk.img" ] && die "$out/disk.img exists: choose a fresh --out"

# 1. The root file system.
if [ -n "$suite" ]; then
	[ "$(id -u)" = 0 ] || die "--debootstrap needs root"
	command -v debootstrap >/dev/null || hack/deps.sh debootstrap
	rootfs=$out/rootfs
	echo "== debootstrap $suite into $rootfs"
	mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	debootstrap --variant=minbase --include=systemd-sysv "$suite" "$rootfs" "${mirror:-http://deb.debian.org/debian}"
fi

# 2. Seal it: file system + dm-verity tree inside LUKS2, under a fresh key, with a UUID the config will pin.
uuid=$(cat /proc/sys/kernel/random/uuid)
echo "== cvmctl seal $rootfs"
$bin/cvmctl seal --rootfs "$rootfs" --out "$out/disk.img" --uuid "$uuid" --payload "$out/disk-key.json" \
	--format "$format" --fs "$fs" --quiet

# 3. The initramfs: cvminit, the config with that UUID, the kernel modules.
release=$(cat $assets/kernel-release)
echo "== cvmctl initramfs build"
$bin/cvmctl initramfs build --config "$config" --luks-uuid "$uuid" --init $bin/cvminit \
	--modules-dir $assets/root/lib/modules/"$release" --output "$out/initramfs.img" >/dev/null

# 4. The launch digest a genuine SNP launch of exactly these files reports.
digest=$($bin/cvmctl measure --ovmf $assets/OVMF.amdsev.fd --kernel $assets/vmlinuz --initrd "$out/initramfs.img" \
	--append "$cmdline" --vcpus "$vcpus" --vcpu-type "$vcpu_type")
printf '%s\n' "$digest" >"$out/launch-digest"
cp $assets/vmlinuz $assets/OVMF.amdsev.fd "$out/"
printf '%s\n' "$cmdline" >"$out/cmdline"

# 5. The broker: the disk key, released to this digest only.
if [ -n "$store" ]; then
	$bin/keybroker resource add --store "$store" --path "$resource" --secret-file "$out/disk-key.json" \
		--measurement "$digest" >/dev/null
	shred -u "$out/disk-key.json" 2>/dev/null || rm -f "$out/disk-key.json"
	key="in the broker store $store as $resource"
else
	key="in $out/disk-key.json (0600): keybroker resource add --store DIR --path $resource --secret-file it --measurement $digest, then delete it"
fi

cat <<EOF
== done
upload to the cloud (the host may read these; none holds a secret):
  $out/disk.img           the sealed disk (LUKS UUID $uuid; manifest $out/disk.img.manifest.json)
  $out/OVMF.amdsev.fd     firmware   } launched with SEV-SNP, kernel hashes on, $vcpus vCPUs $vcpu_type,
  $out/vmlinuz            kernel     } command line "$cmdline"
  $out/initramfs.img      initramfs  }
launch digest $digest (in $out/launch-digest)
disk key: $key
EOF
