package app

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// The served archive holds the binary as "aegir", executable, and is the
// same bytes for the same binary whenever and wherever it is packed, so
// servers of one release agree on its checksum.
func TestBinaryArchive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "aegir-x")
	content := bytes.Repeat([]byte("#!/bin/sh\necho aegir\n"), 1000)
	if err := os.WriteFile(bin, content, 0o700); err != nil {
		t.Fatal(err)
	}
	a := &binaryArchive{path: bin}
	data, sum, err := a.get()
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(data)
	if sum != "sha256:"+hex.EncodeToString(h[:]) {
		t.Errorf("checksum %s is not the archive's", sum)
	}
	// Packed again later, with another mtime: the same bytes.
	if err := os.Chtimes(bin, time.Now().Add(time.Hour), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	again, err := packBinary(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Error("the archive changed with the file's time")
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(tr)
	if hdr.Name != "aegir" || hdr.Mode != 0o755 || !bytes.Equal(got, content) {
		t.Errorf("archive holds %s mode %o, %d bytes", hdr.Name, hdr.Mode, len(got))
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("more than one file in the archive: %v", err)
	}

	app := fiber.New()
	app.Get(BinaryPath, a.serve)
	resp, err := app.Test(httptest.NewRequest("GET", BinaryPath, nil))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) || "sha256:"+resp.Header.Get("X-Checksum-Sha256") != sum {
		t.Errorf("GET %s: %d, %d bytes, checksum header %q", BinaryPath, resp.StatusCode, len(body), resp.Header.Get("X-Checksum-Sha256"))
	}

	missing := &binaryArchive{path: filepath.Join(dir, "gone")}
	if _, _, err := missing.get(); err == nil {
		t.Error("a missing binary packed")
	}
}
