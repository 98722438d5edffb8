package routing_test

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/aegirhq/aegir/internal/domain"
	"github.com/aegirhq/aegir/internal/store"
)

// benchSites is how many sites BenchmarkRouting moves through, from
// AEGIR_ROUTING_BENCH_SITES (default 10; the figure is for 50).
func benchSites(b *testing.B) int {
	n := 10
	if s := os.Getenv("AEGIR_ROUTING_BENCH_SITES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 1000 {
			b.Fatalf("AEGIR_ROUTING_BENCH_SITES=%q: want 1 to 1000", s)
		}
		n = v
	}
	return n
}

// BenchmarkRouting measures, through a real Consul and Traefik, the time
// from a site's install finishing (its status set to enabled in the store)
// to Traefik serving it, and from its disable to Traefik dropping it, for
// N sites enabled at once, as p50/p99. The baseline, measured in the same
// run, is Traefik's own floor: the time from registering N instances
// directly in the catalog (no aegir), one after another, to Traefik serving
// each, polled the same way.
//
//	AEGIR_ROUTING_BENCH_SITES=50 go test ./internal/routing -run '^$' -bench Routing -benchtime 1x
func BenchmarkRouting(b *testing.B) {
	n := benchSites(b)
	e := setup(b, envOpts{traefik: true})
	var serve, drop, base []time.Duration
	for i := 0; b.Loop(); i++ {
		// Baseline: a direct catalog registration of a site already on A.
		baseSite := e.install(e.a, fmt.Sprintf("base-%d.example.com", i), nil, false)
		eventuallyB(b, e, baseSite.Domain, "web-a")
		e.finish(e.siteTask(baseSite, domain.TaskDisable, nil), store.SetSiteStatus(baseSite.ID, domain.SiteDisabled))
		waitNotRouted(b, e, baseSite.Domain)
		port := e.a.ln.Addr().(*net.TCPAddr).Port
		raw := make([]string, n)
		for j := range n {
			raw[j] = fmt.Sprintf("raw-%d-%d.example.com", i, j)
			e.publish(e.a, &domain.Site{Domain: raw[j]}, false)
		}
		base = append(base, measure(b, e, n, func(j int) {
			id := fmt.Sprintf("raw-%d-%d", i, j)
			_, err := e.client.Catalog().Register(&api.CatalogRegistration{Node: "raw-node", Address: "127.0.0.1",
				Service: &api.AgentService{ID: id, Service: "raw", Address: "127.0.0.1", Port: port,
					Tags: []string{"traefik.enable=true", "traefik.http.routers." + id + ".rule=Host(`" + raw[j] + "`)",
						"traefik.http.routers." + id + ".service=" + id, "traefik.http.services." + id + ".loadbalancer.passhostheader=true"}}}, nil)
			if err != nil {
				b.Fatal(err)
			}
		}, func(j int) { eventuallyB(b, e, raw[j], "web-a") })...)

		// aegir: N sites installed at once.
		sites := make([]*domain.Site, n)
		tasks := make([]*domain.Task, n)
		for j := range n {
			sites[j] = &domain.Site{Domain: fmt.Sprintf("s%d-%d.example.com", i, j), PlatformID: e.b.platform.ID, DBServerID: e.b.server.ID, ClientID: e.owner.ID}
			t, err := e.store.CreateSite(e.ctx, sites[j], "bench")
			if err != nil {
				b.Fatal(err)
			}
			tasks[j] = t
			e.publish(e.b, sites[j], false)
		}
		serve = append(serve, measure(b, e, n, func(j int) {
			e.finish(tasks[j], store.SetSiteStatus(sites[j].ID, domain.SiteEnabled))
		}, func(j int) { eventuallyB(b, e, sites[j].Domain, "web-b") })...)
		drop = append(drop, measure(b, e, n, func(j int) {
			e.finish(e.siteTask(sites[j], domain.TaskDisable, nil), store.SetSiteStatus(sites[j].ID, domain.SiteDisabled))
		}, func(j int) { waitNotRouted(b, e, sites[j].Domain) })...)
	}
	report := func(name string, d []time.Duration) {
		slices.Sort(d)
		p50, p99 := d[len(d)/2], d[min(len(d)-1, len(d)*99/100)]
		b.ReportMetric(float64(p50.Milliseconds()), name+"-p50-ms")
		b.ReportMetric(float64(p99.Milliseconds()), name+"-p99-ms")
		b.Logf("%s over %d: p50 %s, p99 %s", name, len(d), p50.Round(time.Millisecond), p99.Round(time.Millisecond))
	}
	report("baseline-catalog-to-served", base)
	report("enabled-to-served", serve)
	report("disabled-to-dropped", drop)
}

// measure runs act(j) for every j one after another, each stamped, and
// waits concurrently for done(j); it returns each site's time from its act
// to its done.
func measure(b *testing.B, e *env, n int, act, done func(j int)) []time.Duration {
	out := make([]time.Duration, n)
	var wg sync.WaitGroup
	for j := range n {
		t0 := time.Now()
		act(j)
		wg.Add(1)
		go func() {
			defer wg.Done()
			done(j)
			out[j] = time.Since(t0)
		}()
	}
	wg.Wait()
	return out
}

// eventuallyB waits, polling every 20ms, until Traefik serves host from
// server; it fails the benchmark after routeLimit.
func eventuallyB(b *testing.B, e *env, host, server string) {
	poll(b, func() error { return e.served(host, server)() }, host+" served")
}

func waitNotRouted(b *testing.B, e *env, host string) {
	poll(b, e.notRouted(host), host+" dropped")
}

func poll(b *testing.B, fn func() error, what string) {
	deadline := time.Now().Add(routeLimit)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.Errorf("%s: not within %s: %v", what, routeLimit, err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
