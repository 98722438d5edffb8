package tasklog

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/aegirhq/aegir/internal/logbus"
	"github.com/aegirhq/aegir/internal/store"
)

// Archive keeps the full log of every finished task in the store, so
// reading it never needs the live bus (which may be Redis, flushed or
// restarted). A log is JSON lines, zstd-compressed, cut into chunks under
// the store's value and transaction limits, and stored with an index
// written last (chunk count, lines, sha256) through the store's log
// archive methods (internal/store/logs.go says where they live).
//
// A log without its index is an archive cut short (the process died while
// writing it); it is not read, and the next Archive of the task replaces
// it. Every record is created check-and-set, so two archivers of the same
// task can't interleave their chunks: the loser's transaction fails.
type Archive struct {
	st        *store.Store
	bus       logbus.Bus
	log       *slog.Logger
	chunkSize int

	mu    sync.Mutex
	cache map[string][]logbus.Line // decoded archives, which never change
	order []string
}

const (
	// archiveChunkSize keeps one chunk, base64-encoded in a Consul
	// transaction, well under the transaction size limit.
	archiveChunkSize = 256 * 1024
	// archiveMaxLog bounds a decoded log (100,000 lines of 16 KiB at most).
	archiveMaxLog = 2 << 30
	archiveCached = 16
)

var (
	zstdEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
	zstdDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderMaxMemory(archiveMaxLog))
)

type archiveIndex struct {
	Chunks   int       `json:"chunks"`
	Lines    int       `json:"lines"`
	Size     int       `json:"size"` // compressed bytes
	SHA256   string    `json:"sha256"`
	Encoding string    `json:"encoding"`
	Created  time.Time `json:"created"`
}

// NewArchive returns an archive writing to st and reading live logs
// from bus.
func NewArchive(st *store.Store, bus logbus.Bus, logger *slog.Logger) *Archive {
	logger = cmp.Or(logger, slog.Default())
	return &Archive{st: st, bus: bus, log: logger.With("component", "log-archive"),
		chunkSize: archiveChunkSize, cache: map[string][]logbus.Line{}}
}

// Archive ends the task's live log, stores all of it, and deletes it from
// the bus. A task with no live log gets an empty archive, so readers learn
// there is nothing more. Archiving an archived task only deletes its live
// log.
func (a *Archive) Archive(ctx context.Context, taskID string) error {
	if archived, err := a.st.HasLogIndex(ctx, taskID); err != nil {
		return err
	} else if archived {
		return a.bus.Delete(ctx, taskID)
	}
	if err := a.bus.End(ctx, taskID); err != nil {
		return fmt.Errorf("end live log: %w", err)
	}
	lines, err := a.readLive(ctx, taskID)
	if err != nil {
		return err
	}
	var raw bytes.Buffer
	enc := json.NewEncoder(&raw)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			return err
		}
	}
	data := zstdEncoder.EncodeAll(raw.Bytes(), nil)
	sum := sha256.Sum256(data)
	idx := archiveIndex{Lines: len(lines), Size: len(data), SHA256: hex.EncodeToString(sum[:]),
		Encoding: "zstd+jsonl", Created: time.Now().UTC()}
	if err := a.clearPartial(ctx, taskID); err != nil {
		return err
	}
	var chunks [][]byte
	for off := 0; off < len(data); off += a.chunkSize {
		chunks = append(chunks, data[off:min(off+a.chunkSize, len(data))])
	}
	idx.Chunks = len(chunks)
	b, _ := json.Marshal(idx)
	if err := a.st.PutLogArchive(ctx, taskID, chunks, b); err != nil {
		return err
	}
	a.log.Debug("task log archived", "task", taskID, "lines", idx.Lines, "bytes", idx.Size, "chunks", idx.Chunks)
	return a.bus.Delete(ctx, taskID)
}

// readLive reads the task's whole live log; none is an empty log.
func (a *Archive) readLive(ctx context.Context, taskID string) ([]logbus.Line, error) {
	var out []logbus.Line
	after := ""
	for {
		lines, done, err := a.bus.Read(ctx, taskID, after, 10000, 0)
		if errors.Is(err, logbus.ErrNoLog) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read live log of task %s: %w", taskID, err)
		}
		out = append(out, lines...)
		if done || len(lines) == 0 {
			return out, nil
		}
		after = lines[len(lines)-1].ID
	}
}

// Delete removes a task's archived log (task retention).
func (a *Archive) Delete(ctx context.Context, taskID string) error {
	a.mu.Lock()
	delete(a.cache, taskID)
	a.mu.Unlock()
	return a.clearPartial(ctx, taskID)
}

