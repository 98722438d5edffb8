package api

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/control"
	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/scheduler/queue"
)

// Queues is what the API needs of the periodic queues (scheduler/queue):
// the service layer's QueueRunner.
type Queues = control.QueueRunner

// siteStats is GET /sites/{id}/stats.
type siteStats struct {
	SiteID string         `json:"site_id"`
	Points []queue.Point  `json:"points"`
	Cron   []queue.Output `json:"cron"`
}

// fleetStats is GET /stats.
type fleetStats struct {
	Points []queue.Point `json:"points"`
}

func (s *Server) queueRoutes() []route {
	return []route{
		{"GET", "/queues", requireAdminList("queues", s.listQueues), operation{tag: "queues", summary: "The periodic queues (cron, backup, stats): settings, last and next pass, backlog, failing sites (admin)", status: 200, resp: []queue.Status{}}},
		{"GET", "/queues/:id", RequireAdminEntity("queue", s.getQueue), operation{tag: "queues", summary: "One queue's overview (admin)", status: 200, resp: queue.Status{}}},
		{"PUT", "/queues/:id", RequireAdminEntity("queue", s.putQueue), operation{tag: "queues", summary: "Change a queue's settings (admin; check-and-set on version, 0 while it has its defaults)", body: queue.Settings{}, status: 200, resp: queue.Settings{}}},
		{"POST", "/queues/:id/run", requireQueueRunner(s.runQueue), operation{tag: "queues", summary: "Start one pass of a queue now: 202 with the running pass at once and its URL in Location; follow it there. " +
			"409 if a pass is running (Location then names that pass). The pass goes on if the client goes away (admin or queue token)", status: 202, resp: queue.PassReport{}, queueToken: true}},
		{"GET", "/queues/:id/passes", RequireAdminEntity("queue", s.listQueuePasses), operation{tag: "queues", summary: "A queue's last passes, newest first, with their progress or outcome (admin)", status: 200, resp: []queue.PassReport{}}},
		{"GET", "/queues/:id/passes/:pass", requireQueueRunner(s.GetQueuePass), operation{tag: "queues", summary: "One pass: state (running, done, failed, interrupted, lost), progress (done of due; succeeded, failed, skipped), started and finished (admin or queue token)", status: 200, resp: queue.PassReport{}, queueToken: true}},
		{"GET", "/stats", requireAdminList("fleet stats", s.getFleetStats), operation{tag: "queues", summary: "Fleet totals over time (sums of every site's latest figures) (admin)", status: 200, resp: fleetStats{}}},
		{"GET", "/sites/:id/stats", s.getSiteStats, operation{tag: "sites", summary: "A site's figures over time (downsampled as they age) and its last cron outputs", status: 200, resp: siteStats{}}},
		{"GET", "/backups/:id", s.getBackup, operation{tag: "backups", summary: "Get a backup record", status: 200, resp: domain.Backup{}}},
		{"GET", "/backups/:id/download", s.DownloadBackup, operation{tag: "backups", summary: "Download a backup archive (.tar.zst), streamed", status: 200}},
		{"DELETE", "/backups/:id", s.deleteBackup, operation{tag: "backups", summary: "Queue a delete-backup task that removes the archive and then its record (delete-backup-of-deleted-site, on the server holding the archive, when the site is gone; when that server is gone too, the record is removed at once and the task answered is already succeeded, its summary saying so)", status: 202, resp: domain.Task{}}},
	}
}

func (s *Server) listQueues(c *fiber.Ctx) error {
	l, err := s.ctl.Queues.List(c.UserContext(), actor(c))
	if err != nil {
		return err
	}
	return c.JSON(l)
}

