package builtinweb

import (
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// serveDocroot serves a file from the site's docroot, or hands PHP
// requests to the FastCGI upstream.
//
// Containment: the cleaned request path is opened through an os.Root on
// the docroot, which refuses any name or symlink that leads outside it
// (and absolute symlinks altogether). Directories are never listed: a
// directory answers its index.html (or index.php on PHP sites) or 404.
// Dot files are hidden except under /.well-known/. A .php file is never
// sent as a static file. The site's never-served files (WebSite.Deny, its
// settings) answer 404 by name, and by identity when reached through a
// link.
func (s *Server) serveDocroot(w http.ResponseWriter, r *http.Request, st *site) {
	if strings.IndexByte(r.URL.Path, 0) >= 0 {
		s.page(w, r, http.StatusBadRequest, pageBadRequest)
		return
	}
	p := path.Clean("/" + r.URL.Path)
	for seg := range strings.SplitSeq(p[1:], "/") {
		if strings.HasPrefix(seg, ".") && seg != ".well-known" {
			s.page(w, r, http.StatusNotFound, pageNotFound)
			return
		}
	}
	if denied(st, p) {
		s.page(w, r, http.StatusNotFound, pageNotFound)
		return
	}
	if strings.HasSuffix(p, ".php") {
		s.servePHP(w, r, st, p, p)
		return
	}
	name := p[1:]
	if name == "" {
		name = "."
	}
	f, fi, err := s.open(st, name)
	if errors.Is(err, errDocroot) {
		s.page(w, r, http.StatusInternalServerError, pageInternal)
		return
	}
	if err != nil {
		if st.PHP {
			// Front controller, like nginx's try_files $uri /index.php.
			s.servePHP(w, r, st, "/index.php", p)
			return
		}
		s.fileError(w, r, err)
		return
	}
	defer f.Close()
	if fi.IsDir() {
		if !strings.HasSuffix(r.URL.Path, "/") {
			loc := (&url.URL{Path: strings.TrimSuffix(p, "/") + "/"}).EscapedPath()
			if r.URL.RawQuery != "" {
				loc += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, loc, http.StatusMovedPermanently)
			return
		}
		f.Close()
		index := path.Join(name, "index.html")
		f, fi, err = s.open(st, index)
		if err != nil || fi.IsDir() {
			if err == nil {
				f.Close()
			}
			if st.PHP {
				s.servePHP(w, r, st, path.Join(p, "index.php"), p)
				return
			}
			s.page(w, r, http.StatusNotFound, pageNotFound)
			return
		}
		defer f.Close()
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.page(w, r, http.StatusMethodNotAllowed, pageMethod)
		return
	}
	if deniedFile(st, fi) { // the same file reached by another name (a link inside the docroot)
		s.page(w, r, http.StatusNotFound, pageNotFound)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
}

// denied reports whether the cleaned request path p names one of the
// site's never-served files (WebSite.Deny: its settings) in its docroot.
func denied(st *site, p string) bool {
	if len(st.Deny) == 0 {
		return false
	}
	return slices.Contains(st.Deny, filepath.Join(st.Docroot, filepath.FromSlash(p)))
}

// deniedFile reports whether fi, a file about to be sent, is one of the
// site's never-served files under any name.
func deniedFile(st *site, fi fs.FileInfo) bool {
	for _, d := range st.Deny {
		if di, err := os.Stat(d); err == nil && os.SameFile(fi, di) {
			return true
		}
	}
	return false
}

var errDocroot = errors.New("docroot cannot be opened")

// open opens name in the site's docroot through the root cache. When the
// cached root was closed meanwhile, or has no such name, it checks the
// docroot now and tries once more: a restore or migrate swaps a site's
// directory, and the cached root would otherwise answer 404 from the old
// one until its next check.
func (s *Server) open(st *site, name string) (*os.File, fs.FileInfo, error) {
	fresh := false
	for attempt := 0; ; attempt++ {
		root, err := s.roots.get(st.Docroot, fresh)
		if err != nil {
			s.log.Error("site docroot cannot be opened: run verify on the site", "site", st.Domain, "docroot", st.Docroot, "err", err)
			return nil, nil, errDocroot
		}
		f, fi, err := openRegularOrDir(root, name)
		if attempt == 0 && (errors.Is(err, os.ErrClosed) || errors.Is(err, fs.ErrNotExist)) {
			fresh = true
			continue
		}
		return f, fi, err
	}
}

// openRegularOrDir opens name under root and refuses anything but a
// regular file or a directory (devices, fifos, sockets).
func openRegularOrDir(root *os.Root, name string) (*os.File, fs.FileInfo, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() && !fi.IsDir() {
		f.Close()
		return nil, nil, fs.ErrNotExist
	}
	return f, fi, nil
}

// fileError answers 404 for a missing file or one outside the docroot, 403
// for one the server may not read.
func (s *Server) fileError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, fs.ErrPermission) {
		s.page(w, r, http.StatusForbidden, pageForbidden)
		return
	}
	s.page(w, r, http.StatusNotFound, pageNotFound)
}

// servePHP sends a PHP request to the site's FastCGI upstream: script is
// the docroot-relative script path, reqPath the cleaned request path.
func (s *Server) servePHP(w http.ResponseWriter, r *http.Request, st *site, script, reqPath string) {
	if !st.PHP {
		s.page(w, r, http.StatusNotFound, pageNotFound)
		return
	}
	if st.FastCGI == "" {
		s.page(w, r, http.StatusBadGateway, pageNoPHP)
		return
	}
	s.serveFastCGI(w, r, st, script, reqPath)
}
