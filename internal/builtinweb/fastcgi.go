package builtinweb

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aegirhq/aegir/internal/domain"
)

// A minimal FastCGI client (responder role, one request per connection),
// enough for php-fpm. Spec: https://fastcgi-archives.github.io/FastCGI_Specification.html

const (
	fcgiVersion      = 1
	fcgiBeginRequest = 1
	fcgiEndRequest   = 3
	fcgiParams       = 4
	fcgiStdin        = 5
	fcgiStdout       = 6
	fcgiStderr       = 7
	fcgiResponder    = 1
	fcgiRequestID    = 1
	fcgiMaxContent   = 65535
	fcgiChunk        = 65528 // multiple of 8: no padding needed
)

// serveFastCGI runs script (a docroot-relative path ending in .php) on the
// site's FastCGI upstream. The script must be a regular file inside the
// docroot; PHP under a sites/*/files/ directory (uploads) never runs.
func (s *Server) serveFastCGI(w http.ResponseWriter, r *http.Request, st *site, script, reqPath string) {
	if strings.HasPrefix(script, "/sites/") && strings.Contains(script, "/files/") {
		s.page(w, r, http.StatusForbidden, pageForbidden)
		return
	}
	f, fi, err := s.open(st, strings.TrimPrefix(script, "/"))
	if errors.Is(err, errDocroot) {
		s.page(w, r, http.StatusInternalServerError, pageInternal)
		return
	}
	if err != nil {
		s.fileError(w, r, err)
		return
	}
	f.Close()
	if fi.IsDir() {
		s.page(w, r, http.StatusNotFound, pageNotFound)
		return
	}

	network, addr, _ := parseFastCGI(st.FastCGI) // validated by readRoute
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.FastCGITimeout)
	defer cancel()
	conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
	if err != nil {
		s.log.Error("FastCGI upstream not reachable: is php-fpm running?", "site", st.Domain, "fastcgi", st.FastCGI, "err", err)
		s.page(w, r, http.StatusBadGateway, pageBadGateway)
		return
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	if err := writeFastCGIRequest(conn, fastCGIParams(r, st, script, reqPath), r.Body); err != nil {
		s.log.Error("send request to FastCGI upstream", "site", st.Domain, "fastcgi", st.FastCGI, "err", err)
		s.page(w, r, http.StatusBadGateway, pageBadGateway)
		return
	}
	out := &fcgiStdoutReader{r: bufio.NewReader(conn), stderr: func(b []byte) {
		s.log.Warn("php stderr", "site", st.Domain, "msg", domain.Clip(strings.TrimSpace(string(b))))
	}}
	br := bufio.NewReader(out)
	hdr, err := textproto.NewReader(br).ReadMIMEHeader()
	if err != nil {
		s.log.Error("bad response from FastCGI upstream", "site", st.Domain, "fastcgi", st.FastCGI, "err", err)
		s.page(w, r, http.StatusBadGateway, pageBadGateway)
		return
	}
	code := http.StatusOK
	if v := hdr.Get("Status"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(strings.TrimSpace(v), " ", 2)[0]))
		if err != nil || n < 100 || n > 999 {
			s.log.Error("bad Status from FastCGI upstream", "site", st.Domain, "status", domain.Clip(v))
			s.page(w, r, http.StatusBadGateway, pageBadGateway)
			return
		}
		code = n
		hdr.Del("Status")
	} else if hdr.Get("Location") != "" {
		code = http.StatusFound
	}
	for k, vs := range hdr {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(code)
	if r.Method == http.MethodHead {
		io.Copy(io.Discard, br)
		return
	}
	if _, err := io.Copy(w, br); err != nil {
		s.log.Warn("FastCGI response cut short", "site", st.Domain, "err", err)
	}
}

// fastCGIParams builds the CGI environment like nginx's fastcgi_params.
// The site's Env comes first so it cannot override the request's own
// values; request headers become HTTP_*, except Proxy (httpoxy) and names
// with characters other than letters, digits and '-' (so "X_Foo" cannot
// pose as "X-Foo").
func fastCGIParams(r *http.Request, st *site, script, reqPath string) [][2]string {
	p := make([][2]string, 0, 32+len(r.Header))
	for k, v := range st.Env {
		p = append(p, [2]string{k, v})
	}
	remoteAddr, remotePort, _ := net.SplitHostPort(r.RemoteAddr)
	serverAddr, serverPort := "", ""
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		serverAddr, serverPort, _ = net.SplitHostPort(la.String())
	}
	p = append(p,
		[2]string{"GATEWAY_INTERFACE", "CGI/1.1"},
		[2]string{"SERVER_SOFTWARE", "aegir-builtin"},
		[2]string{"SERVER_PROTOCOL", r.Proto},
		[2]string{"SERVER_NAME", st.Domain},
		[2]string{"SERVER_ADDR", serverAddr},
		[2]string{"SERVER_PORT", serverPort},
		[2]string{"REMOTE_ADDR", remoteAddr},
		[2]string{"REMOTE_PORT", remotePort},
		[2]string{"REQUEST_METHOD", r.Method},
		[2]string{"REQUEST_URI", r.URL.RequestURI()},
		[2]string{"QUERY_STRING", r.URL.RawQuery},
		[2]string{"DOCUMENT_ROOT", st.Docroot},
		[2]string{"DOCUMENT_URI", reqPath},
		[2]string{"SCRIPT_NAME", script},
		[2]string{"SCRIPT_FILENAME", filepath.Join(st.Docroot, filepath.FromSlash(path.Clean(script)))},
		[2]string{"REDIRECT_STATUS", "200"},
		[2]string{"CONTENT_TYPE", r.Header.Get("Content-Type")},
	)
	if r.ContentLength > 0 {
		p = append(p, [2]string{"CONTENT_LENGTH", strconv.FormatInt(r.ContentLength, 10)})
	} else {
		p = append(p, [2]string{"CONTENT_LENGTH", ""})
	}
	if r.TLS != nil {
		p = append(p, [2]string{"HTTPS", "on"}, [2]string{"REQUEST_SCHEME", "https"})
	} else {
		p = append(p, [2]string{"REQUEST_SCHEME", "http"})
	}
	p = append(p, [2]string{"HTTP_HOST", r.Host})
	for k, vs := range r.Header {
		if k == "Proxy" || k == "Content-Type" || k == "Content-Length" || !headerNameOK(k) {
			continue
		}
		p = append(p, [2]string{"HTTP_" + strings.ToUpper(strings.ReplaceAll(k, "-", "_")), strings.Join(vs, ", ")})
	}
	return p
}

