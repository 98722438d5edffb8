package domain

import (
	"errors"
	"testing"
	"time"
)

func TestSiteTransitions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from, to SiteStatus
		ok       bool
	}{
		{SitePending, SiteEnabled, true},
		{SitePending, SiteFailed, true},
		{SiteEnabled, SiteDisabled, true},
		{SiteDisabled, SiteEnabled, true},
		{SiteEnabled, SiteDeleted, true},
		{SiteDeleted, SiteEnabled, false},
		{SiteDisabled, SitePending, false},
		{SiteEnabled, SiteEnabled, false},
		{SitePending, SiteDisabled, false},
	}
	for _, tt := range tests {
		s := &Site{Status: tt.from}
		err := s.Transition(tt.to)
		if (err == nil) != tt.ok {
			t.Errorf("%s → %s: %v, want ok=%v", tt.from, tt.to, err, tt.ok)
		}
		if err != nil {
			if !errors.Is(err, ErrIllegalTransition) {
				t.Errorf("%s → %s: %v does not wrap ErrIllegalTransition", tt.from, tt.to, err)
			}
			if s.Status != tt.from {
				t.Errorf("refused transition changed status to %s", s.Status)
			}
		}
	}
}

func TestTaskTransitionsStampTimes(t *testing.T) {
	t.Parallel()
	task, err := NewTask(TaskBackup, TargetSite, NewID(), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := task.Transition(TaskRunning, now); err != nil || task.StartedAt == nil {
		t.Fatalf("start: %v %v", err, task.StartedAt)
	}
	if err := task.Transition(TaskSucceeded, now); err != nil || task.FinishedAt == nil {
		t.Fatalf("finish: %v", err)
	}
	if err := task.Transition(TaskRunning, now); !errors.Is(err, ErrIllegalTransition) {
		t.Fatalf("a finished task restarted: %v", err)
	}
	if _, err := NewTask("rm -rf", TargetSite, NewID(), nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown task type accepted: %v", err)
	}
}

func TestSiteNormalize(t *testing.T) {
	t.Parallel()
	base := func() *Site {
		return &Site{Domain: "Example.com", Aliases: []string{"www.example.com", "alias.example.org"},
			PlatformID: NewID(), DBServerID: NewID(), ClientID: NewID()}
	}
	s := base()
	if err := s.Normalize(); err != nil {
		t.Fatal(err)
	}
	if s.Domain != "example.com" || s.Aliases[0] != "alias.example.org" {
		t.Fatalf("not normalised: %+v", s)
	}
	for name, mut := range map[string]func(*Site){
		"duplicate alias":   func(s *Site) { s.Aliases = []string{"a.example.com", "A.example.com"} },
		"alias is domain":   func(s *Site) { s.Aliases = []string{"example.com"} },
		"injected alias":    func(s *Site) { s.Aliases = []string{"a.com; include /etc/passwd;"} },
		"bad platform":      func(s *Site) { s.PlatformID = "../x" },
		"too many aliases":  func(s *Site) { s.Aliases = make([]string, MaxAliases+1) },
		"bad profile":       func(s *Site) { s.Profile = "x;y" },
		"traversal domain":  func(s *Site) { s.Domain = "../../x" },
		"unknown status":    func(s *Site) { s.Status = "weird" },
		"bad client id":     func(s *Site) { s.ClientID = "" },
		"bad db server id":  func(s *Site) { s.DBServerID = "x" },
		"empty alias entry": func(s *Site) { s.Aliases = []string{""} },
	} {
		s := base()
		mut(s)
		if err := s.Normalize(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
