// Package emu is the SEV-SNP security-processor stand-in behind cmd/snpemu: it
// keeps an emulated AMD key hierarchy (ARK -> ASK -> VCEK, minted with
// go-sev-guest's testing.AmdSignerBuilder) and answers a guest's report
// requests with version-3 ATTESTATION_REPORTs signed by the VCEK, together
// with the certificate table a real host would supply.
//
// The guest reaches the emulator through a virtio-serial port. QEMU connects,
// as a client, to the unix socket the emulator listens on:
//
//	-chardev socket,path=PATH,id=snp -device virtio-serial -device virtserialport,chardev=snp,name=cvminit.snp
//
// Add ",reconnect=1" (",reconnect-ms=1000" on QEMU ≥ 9.2) to the chardev to let
// QEMU reconnect after the emulator restarts; start the emulator before QEMU. The bytes on that stream are the frames defined in agent/snp's
// wire.go; one connection carries any number of requests.
//
// Reports are only as trustworthy as the state directory: anyone holding the
// VCEK key can sign anything. A verifier that trusts AMD's roots rejects every
// emulated report; one that trusts the emulator's ARK/ASK (State.TrustedRoots,
// cert_chain.pem) accepts them. The report layout is written by hand here
// (SNP ABI table "ATTESTATION_REPORT"); signing, certificates and KDS
// extensions come from the standard library and go-sev-guest.
package emu
