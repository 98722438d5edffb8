package queue

import (
	"encoding/json"
	"testing"
	"time"
)

func TestSeriesDownsamplesAndStaysBounded(t *testing.T) {
	t.Parallel()
	var s Series
	// Every 10 minutes for two years.
	end := t0.Add(2 * 365 * 24 * time.Hour)
	n := 0
	for at := t0; at.Before(end); at = at.Add(10 * time.Minute) {
		n++
		s.Add(at, map[string]float64{"users": float64(n), "disk_bytes": 1000})
		if len(s.Points) > MaxPoints {
			t.Fatalf("%d points at %s", len(s.Points), at)
		}
	}
	v := s.View()
	last := v[len(v)-1]
	if last.Figures["users"] != float64(n) {
		t.Fatalf("latest users %v, want %d", last.Figures["users"], n)
	}
	if age := end.Sub(v[0].At); age > 367*24*time.Hour {
		t.Fatalf("oldest point is %s old", age)
	}
	b, _ := json.Marshal(&s)
	if len(b) > 16<<10 {
		t.Fatalf("series is %d bytes", len(b))
	}
	t.Logf("%d points, %d bytes", len(s.Points), len(b))
}

func TestSeriesClockJumps(t *testing.T) {
	t.Parallel()
	var s Series
	s.Add(t0, map[string]float64{"a": 1})
	s.Add(t0.Add(-3*time.Hour), map[string]float64{"a": 2}) // clock set back
	s.Add(t0.Add(2*time.Hour), map[string]float64{"b": 3})  // a new figure
	v := s.View()
	if len(v) != 3 || !v[0].At.Before(v[1].At) || !v[1].At.Before(v[2].At) {
		t.Fatalf("points out of order: %+v", v)
	}
	if _, ok := v[2].Figures["a"]; ok || v[2].Figures["b"] != 3 {
		t.Fatalf("last point %+v", v[2])
	}
}
