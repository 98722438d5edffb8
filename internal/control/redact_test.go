package control

import (
	"context"
	"strings"
	"testing"

	"github.com/aegirhq/aegir/internal/domain"
)

func TestRedactor(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	srv := &domain.Server{Name: "db2", Address: "db2.internal.example"}
	if _, err := b.st.CreateServer(ctx, srv, []domain.Service{{Kind: domain.KindMariaDB, Port: 3306}}, "setup"); err != nil {
		t.Fatal(err)
	}
	if r, err := b.ctl.Tasks.Redactor(ctx, b.admin); err != nil || r != nil {
		t.Fatalf("an admin's redactor: %v, %v", r != nil, err)
	}
	r, err := b.ctl.Tasks.Redactor(ctx, b.alice)
	if err != nil || r == nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"The site directory /srv/platforms/p1/sites/a.example.com is missing":         "The site directory (path hidden) is missing",
		"backup written path=/var/lib/aegir/backups/a.example.com/x.tar.zst bytes=18": "backup written path=(path hidden) bytes=18",
		`config_dir="/etc/nginx/conf.d" refused`:                                      `config_dir="(path hidden)" refused`,
		"mariadb at 10.0.0.5:3306 did not answer":                                     "mariadb at (address hidden) did not answer",
		"mariadb at db2.internal.example did not answer.":                             "mariadb at (address hidden) did not answer.",
		"mariadb on 127.0.0.1 refused":                                                "mariadb on (address hidden) refused",
		"see https://example.com/docs and / and a.example.com":                        "see https://example.com/docs and / and a.example.com",
		"sub.db2.internal.example.org stays":                                          "sub.db2.internal.example.org stays",
	} {
		if got := r(in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
	// A task's explanation as a client user and as an admin sees it.
	task := b.installB
	task.Explanation = "The site directory /srv/platforms/p1/sites/b.example.com is missing on 127.0.0.1"
	if err := b.st.StartTask(ctx, task, "local:test", 0); err != nil {
		t.Fatal(err)
	}
	if err := b.st.FinishTask(ctx, task, domain.TaskFailed); err != nil {
		t.Fatal(err)
	}
	got, err := b.ctl.Tasks.Get(ctx, b.bob, task.ID)
	if err != nil || strings.Contains(got.Explanation, "/srv") || strings.Contains(got.Explanation, "127.0.0.1") {
		t.Fatalf("bob's task: %q, %v", got.Explanation, err)
	}
	page, _, err := b.ctl.Tasks.Of(ctx, b.bob, domain.TargetSite, b.siteB.ID, 10)
	if err != nil || len(page) == 0 || strings.Contains(page[0].Explanation, "/srv") {
		t.Fatalf("bob's site tasks: %+v, %v", page, err)
	}
	got, err = b.ctl.Tasks.Get(ctx, b.admin, task.ID)
	if err != nil || !strings.Contains(got.Explanation, "/srv/platforms/p1/sites/b.example.com") {
		t.Fatalf("the admin's task: %q, %v", got.Explanation, err)
	}
}
