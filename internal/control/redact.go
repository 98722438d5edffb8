package control

import (
	"context"

	"github.com/aegirhq/aegir/internal/domain"
)

// A task's own words (its log lines, explanation, fix hint and summary)
// are written for the operator and name what only admins may see:
// directories on the servers ("The site directory /srv/... is missing",
// "backup written path=/var/lib/aegir/backups/..."), server addresses
// (a database server that did not answer at 10.0.0.5:3306) and service
// settings (their paths). A client user gets them through a redactor:
// every absolute path and every IPv4 address is replaced, and so is each
// server's address as stored where it stands alone (a host name the
// patterns cannot know). The patterns are domain.ClientRedactor's, which
// notifications to client users go through too.

// Redactor returns the function a task's text goes through before the
// actor sees it: nil for an admin (everything as written), otherwise one
// that hides paths and server addresses (see above).
func (s *Tasks) Redactor(ctx context.Context, a Actor) (func(string) string, error) {
	if a.Admin() {
		return nil, nil
	}
	servers, err := s.st.ListServers(ctx)
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, srv := range servers {
		if srv.Address != "" {
			addrs = append(addrs, srv.Address)
		}
	}
	return domain.ClientRedactor(addrs), nil
}

// redactTasks passes the text of tasks through the actor's redactor.
func (s *Tasks) redactTasks(ctx context.Context, a Actor, tasks []domain.Task) error {
	r, err := s.Redactor(ctx, a)
	if err != nil || r == nil {
		return err
	}
	for i := range tasks {
		redactTask(r, &tasks[i])
	}
	return nil
}

// redactOne passes one task's text through the actor's redactor.
func (s *Tasks) redactOne(ctx context.Context, a Actor, t *domain.Task) error {
	r, err := s.Redactor(ctx, a)
	if err != nil || r == nil {
		return err
	}
	redactTask(r, t)
	return nil
}

func redactTask(r func(string) string, t *domain.Task) {
	t.Explanation, t.FixHint, t.Summary = r(t.Explanation), r(t.FixHint), r(t.Summary)
}
