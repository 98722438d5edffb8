package app

import "testing"

// A newer server holds back from leading only for a live server of a
// lower schema, or of the same schema and a lower release number; dev
// builds are not compared by release.
func TestOlderPeer(t *testing.T) {
	for _, c := range []struct {
		peer, self string
		ps, ss     int
		older      bool
	}{
		{"1.0.0", "1.1.0", 1, 1, true},
		{"v1.0.9", "1.0.10", 1, 1, true},
		{"1.1.0-rc1", "1.1.0", 1, 1, true},
		{"1.1.0-rc1", "1.1.0-rc2", 1, 1, true},
		{"1.1.0", "1.1.0", 1, 1, false},
		{"1.1.0+abc", "1.1.0", 1, 1, false},
		{"1.2.0", "1.1.0", 1, 1, false},
		{"1.1.0", "1.1.0-rc1", 1, 1, false},
		{"dev", "1.1.0", 1, 1, false},
		{"1.0.0", "dev", 1, 1, false},
		{"dev", "dev", 1, 2, true},
		{"2.0.0", "1.0.0", 1, 2, true},
		{"1.0.0", "2.0.0", 2, 1, false},
		{"1.0", "1.1.0", 1, 1, false},
		{"1.-1.0", "1.1.0", 1, 1, false},
		{"1..0", "1.1.0", 1, 1, false},
	} {
		got := olderPeer(announcement{Release: c.peer, Schema: c.ps}, announcement{Release: c.self, Schema: c.ss})
		if got != c.older {
			t.Errorf("peer %s schema %d older than %s schema %d: %v, want %v", c.peer, c.ps, c.self, c.ss, got, c.older)
		}
	}
}
