package queue

import (
	"slices"
	"time"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
)

// The queues.
const (
	Cron   = "cron"
	Backup = "backup"
	Stats  = "stats"
	// VerifyBackup restores the newest backup of a sample of sites into a
	// throwaway site and checks it (verify.go).
	VerifyBackup = "verify-backup"
	// Certificates renews the certificates of sites with HTTPS that
	// expire within the renew window, or have none (certificates.go).
	Certificates = "certificates"
)

// Names lists the queues.
var Names = []string{Cron, Backup, Stats, VerifyBackup, Certificates}

// Known reports whether name is a queue.
func Known(name string) bool { return slices.Contains(Names, name) }

// The queues' settings are the API's (internal/apiv1): aliases, so the
// queue package and its callers keep their names.
type (
	// Duration is a time.Duration written as "1h30m" in JSON.
	Duration = apiv1.Duration
	// Settings configure one queue. Stored at queues/<name>/settings,
	// check-and-set on Version; ValidateSettings fills the defaults.
	Settings = apiv1.QueueSettings
	// Retention says which scheduled backups of a site are kept.
	Retention = apiv1.QueueRetention
)

// DefaultRetention is the backup queue's default retention.
var DefaultRetention = Retention{KeepLast: 3, Daily: 7, Weekly: 4, Monthly: 6}

// Defaults returns the default settings of a queue.
func Defaults(name string) Settings {
	s := Settings{Enabled: true, Timeout: Duration(5 * time.Minute)}
	switch name {
	case Cron:
		s.Frequency, s.Interval, s.Concurrency = Duration(time.Hour), Duration(5*time.Minute), 8
	case Backup:
		s.Frequency, s.Interval, s.Concurrency = Duration(24*time.Hour), Duration(time.Hour), 2
		s.Timeout = Duration(time.Hour)
		r := DefaultRetention
		s.Retention = &r
	case Stats:
		s.Frequency, s.Interval, s.Concurrency = Duration(6*time.Hour), Duration(30*time.Minute), 4
	case VerifyBackup:
		s.Frequency, s.Interval, s.Concurrency = Duration(7*24*time.Hour), Duration(24*time.Hour), 1
		s.Timeout, s.SamplePercent = Duration(time.Hour), DefaultSamplePercent
	case Certificates:
		s.Frequency, s.Interval, s.Concurrency = Duration(24*time.Hour), Duration(time.Hour), 2
	}
	s.MaxBackoff = 8 * s.Frequency
	return s
}

// ValidateSettings checks s for queue name and fills zero values from the
// defaults.
func ValidateSettings(s *Settings, name string) error {
	if !Known(name) {
		return domain.NotFound("queue", name)
	}
	def := Defaults(name)
	if s.Frequency == 0 {
		s.Frequency = def.Frequency
	}
	if s.Interval == 0 {
		s.Interval = def.Interval
	}
	if s.Concurrency == 0 {
		s.Concurrency = def.Concurrency
	}
	if s.Timeout == 0 {
		s.Timeout = def.Timeout
	}
	if s.MaxBackoff == 0 {
		s.MaxBackoff = 8 * s.Frequency
	}
	switch {
	case s.Frequency.D() < time.Minute || s.Frequency.D() > 366*24*time.Hour:
		return domain.Invalid("frequency", "must be between 1m and 366 days")
	case s.Interval.D() < 10*time.Second || s.Interval > s.Frequency:
		return domain.Invalid("interval", "must be at least 10s and at most the frequency (%s)", s.Frequency.D())
	case s.Concurrency < 1 || s.Concurrency > 256:
		return domain.Invalid("concurrency", "must be between 1 and 256")
	case s.Timeout.D() < time.Second || s.Timeout.D() > 24*time.Hour:
		return domain.Invalid("timeout", "must be between 1s and 24h")
	case s.MaxBackoff < s.Frequency || s.MaxBackoff.D() > 366*24*time.Hour:
		return domain.Invalid("max_backoff", "must be at least the frequency and at most 366 days")
	}
	if s.CronPath != "" {
		if name != Cron {
			return domain.Invalid("cron_path", "only the cron queue requests a path")
		}
		if !cronPathRE.MatchString(s.CronPath) {
			return domain.Invalid("cron_path", "give a path such as /cron.php?key=abc (letters, digits and -._~/?=&%%, at most 200)")
		}
	}
	if name == VerifyBackup {
		if s.SamplePercent == 0 {
			s.SamplePercent = def.SamplePercent
		}
		if s.SamplePercent < 1 || s.SamplePercent > 100 {
			return domain.Invalid("sample_percent", "must be between 1 and 100 (disable the queue to verify no backups)")
		}
	} else if s.SamplePercent != 0 {
		return domain.Invalid("sample_percent", "only the verify-backup queue takes a sample")
	}
	if name == Backup {
		if s.Retention == nil {
			r := DefaultRetention
			s.Retention = &r
		}
		r := s.Retention
		for _, f := range []struct {
			name string
			v    int
		}{{"keep_last", r.KeepLast}, {"daily", r.Daily}, {"weekly", r.Weekly}, {"monthly", r.Monthly}} {
			if f.v < 0 || f.v > 1000 {
				return domain.Invalid("retention."+f.name, "must be between 0 and 1000")
			}
		}
		if r.KeepLast < 1 {
			return domain.Invalid("retention.keep_last", "keep at least the newest backup")
		}
	} else if s.Retention != nil {
		return domain.Invalid("retention", "only the backup queue has a retention")
	}
	return nil
}
