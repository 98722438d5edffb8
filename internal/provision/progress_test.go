package provision_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/provision"
	"github.com/aegirhq/aegir/secrets"
)

// TestProgressLines backs up and restores a site of a few MB with a
// progress interval of a millisecond: the backup, the restore's unpack
// and its database load log progress lines whose byte counts never go
// down and end where the step's final line says, with a percentage of at
// most 100 against the right total (the site's files for a backup, the
// archive's size for an unpack), and no field but sizes, durations and
// the backup's reason. Nothing here depends on how long a step takes
// beyond its taking more than a millisecond.
func TestProgressLines(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.runner.ProgressInterval = time.Millisecond
	site := b.installed("big.example.com", "static1")
	siteDir := filepath.Join(b.platform["static1"].Path, "sites", site.Domain)
	writeRandomFiles(t, filepath.Join(siteDir, "files"), 8, 1<<20)
	filesBytes := treeBytes(t, siteDir)
	b.exec(site.ID, "CREATE TABLE notes (body TEXT)")
	for range 16 {
		b.exec(site.ID, fmt.Sprintf("INSERT INTO notes VALUES ('%s')", strings.Repeat("aegir ", 10000)))
	}

	from := len(b.logs.String())
	res := b.mustRun(b.ctx(domain.TaskBackup, site, "static1"))
	bk := res.Changes.Backups[0]
	lines := b.logLines(from)
	backupLines := withMsg(lines, "backup progress")
	if len(backupLines) == 0 {
		t.Fatal("the backup logged no progress line")
	}
	written := withMsg(lines, "backup written")
	if len(written) != 1 {
		t.Fatalf("%d 'backup written' lines", len(written))
	}
	// Whether a line lands before the end depends on scheduling (a loaded
	// CI machine may run the ticker late), so no line is required to be
	// short of the end; every line's counts, totals and percentage are.
	checkProgress(t, "backup", backupLines, written[0], "files", filesBytes)
	for _, l := range backupLines {
		if l["reason"] != "manual" {
			t.Errorf("backup progress line without its reason: %v", l)
		}
	}

	from = len(b.logs.String())
	rc := b.ctx(domain.TaskRestore, site, "static1")
	rc.Backup = &provision.BackupInfo{ID: domain.NewID(), Path: bk.Path, SHA256: bk.SHA256, Size: bk.Size}
	b.mustRun(rc)
	lines = b.logLines(from)
	unpacked := withMsg(lines, "backup unpacked and verified")
	if len(unpacked) != 1 {
		t.Fatalf("%d 'backup unpacked and verified' lines", len(unpacked))
	}
	unpackLines := withMsg(lines, "unpack progress")
	if len(unpackLines) == 0 {
		t.Fatal("the restore's unpack logged no progress line")
	}
	// The unpack reads the archive ahead of what it has written, so even its
	// first line may show all of it read.
	checkProgress(t, "unpack", unpackLines, unpacked[0], "archive", bk.Size)
	loaded := withMsg(lines, "database loaded")
	if len(loaded) != 1 {
		t.Fatalf("%d 'database loaded' lines", len(loaded))
	}
	// A dump this small may load within the first interval.
	if loadLines := withMsg(lines, "database load progress"); len(loadLines) > 0 {
		checkProgress(t, "database load", loadLines, loaded[0], "dump", parseSize(t, loaded[0]["dump"]))
	}
	if n := b.count(site.ID, "notes"); n != 16 {
		t.Fatalf("the restored database has %d notes, want 16", n)
	}
	if safety := withMsg(lines, "backup progress"); len(safety) != 0 {
		t.Errorf("a restore that sets the database aside wrote a safety backup: %v", safety)
	}

	// Only sizes, durations and the backup's reason, never a secret.
	sec, err := secrets.OpenFile(filepath.Join(b.dataDir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	vals, err := sec.Get(context.Background(), secrets.SiteDBRef(site.ID))
	if err != nil || len(vals) == 0 {
		t.Fatalf("the site's secret: %v %v", vals, err)
	}
	allowed := map[string]bool{"time": true, "level": true, "msg": true, "task": true,
		"files": true, "database": true, "archive": true, "dump": true, "percent": true, "left": true, "rate": true, "reason": true}
	for _, l := range append(backupLines, append(unpackLines, withMsg(lines, "backup progress")...)...) {
		raw, _ := json.Marshal(l)
		for k := range l {
			if !allowed[k] {
				t.Errorf("progress line with field %q: %s", k, raw)
			}
		}
		for _, v := range vals {
			if strings.Contains(string(raw), v) {
				t.Errorf("a secret in a progress line: %s", raw)
			}
		}
	}
}

// checkProgress checks a step's progress lines against its final line:
// the counts of every part never go down and end at most at the final
// line's; key has a total (want, within the rounding of one decimal) and
// a percentage of at most 100 that matches it.
func checkProgress(t *testing.T, step string, lines []map[string]any, final map[string]any, key string, want int64) {
	t.Helper()
	prev := map[string]int64{}
	for i, l := range lines {
		for _, part := range []string{"files", "database", "archive", "dump"} {
			s, ok := l[part].(string)
			if !ok {
				continue
			}
			done, total, _ := strings.Cut(s, "/")
			n := parseSize(t, done)
			if n < prev[part] {
				t.Errorf("%s line %d: %s went down from %d to %d", step, i, part, prev[part], n)
			}
			prev[part] = n
			if f, ok := final[part]; ok && n > parseSize(t, f)+parseSize(t, f)/20 {
				t.Errorf("%s line %d: %s=%s is past the final line's %v", step, i, part, s, f)
			}
			if part != key || total == "" {
				continue
			}
			tot := parseSize(t, total)
			if d := tot - want; d > want/20 || -d > want/20 {
				t.Errorf("%s line %d: total %s, want about %d bytes", step, i, total, want)
			}
			pct, ok := l["percent"].(float64)
			if !ok || pct < 0 || pct > 100 {
				t.Errorf("%s line %d: percent %v", step, i, l["percent"])
			}
			if exact := float64(n) * 100 / float64(tot); pct > exact+5 || pct < exact-5 {
				t.Errorf("%s line %d: %v%% for %s", step, i, pct, s)
			}
		}
		if _, ok := l["rate"].(string); !ok {
			t.Errorf("%s line %d without a rate: %v", step, i, l)
		}
	}
	for _, f := range []string{key, "seconds", "rate"} {
		if _, ok := final[f].(string); !ok {
			t.Errorf("%s: the final line has no %s: %v", step, f, final)
		}
	}
}

// parseSize reads a size as the progress lines write it: 512B, 1.2MB.
func parseSize(t *testing.T, v any) int64 {
	t.Helper()
	s, _ := v.(string)
	units := []struct {
		suffix string
		mult   float64
	}{{"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"PB", 1e15}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				t.Fatalf("size %q: %v", s, err)
			}
			return int64(f * u.mult)
		}
	}
	t.Fatalf("size %q has no unit", s)
	return 0
}

// logLines parses the back end's JSON log lines from byte offset from.
func (b *bundle) logLines(from int) []map[string]any {
	b.t.Helper()
	var out []map[string]any
	for _, raw := range strings.Split(b.logs.String()[from:], "\n") {
		if raw == "" {
			continue
		}
		var l map[string]any
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			b.t.Fatalf("log line %q: %v", raw, err)
		}
		out = append(out, l)
	}
	return out
}

func withMsg(lines []map[string]any, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// writeRandomFiles writes n files of size random bytes (they do not
// compress) under dir.
func writeRandomFiles(t *testing.T, dir string, n, size int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, size)
	for i := range n {
		_, _ = rand.Read(buf)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("r%d.bin", i)), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// treeBytes is the size of the regular files under dir.
func treeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
