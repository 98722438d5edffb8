package logbus

import (
	"strconv"
	"testing"

	"github.com/aegirhq/aegir/internal/testharness"
)

func TestParseLineKeepsFields(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, msg, level string }{
		{`{"time":"2026-11-25T10:00:00Z","level":"INFO","msg":"throwaway database user leased","task":"06h1","type":"backup","target":"a.example","user":"t-06h1-abc","lease":"database/creds/x"}`,
			"throwaway database user leased lease=database/creds/x user=t-06h1-abc", "info"},
		{`{"level":"WARN","msg":"leasing failed","err":"permission denied: policy"}`, `leasing failed err="permission denied: policy"`, "warn"},
		{`{"level":"error","msg":"task failed","code":"db_unreachable","attempt":2,"ok":false}`, "task failed attempt=2 code=db_unreachable ok=false", "error"},
		{`mysqldump: some plain output`, "mysqldump: some plain output", "info"},
		{`{"no":"msg"}`, `{"no":"msg"}`, "info"},
	}
	for _, tt := range tests {
		l := ParseLine([]byte(tt.in + "\n"))
		if l.Msg != tt.msg || l.Level != tt.level {
			t.Errorf("ParseLine(%s) = %q %s, want %q %s", tt.in, l.Msg, l.Level, tt.msg, tt.level)
		}
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range testharness.HostileInputs {
		f.Add([]byte(s))
		f.Add([]byte(`{"msg":` + strconv.Quote(s) + `}`))
	}
	f.Add([]byte(`{"msg":"x","a":"b c"}`))
	f.Add([]byte("plain"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l := ParseLine(b)
		if l.Level == "" || l.Time.IsZero() {
			t.Fatalf("ParseLine(%q) = %+v", b, l)
		}
	})
}