func headerNameOK(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return k != ""
}

// writeFastCGIRequest sends BEGIN_REQUEST, the params and the body.
func writeFastCGIRequest(w io.Writer, params [][2]string, body io.Reader) error {
	bw := bufio.NewWriterSize(w, 16<<10)
	begin := []byte{0, fcgiResponder, 0, 0, 0, 0, 0, 0} // role, flags=0: close after
	if err := writeRecord(bw, fcgiBeginRequest, begin); err != nil {
		return err
	}
	// php-fpm parses each PARAMS record on its own: never split a pair.
	var buf, pair []byte
	for _, kv := range params {
		pair = appendLen(pair[:0], len(kv[0]))
		pair = appendLen(pair, len(kv[1]))
		pair = append(pair, kv[0]...)
		pair = append(pair, kv[1]...)
		if len(pair) > fcgiMaxContent {
			continue // a header value over 64 KiB is dropped
		}
		if len(buf)+len(pair) > fcgiMaxContent {
			if err := writeRecord(bw, fcgiParams, buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		buf = append(buf, pair...)
	}
	if len(buf) > 0 {
		if err := writeRecord(bw, fcgiParams, buf); err != nil {
			return err
		}
	}
	if err := writeRecord(bw, fcgiParams, nil); err != nil {
		return err
	}
	if body != nil {
		chunk := make([]byte, fcgiChunk)
		for {
			n, err := body.Read(chunk)
			if n > 0 {
				if werr := writeRecord(bw, fcgiStdin, chunk[:n]); werr != nil {
					return werr
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("read request body: %w", err)
			}
		}
	}
	if err := writeRecord(bw, fcgiStdin, nil); err != nil {
		return err
	}
	return bw.Flush()
}

func appendLen(b []byte, n int) []byte {
	if n < 128 {
		return append(b, byte(n))
	}
	return binary.BigEndian.AppendUint32(b, uint32(n)|1<<31)
}

func writeRecord(w io.Writer, typ byte, content []byte) error {
	pad := (8 - len(content)%8) % 8
	h := [8]byte{fcgiVersion, typ, 0, fcgiRequestID, byte(len(content) >> 8), byte(len(content)), byte(pad), 0}
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	if _, err := w.Write(content); err != nil {
		return err
	}
	var zero [8]byte
	_, err := w.Write(zero[:pad])
	return err
}

// fcgiStdoutReader yields the content of STDOUT records until END_REQUEST,
// handing STDERR content to stderr.
type fcgiStdoutReader struct {
	r      *bufio.Reader
	stderr func([]byte)
	left   int // unread content bytes of the current STDOUT record
	pad    int
	done   bool
}

func (f *fcgiStdoutReader) Read(p []byte) (int, error) {
	for f.left == 0 {
		if f.done {
			return 0, io.EOF
		}
		if f.pad > 0 {
			if _, err := f.r.Discard(f.pad); err != nil {
				return 0, err
			}
			f.pad = 0
		}
		var h [8]byte
		if _, err := io.ReadFull(f.r, h[:]); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if h[0] != fcgiVersion {
			return 0, fmt.Errorf("FastCGI record version %d", h[0])
		}
		n := int(h[4])<<8 | int(h[5])
		pad := int(h[6])
		switch h[1] {
		case fcgiStdout:
			f.left, f.pad = n, pad
		case fcgiStderr:
			b := make([]byte, n)
			if _, err := io.ReadFull(f.r, b); err != nil {
				return 0, err
			}
			if n > 0 {
				f.stderr(b)
			}
			f.pad = pad
		case fcgiEndRequest:
			if _, err := f.r.Discard(n + pad); err != nil {
				return 0, err
			}
			f.done = true
		default:
			if _, err := f.r.Discard(n + pad); err != nil {
				return 0, err
			}
		}
	}
	if len(p) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= n
	return n, err
}
