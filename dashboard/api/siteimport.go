package api

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/aegirhq/aegir/internal/apiv1"
	"github.com/aegirhq/aegir/internal/domain"
)

// ImportPath is the route of POST /sites/import under Prefix: the one API
// route whose body is streamed rather than read into memory.
const ImportPath = Prefix + "/sites/import"

// importSite makes a site from the backup archive in the request's body,
// streamed to disk (control.Sites.Import); the query says where it goes.
func (s *Server) importSite(c *fiber.Ctx) error {
	if err := RawBody(c); err != nil {
		return err
	}
	if err := s.ImportTooLarge(c); err != nil {
		return err
	}
	var req apiv1.SiteImport
	if err := c.QueryParser(&req); err != nil {
		return newAPIError(fiber.StatusBadRequest, CodeInvalid, "", "bad query: %v", err)
	}
	site, task, err := s.ctl.Sites.Import(c.UserContext(), actor(c), req, s.UploadBody(c))
	if err != nil {
		return err
	}
	return created(c, "site", site, task)
}

// UploadBody returns the request's body as a stream for a route that takes
// an upload (the streaming routes of StreamsBody): each read pushes the
// connection's read deadline ReadTimeout on, so an upload may take as long
// as it keeps moving.
func (s *Server) UploadBody(c *fiber.Ctx) io.Reader {
	req := &c.Context().Request
	if !req.IsBodyStream() {
		return bytes.NewReader(req.Body())
	}
	return &movingReader{r: req.BodyStream(), conn: c.Context().Conn(), idle: s.cfg.ReadTimeout}
}

// movingReader reads an upload, moving the connection's read deadline on
// before each read.
type movingReader struct {
	r    io.Reader
	conn net.Conn
	idle time.Duration
}

func (m *movingReader) Read(p []byte) (int, error) {
	if m.conn != nil && m.idle > 0 {
		_ = m.conn.SetReadDeadline(time.Now().Add(m.idle))
	}
	return m.r.Read(p)
}

// boundBody reads the body of every request, but those of the streaming
// routes (StreamsBody), into memory: at most BodyLimit bytes, else 413.
// The server streams request bodies so that an upload is never held in
// memory; every other route gets its body whole, as before.
func (s *Server) boundBody(c *fiber.Ctx) error {
	req := &c.Context().Request
	if s.StreamsBody(c) {
		// A refusal (bad token, an archive over the limit) may leave the
		// rest of the upload unread.
		err := c.Next()
		if err != nil || c.Response().StatusCode() >= 300 {
			drainOrClose(c, uploadDrainMax)
		}
		return err
	}
	if !req.IsBodyStream() {
		return c.Next()
	}
	tooLarge := func() error {
		drainOrClose(c, 8*int64(s.cfg.BodyLimit))
		return newAPIError(fiber.StatusRequestEntityTooLarge, CodeTooLarge, "", "request body is larger than %d bytes", s.cfg.BodyLimit)
	}
	if req.Header.ContentLength() > s.cfg.BodyLimit {
		return tooLarge()
	}
	b, err := io.ReadAll(io.LimitReader(req.BodyStream(), int64(s.cfg.BodyLimit)+1))
	if err != nil {
		return newAPIError(fiber.StatusBadRequest, CodeInvalid, "", "cannot read the request body: %v", err)
	}
	if len(b) > s.cfg.BodyLimit {
		return tooLarge()
	}
	req.SetBodyRaw(b)
	return c.Next()
}

// StreamsBody reports whether the request is for a route that reads its
// body as a stream: POST ImportPath, and the paths other transports add
// with AddStreamingPath.
func (s *Server) StreamsBody(c *fiber.Ctx) bool {
	if c.Method() != fiber.MethodPost {
		return false
	}
	p := c.Path()
	if p == ImportPath {
		return true
	}
	for _, sp := range s.streaming {
		if p == sp {
			return true
		}
	}
	return false
}

// AddStreamingPath makes POST requests to path (outside Prefix: a form of
// the HTML dashboard) read their body as a stream (UploadBody). Call it
// from Config.Mount.
func (s *Server) AddStreamingPath(path string) { s.streaming = append(s.streaming, path) }

// ImportTooLarge refuses, before any of it is read, an upload whose
// declared length is over the import limit.
func (s *Server) ImportTooLarge(c *fiber.Ctx) error {
	if n := int64(c.Request().Header.ContentLength()); n > s.ctl.Sites.ImportLimit() {
		return fmt.Errorf("the archive is %d bytes, more than the %d an import may be (max_import_mb): %w", n, s.ctl.Sites.ImportLimit(), domain.ErrTooLarge)
	}
	return nil
}

// RawBody refuses an upload that is not sent as the file itself
// (Content-Type application/octet-stream), with 415: nothing may parse an
// upload as a form, which would read a multipart body whole, past every
// limit. A route that takes an upload calls it before anything that could
// read a form value.
func RawBody(c *fiber.Ctx) error {
	if ct := c.Get(fiber.HeaderContentType); !strings.HasPrefix(ct, "application/octet-stream") {
		return newAPIError(fiber.StatusUnsupportedMediaType, CodeInvalid, "",
			"send the archive itself as the body, with Content-Type application/octet-stream (not %q)", ct)
	}
	return nil
}

// uploadDrainMax is how much of a refused upload's unread rest is read and
// discarded so that its client gets the answer (see drainOrClose).
const uploadDrainMax = 64 << 20

// drainOrClose reads and discards the unread rest of a refused request's
// streamed body, up to max bytes, so that the client, still sending, reads
// the answer instead of a connection reset, and the connection can carry
// the next request. A longer rest closes the connection after the answer.
func drainOrClose(c *fiber.Ctx, max int64) {
	req := &c.Context().Request
	if !req.IsBodyStream() {
		return
	}
	n, err := io.Copy(io.Discard, io.LimitReader(req.BodyStream(), max+1))
	if err != nil || n > max {
		c.Context().SetConnectionClose()
	}
}
