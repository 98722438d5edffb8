package builtinweb

import "net/http"

func (s *Server) serveFastCGI(w http.ResponseWriter, r *http.Request, st *site, script, reqPath string) {
	s.page(w, r, http.StatusBadGateway, pageNoPHP)
}