func (s *Server) getQueue(c *fiber.Ctx) error {
	st, err := s.ctl.Queues.Status(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	return c.JSON(st)
}

func (s *Server) putQueue(c *fiber.Ctx) error {
	if !s.ctl.Queues.Available() {
		return errUnavailable("the periodic queues")
	}
	name := idParam(c)
	if !queue.Known(name) {
		return domain.NotFound("queue", name)
	}
	var set queue.Settings
	if err := s.decode(c, &set); err != nil {
		return err
	}
	out, err := s.ctl.Queues.PutSettings(c.UserContext(), actor(c), name, set)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// requireQueueRunner lets admins and queue users (role queue: the
// Nomad queue jobs' token) through, and answers 404 to anyone else, as
// RequireAdminEntity does.
func requireQueueRunner(h fiber.Handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if u := CurrentUser(c); u == nil || (u.Role != domain.RoleAdmin && u.Role != domain.RoleQueue) {
			return domain.NotFound("queue", c.Params("id"))
		}
		return h(c)
	}
}

// passURL is where a pass is followed.
func passURL(name, id string) string {
	return Prefix + "/queues/" + url.PathEscape(name) + "/passes/" + url.PathEscape(id)
}

// runQueue starts a pass and answers at once; the pass runs in the
// queues' own background (queue.StartPass), not in this request, so a
// proxy's timeout or a client that hangs up neither stops it nor, on a
// retry, starts a second one (the retry gets 409 naming the running pass).
func (s *Server) runQueue(c *fiber.Ctx) error {
	name := strings.Clone(c.Params("id")) // Fiber reuses its buffer after the handler
	p, err := s.ctl.Queues.StartPass(c.UserContext(), actor(c), name)
	var running *queue.PassRunningError
	if errors.As(err, &running) && running.PassID != "" {
		c.Set(fiber.HeaderLocation, passURL(name, running.PassID))
	}
	if errors.Is(err, queue.ErrClosed) {
		return newAPIError(fiber.StatusServiceUnavailable, CodeUnavailable, "",
			"this aegir server is shutting down and starts no queue pass; start it again once aegir is back, or on another aegir server")
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderLocation, passURL(name, p.ID))
	return c.Status(fiber.StatusAccepted).JSON(p)
}

func (s *Server) listQueuePasses(c *fiber.Ctx) error {
	l, err := s.ctl.Queues.Passes(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	return c.JSON(l)
}

func (s *Server) GetQueuePass(c *fiber.Ctx) error {
	p, err := s.ctl.Queues.Pass(c.UserContext(), actor(c), idParam(c), c.Params("pass"))
	if err != nil {
		return err
	}
	return c.JSON(p)
}

func (s *Server) getFleetStats(c *fiber.Ctx) error {
	pts, err := s.ctl.Queues.FleetStats(c.UserContext(), actor(c))
	if err != nil {
		return err
	}
	return c.JSON(fleetStats{Points: pts})
}

func (s *Server) getSiteStats(c *fiber.Ctx) error {
	site, pts, outs, err := s.ctl.Queues.SiteStats(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	return c.JSON(siteStats{SiteID: site.ID, Points: pts, Cron: outs})
}

// backupParam returns the backup named by :id, as not found to a user
// who may not see its site.
func (s *Server) backupParam(c *fiber.Ctx) (*domain.Backup, error) {
	return s.ctl.Backups.Get(c.UserContext(), actor(c), idParam(c))
}

func (s *Server) getBackup(c *fiber.Ctx) error {
	b, err := s.backupParam(c)
	if err != nil {
		return err
	}
	return c.JSON(b)
}

// downloadBackup streams the archive when this process can read it (the
// embedded default, or a server that mounts the backup directory).
func (s *Server) DownloadBackup(c *fiber.Ctx) error {
	b, err := s.ctl.Backups.Open(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	f, err := os.Open(b.Path)
	if errors.Is(err, os.ErrNotExist) {
		return newAPIError(fiber.StatusNotFound, CodeNotFound, "",
			"the archive of backup %s is not on this aegir server; it was written on server %s: fetch it there", b.ID, b.ServerID)
	}
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return err
	}
	c.Set(fiber.HeaderContentType, "application/zstd")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+b.Domain+"-"+filepath.Base(b.Path)+`"`)
	c.Set("X-Checksum-Sha256", b.SHA256)
	c.Set(fiber.HeaderContentLength, strconv.FormatInt(fi.Size(), 10))
	return c.SendStream(f, int(fi.Size()))
}

func (s *Server) deleteBackup(c *fiber.Ctx) error {
	task, err := s.ctl.Backups.Delete(c.UserContext(), actor(c), idParam(c))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(task)
}
