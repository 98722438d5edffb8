package control

import (
	"context"
	"testing"
)

// TestPlatformsShapedPerActor: a client user reads platforms without
// their paths; an admin reads them whole; the store keeps the path.
func TestPlatformsShapedPerActor(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		a        Actor
		wantPath string
	}{
		{"admin", b.admin, "/srv/platforms/p1"},
		{"client user", b.alice, ""},
	} {
		p, err := b.ctl.Platforms.Get(ctx, tc.a, b.platform.ID)
		if err != nil {
			t.Fatal(err)
		}
		all, err := b.ctl.Platforms.List(ctx, tc.a, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if p.Path != tc.wantPath || len(all) != 1 || all[0].Path != tc.wantPath {
			t.Errorf("%s: path %q, listed %+v; want %q", tc.name, p.Path, all, tc.wantPath)
		}
	}
	if p, err := b.st.GetPlatform(ctx, b.platform.ID); err != nil || p.Path != "/srv/platforms/p1" {
		t.Fatalf("stored platform: %+v, %v", p, err)
	}
}
