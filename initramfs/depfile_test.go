package initramfs

import "testing"

// TestDepFile checks modules.dep against depmod's format, worked out by
// hand: each module with everything it needs, directly or not, the module
// to load last first; built-in dependencies left out.
func TestDepFile(t *testing.T) {
	files := dmTree()
	files["kernel/fs/ext4/ext4.ko"] = mod("ext4", "jbd2", "crc16")
	files["kernel/fs/jbd2/jbd2.ko"] = mod("jbd2", "cbc") // cbc is built in
	files["kernel/lib/crc16.ko"] = mod("crc16")
	files["kernel/top.ko"] = mod("top", "ext4", "dm-verity")
	c, err := tree(t, files).Resolve([]string{"top", "dm_crypt"})
	if err != nil {
		t.Fatal(err)
	}
	f, ok := c.DepFile()
	if !ok {
		t.Fatal("no modules.dep")
	}
	want := "kernel/fs/jbd2/jbd2.ko:\n" +
		"kernel/lib/crc16.ko:\n" +
		"kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/jbd2/jbd2.ko\n" +
		"kernel/lib/reed_solomon/reed_solomon.ko:\n" +
		"kernel/drivers/md/dm-mod.ko:\n" +
		"kernel/drivers/md/dm-bufio.ko:\n" +
		"kernel/drivers/md/dm-verity.ko: kernel/drivers/md/dm-bufio.ko kernel/drivers/md/dm-mod.ko kernel/lib/reed_solomon/reed_solomon.ko\n" +
		"kernel/top.ko: kernel/drivers/md/dm-verity.ko kernel/drivers/md/dm-bufio.ko kernel/drivers/md/dm-mod.ko " +
		"kernel/lib/reed_solomon/reed_solomon.ko kernel/fs/ext4/ext4.ko kernel/lib/crc16.ko kernel/fs/jbd2/jbd2.ko\n" +
		"kernel/drivers/md/dm-crypt.ko: kernel/drivers/md/dm-mod.ko\n"
	if string(f.Data) != want {
		t.Errorf("modules.dep:\n%s\nwant:\n%s", f.Data, want)
	}
	if f.Path != "/lib/modules/"+rel+"/modules.dep" || f.Mode != 0o644 {
		t.Errorf("path %s mode %v", f.Path, f.Mode)
	}
	if _, ok := (Closure{Release: rel}).DepFile(); ok {
		t.Error("an empty closure has a modules.dep")
	}
}
