package provision

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// removeTree removes every file and directory under dir, and dir, never
// what a symlink in it points to; a missing dir is not an error.
func TestRemoveTree(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(root, "outside")
	if err := os.MkdirAll(filepath.Join(outside, "keep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "keep", "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "site")
	for i := range 30 {
		d := filepath.Join(dir, "files", fmt.Sprint(i%7), "deep", fmt.Sprint(i%3))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%d", i)), []byte("data"), 0o444); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "settings.php"), []byte("<?php"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{filepath.Join(dir, "link"), filepath.Join(dir, "files", "link")} {
		if err := os.Symlink(outside, l); err != nil {
			t.Fatal(err)
		}
	}
	if err := removeTree(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s still there: %v", dir, err)
	}
	if _, err := os.Stat(filepath.Join(outside, "keep", "f")); err != nil {
		t.Fatalf("a symlink's target was removed: %v", err)
	}
	if err := removeTree(dir); err != nil {
		t.Fatalf("missing dir: %v", err)
	}
}

// BenchmarkRemoveTree removes a tree of AEGIR_BENCH_REMOVE_FILES (default
// 20,000) files of 8 KiB, 500 to a directory, with removeTree and with
// os.RemoveAll (one file at a time, as rm -rf), alternating which goes
// first each round, and reports the median files removed per second of
// each: removing the old site is part of every restore's time. With
// AEGIR_BENCH_REMOVE_WORKERS (default removeWorkers) removeTree uses that
// many goroutines. The tree is made and synced to disk outside the
// timing, as a live site's files are.
func BenchmarkRemoveTree(b *testing.B) {
	files := benchEnvInt(b, "AEGIR_BENCH_REMOVE_FILES", 20000)
	rounds := benchEnvInt(b, "AEGIR_BENCH_ROUNDS", 3)
	workers := benchEnvInt(b, "AEGIR_BENCH_REMOVE_WORKERS", removeWorkers)
	data := make([]byte, 8<<10)
	root := b.TempDir()
	mk := func(dir string) {
		for i := range files {
			d := filepath.Join(dir, "files", fmt.Sprint(i/500))
			if i%500 == 0 {
				if err := os.MkdirAll(d, 0o755); err != nil {
					b.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%06d", i)), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		unix.Sync()
	}
	var tree, serial []float64
	n := 0
	measure := func(rates *[]float64, remove func(string) error) {
		n++
		dir := filepath.Join(root, fmt.Sprint(n))
		mk(dir)
		t0 := time.Now()
		if err := remove(dir); err != nil {
			b.Fatal(err)
		}
		*rates = append(*rates, float64(files)/time.Since(t0).Seconds())
	}
	parallel := func(dir string) error { return removeTreeWith(dir, workers, nil) }
	b.ResetTimer()
	for b.Loop() {
		for r := range rounds {
			if r%2 == 0 {
				measure(&tree, parallel)
				measure(&serial, os.RemoveAll)
			} else {
				measure(&serial, os.RemoveAll)
				measure(&tree, parallel)
			}
		}
	}
	b.ReportMetric(medianOf(tree), "files/s")
	b.ReportMetric(medianOf(serial), "baseline_files/s")
	b.ReportMetric(medianOf(tree)/medianOf(serial), "x_baseline")
	b.ReportMetric(0, "ns/op")
}

func benchEnvInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

func medianOf(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}