// clearPartial deletes chunks left by an archive cut short.
func (a *Archive) clearPartial(ctx context.Context, taskID string) error {
	if err := a.st.DeleteLogArchive(ctx, taskID); err != nil {
		return fmt.Errorf("clear a partial log archive of task %s: %w", taskID, err)
	}
	return nil
}

// Lines returns the archived log of a task, and false when it has none
// (not finished yet, or archived before this version of aegir).
func (a *Archive) Lines(ctx context.Context, taskID string) ([]logbus.Line, bool, error) {
	a.mu.Lock()
	lines, ok := a.cache[taskID]
	a.mu.Unlock()
	if ok {
		return lines, true, nil
	}
	recs, err := a.st.GetLogArchive(ctx, taskID)
	if err != nil {
		return nil, false, err
	}
	if recs.Index == nil {
		return nil, false, nil
	}
	var idx archiveIndex
	if err := json.Unmarshal(recs.Index, &idx); err != nil {
		return nil, false, fmt.Errorf("log archive index of task %s: %w", taskID, err)
	}
	var data []byte
	for n := range idx.Chunks {
		c, ok := recs.Chunks[n]
		if !ok {
			return nil, false, fmt.Errorf("log archive of task %s lacks chunk %d of %d", taskID, n, idx.Chunks)
		}
		data = append(data, c...)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != idx.SHA256 {
		return nil, false, fmt.Errorf("log archive of task %s is corrupt (checksum mismatch)", taskID)
	}
	raw, err := zstdDecoder.DecodeAll(data, nil)
	if err != nil {
		return nil, false, fmt.Errorf("decompress log archive of task %s: %w", taskID, err)
	}
	lines = make([]logbus.Line, 0, idx.Lines)
	dec := json.NewDecoder(bytes.NewReader(raw))
	for dec.More() {
		var l logbus.Line
		if err := dec.Decode(&l); err != nil {
			return nil, false, fmt.Errorf("decode log archive of task %s: %w", taskID, err)
		}
		lines = append(lines, l)
	}
	a.mu.Lock()
	if _, ok := a.cache[taskID]; !ok {
		a.cache[taskID] = lines
		a.order = append(a.order, taskID)
		if len(a.order) > archiveCached {
			delete(a.cache, a.order[0])
			a.order = a.order[1:]
		}
	}
	a.mu.Unlock()
	return lines, true, nil
}

// TaskLogs reads a task's log for the API: from the archive once the task
// has finished, from the live bus while it runs.
type TaskLogs struct {
	st      *store.Store
	bus     logbus.Bus
	archive *Archive
}

// NewTaskLogs returns a reader of task logs.
func NewTaskLogs(st *store.Store, bus logbus.Bus, archive *Archive) *TaskLogs {
	return &TaskLogs{st: st, bus: bus, archive: archive}
}

// Read returns up to max lines after afterID ("" or "0": from the start),
// waiting up to wait for a line of a running task. done is true when the
// task has finished and every line has been returned. A task that has not
// logged anything yet returns no lines and done false. An unknown task
// gives domain.ErrNotFound.
func (l *TaskLogs) Read(ctx context.Context, taskID, afterID string, max int, wait time.Duration) ([]logbus.Line, bool, error) {
	if max <= 0 {
		max = logbus.DefaultMaxReadLines
	}
	if lines, ok, err := l.archive.Lines(ctx, taskID); err != nil || ok {
		return pageAfter(lines, afterID, max), err == nil && lastPage(lines, afterID, max), err
	}
	lines, done, err := l.bus.Read(ctx, taskID, afterID, max, wait)
	if !errors.Is(err, logbus.ErrNoLog) {
		return lines, done, err
	}
	// Archived meanwhile, not started, or finished without a log.
	if lines, ok, err := l.archive.Lines(ctx, taskID); err != nil || ok {
		return pageAfter(lines, afterID, max), err == nil && lastPage(lines, afterID, max), err
	}
	task, err := l.st.GetTask(ctx, taskID)
	if err != nil {
		return nil, false, err
	}
	return nil, task.Status.Done(), nil
}

func pageAfter(lines []logbus.Line, afterID string, max int) []logbus.Line {
	i := firstAfter(lines, afterID)
	return lines[i:min(i+max, len(lines))]
}

func lastPage(lines []logbus.Line, afterID string, max int) bool {
	return firstAfter(lines, afterID)+max >= len(lines)
}

// firstAfter is the index of the first line after afterID.
func firstAfter(lines []logbus.Line, afterID string) int {
	lo, hi := 0, len(lines)
	for lo < hi {
		m := (lo + hi) / 2
		if logbus.Less(afterID, lines[m].ID) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
}
