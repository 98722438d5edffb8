package provision

import "testing"

func TestArchiveTask(t *testing.T) {
	const id = "06h4v7j0zg00dxr96tsv"
	for name, want := range map[string]string{
		"20261206T230000Z-" + id + ".tar.zst":                         id,
		"20261206T230000Z-" + id + "-pre-restore.tar.zst":             id,
		"20261206T230000Z-" + id + ".tar.zst.tmp-" + id + "-00aa00aa": "",
		"20261206T230000Z-" + id + "x.tar.zst":                        "",
		"20261206T230000Z_" + id + ".tar.zst":                         "",
		"20261206T230000Z-" + "06h4v7j0zg00dxr96tsI" + ".tar.zst":     "",
		"short.tar.zst":  "",
		".aegir-janitor": "",
	} {
		if got := archiveTask(name); got != want {
			t.Errorf("archiveTask(%q) = %q, want %q", name, got, want)
		}
	}
}
