package routing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// probeResult is one health check of one instance.
type probeResult struct {
	node, nodeAddr, serviceID string
	status                    string // api.HealthPassing, HealthWarning or HealthCritical
	output                    string
}

func (p probeResult) key() string { return p.node + "/" + p.serviceID }

// probe requests CheckPath from addr:port with Host: host, following no
// redirect. Like Consul's HTTP checks: 2xx passing (3xx too: a site that
// redirects its front page answers), 429 warning, anything else critical.
func (r *Reconciler) probe(ctx context.Context, addr string, port int, host string) probeResult {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.CheckTimeout)
	defer cancel()
	url := "http://" + hostPort(addr, port) + r.cfg.CheckPath
	res := probeResult{status: api.HealthCritical}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		res.output = err.Error()
		return res
	}
	req.Host = host
	req.Header.Set("User-Agent", "aegir-routing-check")
	resp, err := r.health.Do(req)
	if err != nil {
		res.output = fmt.Sprintf("GET %s (Host %s): %v", url, host, errors.Unwrap(err))
		if errors.Unwrap(err) == nil {
			res.output = fmt.Sprintf("GET %s (Host %s): %v", url, host, err)
		}
		return res
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	res.output = fmt.Sprintf("GET %s (Host %s): %s", url, host, resp.Status)
	switch c := resp.StatusCode; {
	case c >= 200 && c < 400:
		res.status = api.HealthPassing
	case c == http.StatusTooManyRequests:
		res.status = api.HealthWarning
	}
	return res
}

// probeLoop checks every instance in the catalog once per CheckInterval
// and hands the results to Run.
func (r *Reconciler) probeLoop(ctx context.Context, out chan<- []probeResult) {
	t := time.NewTicker(r.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		entries := r.entries
		r.mu.Unlock()
		res := make([]probeResult, len(entries))
		parallel(ctx, r.cfg.Concurrency, len(entries), func(i int) {
			e := entries[i]
			host := e.Service.Meta["domain"]
			if _, err := hostName("domain", host); err != nil {
				res[i] = probeResult{status: api.HealthCritical, output: "the instance's domain meta is not a valid domain"}
			} else {
				res[i] = r.probe(ctx, e.Service.Address, e.Service.Port, host)
			}
			res[i].node, res[i].nodeAddr, res[i].serviceID = e.Node.Node, e.Node.Address, e.Service.ID
		})
		select {
		case <-ctx.Done():
			return
		case out <- res:
		}
	}
}

// applyProbes turns check results into check statuses and writes the ones
// that changed. A passing instance turns critical only after
// FailuresBeforeCritical failures in a row; any success passes at once.
func (r *Reconciler) applyProbes(ctx context.Context, results []probeResult) error {
	r.mu.Lock()
	current := make(map[string]string, len(r.entries))
	for _, e := range r.entries {
		current[e.Node.Node+"/"+e.Service.ID] = checkStatus(e)
	}
	r.mu.Unlock()
	seen := make(map[string]bool, len(results))
	var changed []probeResult
	for _, res := range results {
		k := res.key()
		cur, ok := current[k]
		if !ok {
			continue // deregistered meanwhile
		}
		seen[k] = true
		next := res.status
		if res.status == api.HealthCritical {
			r.fails[k]++
			if cur == api.HealthPassing && r.fails[k] < r.cfg.FailuresBeforeCritical {
				next = cur
			}
		} else {
			r.fails[k] = 0
		}
		if next != cur {
			res.status = next
			changed = append(changed, res)
		}
	}
	for k := range r.fails {
		if !seen[k] {
			delete(r.fails, k)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	var mu sync.Mutex
	var errs []error
	parallel(ctx, r.cfg.Concurrency, len(changed), func(i int) {
		c := changed[i]
		reg := &api.CatalogRegistration{
			Node: c.node, Address: c.nodeAddr, SkipNodeUpdate: true,
			Check: r.check(c.node, c.serviceID, c),
		}
		if _, err := r.cfg.Consul.Catalog().Register(reg, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
			mu.Lock()
			errs = append(errs, r.consulErr(fmt.Sprintf("update check of %s on %s", c.serviceID, c.node), err))
			mu.Unlock()
			return
		}
		r.log.Info("site health changed", "service_id", c.serviceID, "node", c.node, "status", c.status, "output", c.output)
	})
	if err := r.refreshEntries(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
