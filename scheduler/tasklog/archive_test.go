package tasklog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/store"
)

func TestLogArchiveRoundTrip(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	bus := logbus.NewMemory(nil)
	a := NewArchive(st, bus, testLogger(t))
	a.chunkSize = 1024 // many chunks, more than one transaction's worth
	rnd := rand.New(rand.NewPCG(1, 2))
	const n = 6000
	for i := range n {
		// Incompressible enough to need ~100 chunks.
		msg := fmt.Sprintf("line %d %x", i, rnd.Uint64())
		if _, err := bus.Append(ctx, "t1", logbus.Line{Level: "info", Msg: msg}); err != nil {
			t.Fatal(err)
		}
	}
	live, _, _ := bus.Read(ctx, "t1", "", n, 0)
	must(t, a.Archive(ctx, "t1"))
	if _, _, err := bus.Read(ctx, "t1", "", 0, 0); !errors.Is(err, logbus.ErrNoLog) {
		t.Fatalf("live log not deleted: %v", err)
	}
	pairs, _, err := st.KV().List(ctx, "logs/t1/")
	must(t, err)
	if len(pairs) < store.MaxTxnOps+2 || pairs[0].Key != "logs/t1/0000" || pairs[len(pairs)-1].Key != "logs/t1/index" {
		t.Fatalf("%d archive keys, first %s", len(pairs), pairs[0].Key)
	}

	// A fresh archive reader (no cache) on a bus that never saw the task.
	fresh := NewArchive(st, logbus.NewMemory(nil), nil)
	got, ok, err := fresh.Lines(ctx, "t1")
	must(t, err)
	if !ok || len(got) != n {
		t.Fatalf("archived %d lines (found %v), want %d", len(got), ok, n)
	}
	for i := range got {
		if got[i].ID != live[i].ID || got[i].Msg != live[i].Msg || !got[i].Time.Equal(live[i].Time) || got[i].Level != live[i].Level {
			t.Fatalf("line %d: %+v, want %+v", i, got[i], live[i])
		}
	}
	// Archiving again changes nothing.
	must(t, fresh.Archive(ctx, "t1"))
	again, _, _ := st.KV().List(ctx, "logs/t1/")
	if len(again) != len(pairs) || again[0].ModifyIndex != pairs[0].ModifyIndex {
		t.Error("second Archive rewrote the archive")
	}

	// TaskLogs pages through the archive by id, after the bus was cleared.
	logs := NewTaskLogs(st, logbus.NewMemory(nil), fresh)
	var paged []logbus.Line
	after := ""
	for {
		lines, done, err := logs.Read(ctx, "t1", after, 700, 0)
		must(t, err)
		paged = append(paged, lines...)
		if done {
			break
		}
		if len(lines) == 0 {
			t.Fatal("empty page before done")
		}
		after = lines[len(lines)-1].ID
	}
	if len(paged) != n || paged[n-1].ID != live[n-1].ID {
		t.Fatalf("paged %d lines, want %d", len(paged), n)
	}
}

func TestLogArchiveReplacesPartialArchive(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	bus := logbus.NewMemory(nil)
	a := NewArchive(st, bus, nil)
	// An archiver died after writing a chunk but before the index.
	_, err := st.KV().Txn(ctx, []store.Op{{Verb: store.OpCAS, Key: "logs/t2/0000", Value: []byte("junk")}})
	must(t, err)
	if _, ok, err := a.Lines(ctx, "t2"); ok || err != nil {
		t.Fatalf("partial archive read as complete: %v %v", ok, err)
	}
	_, _ = bus.Append(ctx, "t2", logbus.Line{Msg: "hello"})
	must(t, a.Archive(ctx, "t2"))
	got, ok, err := a.Lines(ctx, "t2")
	must(t, err)
	if !ok || len(got) != 1 || got[0].Msg != "hello" {
		t.Fatalf("archive after a partial one: %+v", got)
	}
	// A task that never logged gets an empty archive.
	must(t, a.Archive(ctx, "t3"))
	if got, ok, _ := a.Lines(ctx, "t3"); !ok || len(got) != 0 {
		t.Fatalf("empty archive: %v %v", got, ok)
	}
}

func TestLogArchiveDetectsCorruption(t *testing.T) {
	t.Parallel()
	st := newStore(t)
	ctx := context.Background()
	bus := logbus.NewMemory(nil)
	a := NewArchive(st, bus, nil)
	_, _ = bus.Append(ctx, "t4", logbus.Line{Msg: strings.Repeat("x", 100)})
	must(t, a.Archive(ctx, "t4"))
	p, err := st.KV().Get(ctx, "logs/t4/0000")
	must(t, err)
	p.Value[len(p.Value)-1] ^= 0xff
	_, err = st.KV().Txn(ctx, []store.Op{{Verb: store.OpCAS, Key: p.Key, Value: p.Value, Index: p.ModifyIndex}})
	must(t, err)
	fresh := NewArchive(st, bus, nil)
	if _, _, err := fresh.Lines(ctx, "t4"); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt archive: %v", err)
	}
}
