#!/usr/bin/env bash
# make demo: the host side of the attested unlock, end to end on loopback.
#   snpemu  — emulated AMD security processor measuring the real Debian kernel + AmdSev firmware
#   keybroker — Trustee KBS 0.4.0 broker with a policy pinning the digest cvmctl measure predicts
#   cvmctl probe — plays the guest: report via the emulator, key via the broker
# Then a host that adds "init=/bin/sh" to the kernel command line: the launch digest changes and the
# broker refuses.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/bin a=build/assets d=build/demo
rm -rf "$d" && mkdir -p "$d/secrets"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
port=$((20000 + RANDOM % 20000))
append="console=ttyS0 cvminit.demo=1"
printf 'placeholder initramfs: the guest side comes next\n' >"$d/initrd.img"
launch=(--ovmf "$a/OVMF.amdsev.fd" --kernel "$a/vmlinuz" --initrd "$d/initrd.img" --append "$append"
  --vcpus 2 --vcpu-type EPYC-v4 --guest-features 0x21)

step "emulated SNP chain (ARK/ASK/VCEK) in $d/snp"
$bin/snpemu init --state "$d/snp"
step "broker TLS identity in $d/tls (guests pin ca.pem)"
$bin/keybroker tls-init --dir "$d/tls"
(umask 077 && head -c 32 /dev/urandom >"$d/secrets/root.key")

step "expected launch digest (cvmctl measure, AmdSev firmware + Debian kernel $(cat $a/kernel-release))"
digest=$($bin/cvmctl measure --mode snp "${launch[@]}")
echo "$digest"
cat >"$d/policy.yaml" <<POL
attestation:
  trust_amd_roots: true
  extra_roots: [snp/cert_chain.pem]   # the emulator's chain: demo only
  allowed_measurements: ["$digest"]
resources:
  default/disk/root: secrets/root.key
POL
echo "policy: $d/policy.yaml"

step "starting keybroker on 127.0.0.1:$port and snpemu on $d/snp.sock"
$bin/keybroker serve --policy "$d/policy.yaml" --listen "127.0.0.1:$port" --tls-dir "$d/tls" 2>"$d/broker.log" &
pids+=($!)
$bin/snpemu serve --state "$d/snp" --socket "$d/snp.sock" "${launch[@]}" 2>"$d/snpemu.log" &
pids+=($!)
for _ in $(seq 50); do [ -S "$d/snp.sock" ] && break; sleep 0.1; done

probe() { $bin/cvmctl probe --broker "https://127.0.0.1:$port" --ca "$d/tls/ca.pem" --snpemu "$1" \
  --resource default/disk/root; }
step "guest stand-in asks for the disk key"
probe "$d/snp.sock"

step "same, but the host launched the guest with init=/bin/sh appended to the command line"
tampered=("${launch[@]}")
tampered[7]="$append init=/bin/sh"
$bin/snpemu serve --state "$d/snp" --socket "$d/snp-debug.sock" "${tampered[@]}" 2>>"$d/snpemu.log" &
pids+=($!)
for _ in $(seq 50); do [ -S "$d/snp-debug.sock" ] && break; sleep 0.1; done
if probe "$d/snp-debug.sock"; then echo "demo: the broker released a key to a tampered launch" >&2; exit 1; fi

step "broker log ($d/broker.log)"
cat "$d/broker.log"
