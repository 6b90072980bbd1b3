package seal

import (
	"context"
	"os"
	"path/filepath"
)

// publish converts the image if asked, stages the manifest and payload,
// writes the store and renames everything into place. The store comes
// before the renames: if it refuses, nothing is left behind.
func (s *sealer) publish(ctx context.Context, payload []byte) error {
	o := s.o
	img := s.img
	if o.Format == FormatQCOW2 {
		err := s.step(ctx, "qcow2", func() (err error) { img, err = toQCOW2(ctx, o.Tools.QemuImg, s.img); return err })
		if err != nil {
			return err
		}
	}
	m, err := s.manifest(ctx, img)
	if err != nil {
		return err
	}
	if err := s.stageFiles(m, img, payload); err != nil {
		return err
	}
	if o.Store != "" {
		err := s.step(ctx, "store", func() (err error) { s.res.Rotated, err = writeStore(o, payload); return err })
		if err != nil {
			return err
		}
	}
	if err := s.st.commit(); err != nil {
		return err
	}
	s.res.Image, s.res.Manifest, s.res.Payload, s.res.Store, s.res.Info = o.Output, o.Manifest, o.Payload, o.Store, *m
	return nil
}

// stageFiles writes the manifest (0644) and payload (0600) next to their
// final names and adds the image.
func (s *sealer) stageFiles(m *Manifest, img string, payload []byte) error {
	text, err := m.marshal()
	if err != nil {
		return err
	}
	if err := s.st.file(s.o.Manifest, text, 0o644); err != nil {
		return err
	}
	if s.o.Payload != "" {
		if err := s.st.file(s.o.Payload, payload, 0o600); err != nil {
			return err
		}
	}
	return s.st.image(img, s.o.Output)
}

// manifest collects what the steps made; img is the final image file.
func (s *sealer) manifest(ctx context.Context, img string) (*Manifest, error) {
	fi, err := os.Stat(img)
	if err != nil {
		return nil, err
	}
	o, l := s.o, s.meta.Layout
	vol := s.fs + s.hashes
	return &Manifest{
		Version: ManifestVersion,
		Image:   ImageInfo{File: filepath.Base(o.Output), Format: o.Format},
		Input:   s.tree.info,
		FS:      FSInfo{Type: o.FS},
		Verity:  VerityInfo{Verity: *s.verity, HashType: 1},
		LUKS: LUKSInfo{UUID: l.UUID, HeaderSHA256: s.meta.Identity(), Cipher: l.Cipher, KeyBits: l.KeySize * 8,
			SectorSize: l.SectorSize, PBKDF: LUKSPBKDF, Iterations: LUKSIterations, HeaderBytes: l.HdrSize,
			DataOffset: l.Offset},
		Sizes: Sizes{FS: s.fs, HashTree: s.hashes, Volume: vol, RawImage: int64(l.Offset) + vol, File: fi.Size()},
		Broker: BrokerInfo{Resource: o.Resource, Measurements: append([]string{}, o.Measurements...),
			Stored: o.Store != "", PayloadFile: o.Payload != ""},
		Tools: toolVersions(ctx, o, s.tree.mkfs),
	}, nil
}
