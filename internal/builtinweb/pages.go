package builtinweb

import (
	"net/http"
	"strconv"

	"github.com/aegirhq/aegir/internal/domain"
)

// The server's own pages are constant: nothing from the request is echoed,
// so a crafted Host or path cannot inject markup.
type page struct{ title, body string }

var (
	pageUnknownHost = page{"Site not found", "No site is configured for this host name on this server."}
	pageDisabled    = page{"Site disabled", "This site is disabled. Please contact the site's owner."}
	pageNotFound    = page{"Not found", "The requested page does not exist."}
	pageForbidden   = page{"Forbidden", "You may not read this file."}
	pageBadRequest  = page{"Bad request", "The request path is not valid."}
	pageMethod      = page{"Method not allowed", "Static files answer GET and HEAD only."}
	pageBadGateway  = page{"Bad gateway", "The site's application server did not answer."}
	pageNoPHP       = page{"PHP not available", "PHP needs nginx+php-fpm or a FastCGI upstream: this site has no FastCGI upstream configured on the builtin web server."}
	pageInternal    = page{"Server error", "The server could not read the requested file."}
)

func (p page) html() string {
	return "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + p.title +
		"</title></head><body><h1>" + p.title + "</h1><p>" + p.body + "</p></body></html>\n"
}

// page writes one of the server's pages; 5xx are logged at error, the
// rest at debug.
func (s *Server) page(w http.ResponseWriter, r *http.Request, code int, p page) {
	// A disabled site's 503 is what its operator asked for, not a failure:
	// every visitor (and the router's health check) would log an error.
	if code >= 500 && p != pageDisabled {
		s.log.Error("request failed", "status", code, "host", domain.Clip(r.Host), "path", domain.Clip(r.URL.Path), "reason", p.title)
	} else {
		s.log.Debug("request refused", "status", code, "host", domain.Clip(r.Host), "path", domain.Clip(r.URL.Path), "reason", p.title)
	}
	body := p.html()
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(body))
	}
}
