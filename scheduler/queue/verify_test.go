package queue

import (
	"os"
	"testing"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

func TestSampleSize(t *testing.T) {
	t.Parallel()
	s := Defaults(VerifyBackup)
	for _, tc := range []struct{ eligible, want int }{
		{0, 0}, {1, 1}, {50, 1}, {100, 1}, {101, 2}, {10000, 100},
	} {
		if got := SampleSize(tc.eligible, s); got != tc.want {
			t.Errorf("SampleSize(%d) = %d, want %d", tc.eligible, got, tc.want)
		}
	}
	// The plan takes the smaller of the frequency's share and the sample.
	sites := make([]SiteState, 1000)
	for i := range sites {
		sites[i] = SiteState{ID: domain.NewID(), Status: domain.SiteEnabled}
	}
	if p := PlanPass(sites, nil, t0, s); len(p.Due) != 10 || p.Backlog != 1000 {
		t.Fatalf("1,000 sites, 1%%: due %d backlog %d", len(p.Due), p.Backlog)
	}
	s.SamplePercent = 100
	if p := PlanPass(sites, nil, t0, s); len(p.Due) != 143 { // ceil(1000 × 1d / 7d)
		t.Fatalf("1,000 sites, 100%%: due %d", len(p.Due))
	}
}

func TestVerifyBackupSettings(t *testing.T) {
	t.Parallel()
	s := Defaults(VerifyBackup)
	if err := ValidateSettings(&s, VerifyBackup); err != nil || s.SamplePercent != 1 || s.Frequency.D() != 7*24*time.Hour {
		t.Fatalf("defaults %+v: %v", s, err)
	}
	s.SamplePercent = 101
	if err := ValidateSettings(&s, VerifyBackup); err == nil {
		t.Fatal("101% accepted")
	}
	c := Defaults(Cron)
	c.SamplePercent = 5
	if err := ValidateSettings(&c, Cron); err == nil {
		t.Fatal("a sample accepted on the cron queue")
	}
}

func TestNewestBackup(t *testing.T) {
	t.Parallel()
	bs := []domain.Backup{{ID: "a", CreatedAt: t0}, {ID: "c", CreatedAt: t0.Add(time.Hour)}, {ID: "b", CreatedAt: t0.Add(time.Hour)}}
	if got := newestBackup(bs); got != "c" {
		t.Fatalf("newest = %q", got)
	}
	if got := newestBackup(nil); got != "" {
		t.Fatalf("newest of none = %q", got)
	}
}

// TestVerifyBackupPasses: sites without a backup are not eligible; each
// pass verifies one site (1% of 3, at least one) by restoring its newest
// backup into a throwaway site on the real back end; a site whose archive
// was damaged fails its run and is backed off.
func TestVerifyBackupPasses(t *testing.T) {
	t.Parallel()
	b := setupPass(t, 3)
	ctx := t.Context()
	vs, err := b.q.Settings(ctx, VerifyBackup)
	must(t, err)
	vs.Interval = vs.Frequency
	_, err = b.q.PutSettings(ctx, VerifyBackup, vs)
	must(t, err)
	rep, err := b.q.RunPass(ctx, VerifyBackup)
	must(t, err)
	if rep.Eligible != 0 || rep.Due != 0 {
		t.Fatalf("pass before any backup: %+v", rep)
	}

	bs, err := b.q.Settings(ctx, Backup)
	must(t, err)
	bs.Interval = bs.Frequency
	_, err = b.q.PutSettings(ctx, Backup, bs)
	must(t, err)
	rep, err = b.q.RunPass(ctx, Backup)
	must(t, err)
	if rep.Succeeded != 3 {
		t.Fatalf("backup pass: %+v", rep)
	}
	// Damage the third site's archive.
	bad, err := b.st.ListBackups(ctx, b.sites[2].ID, nil)
	must(t, err)
	raw, err := os.ReadFile(bad[0].Path)
	must(t, err)
	raw[len(raw)/2] ^= 0xff
	must(t, os.WriteFile(bad[0].Path, raw, 0o600))

	for i := range 3 {
		rep, err := b.q.RunPass(ctx, VerifyBackup)
		must(t, err)
		if rep.Eligible != 3 || rep.Due != 1 || rep.Succeeded+rep.Failed != 1 {
			t.Fatalf("verify pass %d: %+v", i, rep)
		}
		b.clock.Add(time.Hour)
	}
	runs, err := b.q.Runs(ctx, VerifyBackup)
	must(t, err)
	for i, site := range b.sites {
		r, ok := runs[site.ID]
		if !ok {
			t.Fatalf("site %d never verified", i)
		}
		task, err := b.st.GetTask(ctx, r.TaskID)
		must(t, err)
		if task.Type != domain.TaskVerifyBackup {
			t.Fatalf("run task %+v", task)
		}
		if i < 2 && (!r.OK || task.Status != domain.TaskSucceeded) {
			t.Errorf("site %d: %+v %s %s", i, r, task.Status, task.Explanation)
		}
		if i == 2 && (r.OK || r.Failures != 1 || task.Status != domain.TaskFailed) {
			t.Errorf("damaged backup verified: %+v %s", r, task.Status)
		}
	}
	// Nothing of the throwaway sites is left on the platform.
	p, err := b.st.ListPlatforms(ctx)
	must(t, err)
	ents, err := os.ReadDir(p[0].Path + "/sites")
	must(t, err)
	if len(ents) != 3 {
		names := []string{}
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("sites dir holds %v", names)
	}
}
