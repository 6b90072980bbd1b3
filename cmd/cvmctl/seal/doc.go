// Package seal turns an operator's root file system (a directory or a tar
// archive) into the sealed disk image a cvminit guest boots from, in one
// step, on an ordinary build machine: plain files only, no device-mapper, no
// loop devices. It is what `cvmctl seal` runs.
//
// The image is built in four layers, each by the stock Debian tool:
//
//  1. file system: ext4 (mkfs.ext4 -d, e2fsprogs), or erofs (mkfs.erofs,
//     erofs-utils) on request;
//  2. dm-verity: `veritysetup format --no-superblock` (cryptsetup-bin) appends
//     the sha256 hash tree right after the file system in the same file, so the
//     volume is [file system | hash tree] and the tree starts at
//     hash_offset = data_blocks * 4096;
//  3. LUKS2: `cryptsetup reencrypt --encrypt` encrypts that volume in place
//     with the parameters of SECURITY.md's allow-list (aes-xts-plain64, 512-bit
//     volume key, 4096-byte sectors, one pbkdf2 keyslot at 1000 iterations:
//     the passphrase is 32 fresh random bytes, full entropy, so KDF cost would
//     only slow the guest's boot), 16 KiB metadata and 480 KiB keyslots; the
//     unused tail the data shift leaves behind is cut off, so the decrypted
//     volume is exactly file system + hash tree;
//  4. optionally qcow2 (qemu-img convert, qemu-utils).
//
// It then checks its own work the way the guest will: `veritysetup verify`
// on the volume before encryption, the guest's LUKS2 header guard
// (disk.ReadMetadata) and key check (disk.CheckKey) on the image, and the
// broker payload through disk.ParsePayload. It writes a manifest (no
// secrets) and the broker resource: the disk.Payload JSON holding the key,
// the disk's LUKS UUID and header identity and the verity description, into
// a 0600 file and/or a key broker store with the allowed launch digests.
//
// # ext4 or erofs
//
// ext4 (the default) needs nothing beyond the ext4 driver every Debian
// kernel has built in; its image is sized from the tree (content rounded to
// blocks, inode tables for the entries plus 25%, then +20% and +16 MiB of
// margin; Options.Size overrides) and is written without a journal, since the
// guest only reads it. erofs is read-only by design and lz4hc-compressed
// (mkfs.erofs's image is padded with zeros to whole 4096-byte blocks, the
// verity data blocks); it costs the erofs module in the initramfs, some CPU
// to decompress at boot, and seal time: mkfs.erofs (erofs-utils 1.5)
// compresses with one thread. Measured on a 2-vCPU build machine (sizes in
// MiB, seal time the median of three runs):
//
//	tree (entries, content)              ext4: fs / tree / image, seal   erofs: fs / tree / image, seal
//	/usr/lib/python3.11 (1500, 49.8)      81.0 / 0.66 /  82.1, 1.2 s      23.8 / 0.20 / 24.4, 1.8 s
//	.../x86_64-linux-gnu/lib[a-m]* (403, 84.1)
//	                                     118.0 / 0.96 / 119.4, 2.1 s      42.3 / 0.34 / 43.1, 2.8 s
//	/usr/share/doc (5262, 107.6)         164.0 / 1.30 / 165.8, 2.5 s      72.1 / 0.59 / 73.2, 6.2 s
//
// So the erofs image, hence the hash tree, the encryption, the upload and
// the guest's reads, is 30-45% of the default ext4 one (45-60% of an ext4
// sized to just fit with Options.Size: 53.6, 84.7, 125.1 MiB; less gain on
// content already compressed, like /usr/share/doc's gzip files), and the
// seal takes 1.4-2.5 times as long: mkfs.erofs -zlz4hc reads 23-42 MB of
// content a second, about half a minute per GiB, where mkfs.ext4 takes a
// fraction of a second. (Plain lz4 would make mkfs.erofs 5 times faster for
// images 3-11% larger; it is the same format, decompressed as fast.)
//
// # Ownership and root
//
// Nothing here needs root. A directory is taken as it is, ownership
// included (mkfs.ext4 -d and mkfs.erofs copy each file's uid, gid and mode,
// setuid included; ext4's root directory is forced to 0:0, erofs's keeps the
// directory's owner): unpack a rootfs as root, or give a tar archive. A
// tar archive is extracted with archive/tar into a private directory
// through os.Root (absolute names and ".." are refused, and no
// entry can be written through a symlink out of the tree) keeping modes;
// as root its ownership is applied while extracting, otherwise it is applied
// to the ext4 image afterwards with debugfs (erofs: every file becomes
// root-owned, --all-root). Device nodes can be extracted only as root and
// are refused otherwise; extended attributes (file capabilities, SELinux
// labels) are not carried over from a tar archive.
//
// # What differs between two seals of the same input
//
// Only what must be fresh: the disk key, the LUKS UUID, the keyslot and
// digest salts (hence the header identity), the verity salt (hence the root
// hash), and the file system's own UUID and timestamps. The structure never
// differs: the same sizes, the same LUKS2 metadata once those values are
// masked, the same verity geometry. The tests check exactly this.
//
// Nothing is left behind on failure: everything is built in a private
// directory next to the output and renamed into place at the end; the key
// lives in a secret.Buffer and, for cryptsetup, in a 0600 file in a private
// tmpfs directory that is overwritten and removed afterwards. It is never on
// a command line, in the environment, in the manifest or in an error.
//
// Written by hand: the sequence of tool runs and the checks between them;
// every format is made by its reference tool and checked by the guest's code.
package seal
