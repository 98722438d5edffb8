package lifecycle

import (
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/testharness"
)

func TestBlocks(t *testing.T) {
	t.Parallel()
	md := "# x\n\n```sh\nnot run\n```\n\n```sh runnable:one\necho 1\necho 2\n```\n\n````\n```sh runnable:inner\n````\n\n~~~sh runnable:two\necho ~\n~~~\n"
	got, err := Blocks([]byte(md))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "one" || got[0].Script != "echo 1\necho 2\n" || got[0].Line != 7 ||
		got[1].Name != "two" || got[1].Script != "echo ~\n" {
		t.Fatalf("Blocks = %+v", got)
	}
	for name, bad := range map[string]string{
		"no name": "```sh runnable:\nx\n```\n",
		"twice":   "```sh runnable:a\n```\n```sh runnable:a\n```\n",
		"open":    "```sh runnable:a\nx\n",
		"spaces":  "```sh runnable:a b\n```\n",
	} {
		if _, err := Blocks([]byte(bad)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// Every runbook in docs/ parses and has the blocks its test runs.
func TestRunbooksHaveTheirBlocks(t *testing.T) {
	t.Parallel()
	for doc, names := range map[string][]string{
		"../../docs/install.md":  {"install", "configure", "check", "upgrade"},
		"../../docs/upgrade.md":  {"export-dev", "import-consul", "check"},
		"../../docs/recovery.md": {"key", "export", "import", "rebuild"},
		"../../docs/nomad.md":    {"deploy"},
	} {
		blocks, err := Runbook(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if strings.TrimSpace(blocks[n].Script) == "" {
				t.Errorf("%s: no runnable block %q", doc, n)
			}
		}
	}
}

func FuzzBlocks(f *testing.F) {
	f.Add([]byte("```sh runnable:a\necho\n```\n"))
	f.Add([]byte("~~~\n```sh runnable:b\n~~~\n"))
	for _, s := range testharness.HostileInputs {
		f.Add([]byte(s))
		f.Add([]byte("```sh runnable:" + s + "\n" + s + "\n```\n"))
	}
	f.Fuzz(func(t *testing.T, md []byte) {
		blocks, err := Blocks(md)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, b := range blocks {
			if b.Name == "" || seen[b.Name] || b.Line < 1 {
				t.Fatalf("bad block %+v", b)
			}
			seen[b.Name] = true
		}
	})
}
