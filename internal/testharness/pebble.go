package testharness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// PebbleVersion is the Pebble (Let's Encrypt's test ACME server) that the
// main module pins as a Go tool dependency (go.mod's tool line).
const PebbleVersion = "2.10.3"

// PebbleConfig is what a test asks of Pebble.
type PebbleConfig struct {
	// HTTPPort is the port Pebble's validation authority connects to for
	// HTTP-01 challenges: the port of the web server under test.
	// Required.
	HTTPPort int
	// Hosts maps the names Pebble's DNS lookups resolve (to these IPv4
	// addresses); any other name does not exist (NXDOMAIN), so its
	// challenge cannot pass.
	Hosts map[string]string
	// Validity is how long the certificates Pebble issues are valid.
	// Default 90 days.
	Validity time.Duration
}

// PebbleServer is a running Pebble with its own DNS server.
type PebbleServer struct {
	// Directory is the ACME directory URL (HTTPS).
	Directory string
	// RootsFile is a PEM file of the CA that signed Pebble's own HTTPS
	// certificate: what an ACME client must trust to talk to it. Roots is
	// the same as a pool.
	RootsFile string
	Roots     *x509.CertPool
	// MgmtAddr is Pebble's management API (HTTPS, same CA): /roots/0 is
	// the root of the certificates it issues.
	MgmtAddr string
	Dir      string

	dns  *dnsServer
	proc *process
}

// Pebble starts Pebble on free 127.0.0.1 ports, with a TLS certificate
// made for the test, a DNS server answering cfg.Hosts, no random
// validation sleep (PEBBLE_VA_NOSLEEP) and no nonce rejections; every
// challenge is really validated (PEBBLE_VA_ALWAYS_VALID is never set).
// The binary is built from the module's tool dependency into the agent
// cache, keyed by version, on first use. Stopped when the test ends.
func Pebble(t testing.TB, cfg PebbleConfig) *PebbleServer {
	t.Helper()
	if cfg.HTTPPort == 0 {
		t.Fatal("testharness: Pebble needs the HTTP-01 port of the web server under test")
	}
	bin := pebbleBinary(t)
	dir := shortTempDir(t, "pebble")
	dns, err := startDNS(cfg.Hosts)
	if err != nil {
		t.Fatalf("testharness: pebble dns: %v", err)
	}
	t.Cleanup(dns.close)
	caPEM, certPEM, keyPEM, err := pebbleTLS()
	if err != nil {
		t.Fatalf("testharness: pebble certificates: %v", err)
	}
	p := &PebbleServer{Dir: dir, RootsFile: filepath.Join(dir, "ca.pem"), Roots: x509.NewCertPool(), dns: dns}
	p.Roots.AppendCertsFromPEM(caPEM)
	for name, b := range map[string][]byte{"ca.pem": caPEM, "cert.pem": certPEM, "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	validity := cfg.Validity
	if validity == 0 {
		validity = 90 * 24 * time.Hour
	}
	err = retryPorts(func() error {
		if p.proc != nil {
			p.proc.stop()
		}
		ports, err := freePorts(3)
		if err != nil {
			return err
		}
		listen := fmt.Sprintf("127.0.0.1:%d", ports[0])
		p.MgmtAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
		p.Directory = "https://" + listen + "/dir"
		conf := map[string]any{"pebble": map[string]any{
			"listenAddress":                  listen,
			"managementListenAddress":        p.MgmtAddr,
			"certificate":                    filepath.Join(dir, "cert.pem"),
			"privateKey":                     filepath.Join(dir, "key.pem"),
			"httpPort":                       cfg.HTTPPort,
			"tlsPort":                        ports[2], // TLS-ALPN-01 is not used
			"ocspResponderURL":               "",
			"externalAccountBindingRequired": false,
			"retryAfter":                     map[string]int{"authz": 1, "order": 1},
			"keyAlgorithm":                   "ecdsa",
			"profiles": map[string]any{"default": map[string]any{
				"description": "test", "validityPeriod": int64(validity / time.Second)}},
		}}
		b, _ := json.MarshalIndent(conf, "", "  ")
		cfgPath := filepath.Join(dir, "pebble.json")
		if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
			return err
		}
		p.proc, err = startProcess("pebble", filepath.Join(dir, "pebble.log"),
			[]string{bin, "-config", cfgPath, "-dnsserver", dns.addr},
			procOptions{Dir: dir, Env: []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"}})
		if err != nil {
			return err
		}
		return p.proc.waitReady(startTimeout, p.ready)
	})
	if err != nil {
		failStart(t, p.proc, err)
	}
	t.Cleanup(p.proc.stop)
	dumpOnFailure(t, "pebble", p.proc.logPath)
	return p
}

func (p *PebbleServer) client() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.Roots}}}
}

func (p *PebbleServer) ready() error {
	resp, err := p.client().Get(p.Directory)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pebble directory: %s", resp.Status)
	}
	return nil
}

// IssuerRoots returns a pool with the root Pebble signs certificates
// with, for clients that verify what it issued.
func (p *PebbleServer) IssuerRoots(t testing.TB) *x509.CertPool {
	t.Helper()
	resp, err := p.client().Get("https://" + p.MgmtAddr + "/roots/0")
	if err != nil {
		t.Fatalf("testharness: pebble root: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("testharness: pebble root is not PEM: %q", b)
	}
	return pool
}

// CertStatus returns what Pebble says of the certificate with the serial
// serialHex: "Valid", "Revoked", or "" when it does not know it.
func (p *PebbleServer) CertStatus(t testing.TB, serialHex string) string {
	t.Helper()
	resp, err := p.client().Get("https://" + p.MgmtAddr + "/cert-status-by-serial/" + serialHex)
	if err != nil {
		t.Fatalf("testharness: pebble cert status: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return ""
	}
	var st struct{ Status string }
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("testharness: pebble cert status: %v", err)
	}
	return st.Status
}

// LogTail returns the last n lines of Pebble's log.
func (p *PebbleServer) LogTail(n int) string { return p.proc.tail(n) }

var pebbleBuild sync.Mutex

// pebbleBinary returns the cached Pebble binary, building it first from
// the main module's tool dependency (go build, which needs the go command
// and the module cache or proxy).
func pebbleBinary(t testing.TB) string {
	t.Helper()
	pebbleBuild.Lock()
	defer pebbleBuild.Unlock()
	cache := agentCache()
	if cache == "" {
		missing(t, "pebble", fmt.Errorf("no agent cache dir: %w", ErrBinaryNotFound))
	}
	bin := filepath.Join(cache, "pebble-"+PebbleVersion, "pebble")
	if isExecutable(bin) {
		return bin
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		missing(t, "pebble", fmt.Errorf("the go command builds pebble: %w", ErrBinaryNotFound))
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatalf("testharness: %v", err)
	}
	tmp := bin + ".tmp-" + strconv.Itoa(os.Getpid())
	cmd := exec.Command(goBin, "build", "-o", tmp, "github.com/letsencrypt/pebble/v2/cmd/pebble")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		t.Fatalf("testharness: build pebble %s: %v\n%s", PebbleVersion, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatalf("testharness: %v", err)
	}
	return bin
}

// pebbleTLS makes a CA and a certificate for 127.0.0.1 and localhost
// signed by it: Pebble's own HTTPS identity.
func pebbleTLS() (caPEM, certPEM, keyPEM []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "testharness pebble CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, caKey.Public(), caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, key.Public(), caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), nil
}
