package app

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"

	"github.com/gofiber/fiber/v2"
)

// BinaryPath is where every aegir server serves its own binary, as a
// tar.gz holding "aegir" (mode 0755), for Nomad's artifact stanza
// (nomad.binary_from_servers): the back ends on every Nomad client get
// the binary from the servers, checked against the sha256 the dispatching
// server puts in the job, with nothing copied by hand.
const BinaryPath = "/dl/aegir.tar.gz"

// binaryArchive is the running executable packed once, on first use.
type binaryArchive struct {
	path string // the executable; "" is os.Executable
	once sync.Once
	data []byte
	sum  string
	err  error
}

// get returns the archive and its checksum ("sha256:<hex>").
func (b *binaryArchive) get() ([]byte, string, error) {
	b.once.Do(func() {
		path := b.path
		if path == "" {
			if path, b.err = os.Executable(); b.err != nil {
				return
			}
		}
		b.data, b.err = packBinary(path)
		if b.err == nil {
			h := sha256.Sum256(b.data)
			b.sum = "sha256:" + hex.EncodeToString(h[:])
		}
	})
	return b.data, b.sum, b.err
}

// packBinary packs the file at path as "aegir" in a tar.gz whose bytes
// depend on the file's content only (no times, owners or names in the
// headers), so every server running one release serves the same archive
// with the same checksum.
func packBinary(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read the aegir binary: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "aegir", Mode: 0o755, Size: st.Size(), Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}); err != nil {
		return nil, err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return nil, fmt.Errorf("read the aegir binary: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// serveBinary answers GET BinaryPath with the archive, its checksum in
// X-Checksum-Sha256. Anyone may fetch it: it is the released program,
// holding no secret.
func (b *binaryArchive) serve(c *fiber.Ctx) error {
	data, sum, err := b.get()
	if err != nil {
		return fiber.NewError(fiber.StatusInternalServerError, "this aegir server cannot read its own binary")
	}
	c.Set(fiber.HeaderContentType, "application/gzip")
	c.Set("X-Checksum-Sha256", sum[len("sha256:"):])
	c.Set(fiber.HeaderContentLength, strconv.Itoa(len(data)))
	return c.Send(data)
}
