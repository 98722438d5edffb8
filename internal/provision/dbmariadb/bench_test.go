package dbmariadb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/provision"
)

// benchDBMegabytes is the size of the benchmark database:
// AEGIR_BENCH_DB_MB, default 20 (the figure is 100).
func benchDBMegabytes() int {
	if n, err := strconv.Atoi(os.Getenv("AEGIR_BENCH_DB_MB")); err == nil && n > 0 {
		return n
	}
	return 20
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// BenchmarkDump measures the driver's dump throughput next to a plain
// `mariadb-dump` of the same database in the same run. MB/s is of dump
// output.
func BenchmarkDump(b *testing.B) {
	srv := testharnessMariaDB(b)
	d := newBenchDriver(b, srv)
	ctx := context.Background()
	c := d.Locate(provision.NameFor("bench000000000000000"))
	c.Password = "bench-password"
	if err := d.Create(ctx, c); err != nil {
		b.Fatal(err)
	}
	seed(b, d, c, benchDBMegabytes())

	var probe countWriter
	if err := d.Dump(ctx, c, &probe); err != nil {
		b.Fatal(err)
	}
	b.Logf("database %d MB, dump %.1f MB", benchDBMegabytes(), float64(probe.n)/1e6)

	b.Run("driver", func(b *testing.B) {
		b.SetBytes(probe.n)
		for b.Loop() {
			var w countWriter
			if err := d.Dump(ctx, c, &w); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline-mariadb-dump", func(b *testing.B) {
		bin, err := exec.LookPath("mariadb-dump")
		if err != nil {
			b.Skip(err)
		}
		b.SetBytes(probe.n)
		for b.Loop() {
			cmd := exec.Command(bin, "--no-defaults", "--protocol=TCP", "--host="+d.cfg.Host,
				"--port="+strconv.Itoa(d.cfg.Port), "--user="+d.cfg.AdminUser, "--single-transaction", c.Name)
			cmd.Env = append(os.Environ(), "MYSQL_PWD="+d.cfg.AdminPassword)
			var stderr strings.Builder
			cmd.Stdout, cmd.Stderr = io.Discard, &stderr
			if err := cmd.Run(); err != nil {
				b.Fatalf("%v: %s", err, stderr.String())
			}
		}
	})
}

// seed fills a table with about mb megabytes of incompressible rows.
func seed(b *testing.B, d *Driver, c provision.DBCreds, mb int) {
	b.Helper()
	ctx := context.Background()
	if _, err := d.db.ExecContext(ctx, "CREATE TABLE "+quoteIdent(c.Name)+".payload (id BIGINT AUTO_INCREMENT PRIMARY KEY, body TEXT)"); err != nil {
		b.Fatal(err)
	}
	const rowBytes, perStmt = 1000, 500
	rows := mb * 1000
	stmt := "INSERT INTO " + quoteIdent(c.Name) + ".payload (body) VALUES " + strings.TrimSuffix(strings.Repeat("(?),", perStmt), ",")
	buf := make([]byte, rowBytes/2)
	for done := 0; done < rows; done += perStmt {
		args := make([]any, perStmt)
		for i := range args {
			rand.Read(buf)
			args[i] = hex.EncodeToString(buf)
		}
		if _, err := d.db.ExecContext(ctx, stmt, args...); err != nil {
			b.Fatal(fmt.Errorf("seed: %w", err))
		}
	}
}
