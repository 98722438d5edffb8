package lifecycle

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// A runbook is a Markdown page whose runnable commands are fenced blocks
// with the info string "sh runnable:NAME":
//
//	```sh runnable:export
//	aegir admin export -o aegir.export
//	```
//
// Other blocks (```sh, ```hcl, ...) are shown, never run: steps a test
// cannot take, such as systemctl on a machine without systemd. A test
// runs the named blocks in the order the runbook tells, doing what the
// operator would between them (losing a Consul, starting a server).

// Block is one runnable block of a runbook.
type Block struct {
	// Name is what follows "runnable:".
	Name string
	// Line is the line of the opening fence, from 1.
	Line int
	// Script is the block's text.
	Script string
}

// runnableInfo is the start of a runnable block's info string.
const runnableInfo = "sh runnable:"

// Blocks returns md's runnable blocks in order. It fails on a runnable
// block without a name, a name used twice, or a block left open.
func Blocks(md []byte) ([]Block, error) {
	var out []Block
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(md))
	sc.Buffer(make([]byte, 0, 64*1024), len(md)+1)
	var cur *Block
	var body strings.Builder
	fence := ""
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if fence == "" {
			if !strings.HasPrefix(trimmed, "```") && !strings.HasPrefix(trimmed, "~~~") {
				continue
			}
			fence = trimmed[:3]
			info := strings.TrimSpace(trimmed[3:])
			if name, ok := strings.CutPrefix(info, runnableInfo); ok {
				if name == "" || strings.ContainsAny(name, " \t`") {
					return nil, fmt.Errorf("line %d: a runnable block needs a name without spaces: %q", n, info)
				}
				if seen[name] {
					return nil, fmt.Errorf("line %d: runnable block %q twice", n, name)
				}
				seen[name] = true
				cur = &Block{Name: name, Line: n}
				body.Reset()
			}
			continue
		}
		if strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]) == "" {
			if cur != nil {
				cur.Script = body.String()
				out = append(out, *cur)
				cur = nil
			}
			fence = ""
			continue
		}
		if cur != nil {
			body.WriteString(line)
			body.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if fence != "" {
		return nil, fmt.Errorf("a fenced block is never closed")
	}
	return out, nil
}

// Runbook reads the runbook at path and returns its runnable blocks by
// name.
func Runbook(path string) (map[string]Block, error) {
	md, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blocks, err := Blocks(md)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make(map[string]Block, len(blocks))
	for _, b := range blocks {
		out[b.Name] = b
	}
	return out, nil
}

// Command returns the block as a bash command that stops at the first
// failing command (set -euo pipefail), as an operator pasting it would
// want to.
func (b Block) Command(ctx context.Context) *exec.Cmd {
	return exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", b.Script)
}
