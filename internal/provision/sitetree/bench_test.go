package sitetree

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkWalk reads every file of a tree of 2,000 small files in 20
// directories with Walk and, for comparison, with filepath.WalkDir and
// os.Open (which follow a swapped link): what not following costs.
//
//	go test ./internal/provision/sitetree -run XXX -bench Walk
func BenchmarkWalk(b *testing.B) {
	dir := b.TempDir()
	for i := range 20 {
		sub := filepath.Join(dir, fmt.Sprintf("d%02d", i), "x")
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		for j := range 100 {
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprint(j)), []byte("hello"), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	read := func(f *os.File) error {
		defer f.Close()
		_, err := io.Copy(io.Discard, f)
		return err
	}
	b.Run("sitetree", func(b *testing.B) {
		for b.Loop() {
			err := Walk(context.Background(), dir, func(e *Entry) error {
				if !e.Mode.IsRegular() {
					return nil
				}
				f, err := e.Open()
				if err != nil {
					return err
				}
				return read(f)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("filepath.WalkDir", func(b *testing.B) {
		for b.Loop() {
			err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if _, err := d.Info(); err != nil || !d.Type().IsRegular() {
					return err
				}
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				return read(f)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
