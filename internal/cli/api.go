package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// maxResponse bounds a JSON response the CLI will read (a page of 1000
// sites is well under it).
const maxResponse = 64 << 20

// requestTimeout bounds one plain (non-streaming) request.
const requestTimeout = 60 * time.Second

// APIError is an error answer of the API: {"error": {"code", "message",
// "field"}} with its HTTP status.
type APIError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	if e.Field != "" && !strings.Contains(msg, e.Field) {
		msg = e.Field + ": " + msg
	}
	return fmt.Sprintf("%s (%s)", msg, e.Code)
}

// api is a client of /api/v1.
type api struct {
	base  string // e.g. http://127.0.0.1:8480/api/v1
	addr  string // as the user gave it, for messages
	token string
	hc    *http.Client
}

// client returns the API client, built from AEGIR_ADDR and AEGIR_TOKEN on
// first use so that usage errors are reported before a missing token.
func (a *app) client() (*api, error) {
	if a.api != nil {
		return a.api, nil
	}
	addr := strings.TrimSpace(a.env("AEGIR_ADDR"))
	if addr == "" {
		addr = DefaultAddr
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, usagef("AEGIR_ADDR=%q is not an address like %s", addr, DefaultAddr)
	}
	base := strings.TrimSuffix(strings.TrimSuffix(u.String(), "/"), "/api/v1")
	token := strings.TrimSpace(a.env("AEGIR_TOKEN"))
	if token == "" {
		return nil, &connError{msg: noTokenMessage(a.env("AEGIR_DATA_DIR"))}
	}
	hc := a.httpClient
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: requestTimeout,
			MaxIdleConnsPerHost:   4,
		}}
	}
	a.api = &api{base: base + "/api/v1", addr: base, token: token, hc: hc}
	return a.api, nil
}

// unauthorizedHint follows the API's 401: where a working token comes
// from when AEGIR_TOKEN's is unknown, revoked or expired.
const unauthorizedHint = "Check AEGIR_TOKEN. The admin's token is in <data-dir>/admin-token (export AEGIR_TOKEN=$(cat <data-dir>/admin-token));\n" +
	"an admin makes anyone a new one with 'aegir token create -user NAME', and a user with a dashboard password\n" +
	"makes their own on the dashboard's Tokens page."

func noTokenMessage(dataDir string) string {
	file := "<data-dir>/admin-token"
	where := " (<data-dir> is ./aegir-data for aegir dev, /var/lib/aegir for aegir server, or -data-dir / AEGIR_DATA_DIR; aegir prints the path when it starts)"
	if dataDir != "" {
		file = strings.TrimSuffix(dataDir, "/") + "/admin-token"
		where = ""
	}
	return "AEGIR_TOKEN is not set. The first start of aegir writes the admin's API token to " + file + where +
		". Export it with:\n" +
		"  export AEGIR_TOKEN=$(cat " + file + ")"
}

// path joins escaped path segments under the API base: path("sites", id,
// "tasks").
func (c *api) path(segs ...string) string {
	var b strings.Builder
	b.WriteString(c.base)
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// newRequest builds an authenticated request. body, when not nil, is sent as
// JSON.
func (c *api) newRequest(ctx context.Context, method, u string, q url.Values, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "aegir-cli")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// send performs req and maps transport failures to *connError.
func (c *api) send(req *http.Request) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return nil, ctxErr
		}
		return nil, &connError{msg: fmt.Sprintf("cannot reach the aegir API at %s: %v\n"+
			"Is aegir running (aegir dev, or aegir server)? Set AEGIR_ADDR to its address.", c.addr, unwrapURL(err))}
	}
	return resp, nil
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// do sends a request and returns the raw body of a 2xx answer; out, when
// not nil, receives it decoded. Other answers become *APIError.
func (c *api) do(parent context.Context, method, u string, q url.Values, body, out any) ([]byte, error) {
	ctx, cancel := context.WithTimeout(parent, requestTimeout)
	defer cancel()
	req, err := c.newRequest(ctx, method, u, q, body)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(req)
	if errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil {
		return nil, &connError{msg: fmt.Sprintf("the aegir API at %s did not answer %s %s within %s", c.addr, method, req.URL.Path, requestTimeout)}
	}
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, &connError{msg: fmt.Sprintf("reading the answer of %s %s: %v", method, req.URL.Path, err)}
	}
	if resp.StatusCode >= 300 {
		return nil, decodeError(resp.StatusCode, raw)
	}
	if out != nil && len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("the API answered %s %s with JSON this client does not understand: %w", method, req.URL.Path, err)
		}
	}
	return raw, nil
}

// decodeError turns an error answer into *APIError, also when it is not the
// API's JSON (a proxy's HTML page, say).
func decodeError(status int, raw []byte) *APIError {
	var env struct {
		Error *APIError `json:"error"`
	}
	if json.Unmarshal(raw, &env) == nil && env.Error != nil && env.Error.Code != "" {
		env.Error.Status = status
		return env.Error
	}
	msg := strings.TrimSpace(string(raw))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &APIError{Status: status, Code: fmt.Sprintf("http_%d", status), Message: sanitize(msg)}
}

func (c *api) get(ctx context.Context, u string, q url.Values, out any) ([]byte, error) {
	return c.do(ctx, http.MethodGet, u, q, nil, out)
}

func (c *api) post(ctx context.Context, u string, body, out any) ([]byte, error) {
	if body == nil {
		body = struct{}{}
	}
	return c.do(ctx, http.MethodPost, u, nil, body, out)
}

// page is the API's list envelope.
type page[T any] struct {
	Items  []T `json:"items"`
	Total  int `json:"total"`
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
}

// listAll reads every page of a collection (1000 items a request).
func listAll[T any](ctx context.Context, c *api, u string, q url.Values) ([]T, error) {
	var all []T
	q2 := url.Values{}
	for k, v := range q {
		q2[k] = v
	}
	for offset := 0; ; {
		q2.Set("limit", "1000")
		q2.Set("offset", fmt.Sprint(offset))
		var p page[T]
		if _, err := c.get(ctx, u, q2, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Items...)
		offset += len(p.Items)
		if len(p.Items) == 0 || offset >= p.Total {
			return all, nil
		}
	}
}

// notFound is the error for a name that matched nothing.
func notFound(kind, ref string) *APIError {
	return &APIError{Status: http.StatusNotFound, Code: "not_found",
		Message: fmt.Sprintf("no %s with id or name %q; see 'aegir %s list'", kind, ref, kind)}
}

// upload POSTs the file at path as the request's body (streamed, not read
// into memory) with query q and decodes a 2xx answer into out. It has no
// overall timeout: a large archive takes as long as it takes, and ctx (an
// interrupt) stops it.
func (c *api) upload(ctx context.Context, u string, q url.Values, path string, out any) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, f)
	if err != nil {
		return nil, err
	}
	req.ContentLength = fi.Size()
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "aegir-cli")
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, &connError{msg: fmt.Sprintf("reading the answer of POST %s: %v", req.URL.Path, err)}
	}
	if resp.StatusCode >= 300 {
		return nil, decodeError(resp.StatusCode, raw)
	}
	if out != nil && len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("the API answered POST %s with JSON this client does not understand: %w", req.URL.Path, err)
		}
	}
	return raw, nil
}
