package testharness

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RedisServer is a running redis-server on 127.0.0.1 with persistence off.
type RedisServer struct {
	// Addr is host:port, e.g. "127.0.0.1:41234". With RedisOptions.TLS it
	// is the TLS port, and there is no plaintext one.
	Addr string
	// TLS holds the files a client needs when RedisOptions.TLS is set;
	// nil otherwise.
	TLS *RedisTLSFiles

	bin  string
	dir  string
	port int
	opts RedisOptions
	proc *process
}

// RedisOptions configures RedisWith. The zero value is what Redis starts.
type RedisOptions struct {
	// Password turns authentication on: requirepass for the default user,
	// or Username's password. It goes in a config file (mode 0600), never
	// on the command line. Default: none.
	Password string
	// Username, with Password, creates that ACL user with every command
	// and key, and switches the default user off. Default: none.
	Username string
	// TLS serves TLS only (port 0, tls-port Addr) with a throwaway CA and
	// certificates made for this server (RedisServer.TLS). Default: off.
	TLS bool
	// TLSRequireClientCert refuses clients without a certificate from
	// the CA (tls-auth-clients yes). Default: optional.
	TLSRequireClientCert bool
}

// RedisTLSFiles are the PEM files of a TLS RedisServer: the CA that
// signed its certificate (for "localhost" and 127.0.0.1), and a client
// certificate and key from the same CA.
type RedisTLSFiles struct {
	CAFile, CertFile, KeyFile string
}

// Redis starts redis-server on a free 127.0.0.1 port with no persistence
// (--save "" --appendonly no) and its working dir in a temp dir, waits until
// it answers PING, and stops it when the test ends.
//
// Skips the test when redis-server is missing, or fails it when CI=true;
// ops/install-deps.sh installs it.
func Redis(t testing.TB) *RedisServer {
	t.Helper()
	return RedisWith(t, RedisOptions{})
}

// RedisWith is Redis with authentication or TLS (see RedisOptions).
func RedisWith(t testing.TB, o RedisOptions) *RedisServer {
	t.Helper()
	bin := requireBinary(t, "redis-server")
	r := &RedisServer{bin: bin, dir: shortTempDir(t, "redis"), opts: o}
	if err := r.writeConfig(); err != nil {
		t.Fatalf("testharness: redis config: %v", err)
	}
	err := retryPorts(func() error {
		r.proc.stop()
		port, err := freePort()
		if err != nil {
			return err
		}
		r.port = port
		r.Addr = "127.0.0.1:" + strconv.Itoa(port)
		return r.start()
	})
	if err != nil {
		failStart(t, r.proc, err)
	}
	t.Cleanup(func() { r.proc.stop() })
	dumpOnFailure(t, "redis", filepath.Join(r.dir, "redis.log"))
	return r
}

func (r *RedisServer) start() error {
	var err error
	argv := []string{r.bin}
	if r.opts.Password != "" || r.opts.TLS {
		argv = append(argv, filepath.Join(r.dir, "redis.conf"))
	}
	port := []string{"--port", strconv.Itoa(r.port)}
	if r.opts.TLS {
		port = []string{"--port", "0", "--tls-port", strconv.Itoa(r.port)}
	}
	argv = append(argv, port...)
	r.proc, err = startProcess("redis-server", filepath.Join(r.dir, "redis.log"), append(argv,
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", r.dir,
		"--daemonize", "no",
		"--protected-mode", "no",
		"--unixsocket", "",
	), procOptions{Dir: r.dir})
	if err != nil {
		return err
	}
	return r.proc.waitReady(startTimeout, r.ping)
}

// writeConfig writes redis.conf with the password and TLS settings, and
// makes the certificates, when the options ask for them.
func (r *RedisServer) writeConfig() error {
	o := r.opts
	if o.Password == "" && !o.TLS {
		return nil
	}
	var conf strings.Builder
	if o.Password != "" {
		if o.Username != "" {
			fmt.Fprintf(&conf, "user %s on %s ~* &* +@all\nuser default off\n", o.Username, redisConfQuote(">"+o.Password))
		} else {
			fmt.Fprintf(&conf, "requirepass %s\n", redisConfQuote(o.Password))
		}
	}
	if o.TLS {
		files, serverCert, serverKey, err := makeRedisCerts(filepath.Join(r.dir, "tls"))
		if err != nil {
			return err
		}
		r.TLS = files
		auth := "optional"
		if o.TLSRequireClientCert {
			auth = "yes"
		}
		fmt.Fprintf(&conf, "tls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\ntls-auth-clients %s\n",
			redisConfQuote(serverCert), redisConfQuote(serverKey), redisConfQuote(files.CAFile), auth)
	}
	return os.WriteFile(filepath.Join(r.dir, "redis.conf"), []byte(conf.String()), 0o600)
}

// redisConfQuote quotes s for redis.conf (a double-quoted string).
func redisConfQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`).Replace(s) + `"`
}

// makeRedisCerts writes a throwaway CA, a server certificate for
// localhost and 127.0.0.1, and a client certificate, as PEM files in dir.
func makeRedisCerts(dir string) (_ *RedisTLSFiles, serverCert, serverKey string, _ error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", "", err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", "", err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "testharness redis CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, "", "", err
	}
	files := &RedisTLSFiles{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "client.pem"), KeyFile: filepath.Join(dir, "client-key.pem")}
	if err := writePEM(files.CAFile, "CERTIFICATE", caDER); err != nil {
		return nil, "", "", err
	}
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage, certPath, keyPath string) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.DNSNames, tmpl.IPAddresses = []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return err
		}
		if err := writePEM(certPath, "CERTIFICATE", der); err != nil {
			return err
		}
		return writePEM(keyPath, "PRIVATE KEY", kder)
	}
	serverCert, serverKey = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	if err := leaf(2, "localhost", x509.ExtKeyUsageServerAuth, serverCert, serverKey); err != nil {
		return nil, "", "", err
	}
	if err := leaf(3, "aegir test client", x509.ExtKeyUsageClientAuth, files.CertFile, files.KeyFile); err != nil {
		return nil, "", "", err
	}
	return files, serverCert, serverKey, nil
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// ping checks that the server answers, logging in and speaking TLS as
// its options say.
func (r *RedisServer) ping() error {
	if r.opts.Password == "" && !r.opts.TLS {
		return redisPing(r.Addr)
	}
	d := &net.Dialer{Timeout: 2 * time.Second}
	var c net.Conn
	var err error
	if r.TLS != nil {
		cfg, cerr := r.clientTLS()
		if cerr != nil {
			return cerr
		}
		c, err = tls.DialWithDialer(d, "tcp", r.Addr, cfg)
	} else {
		c, err = d.Dial("tcp", r.Addr)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	br := bufio.NewReader(c)
	if r.opts.Password != "" {
		args := []string{"AUTH", r.opts.Password}
		if r.opts.Username != "" {
			args = []string{"AUTH", r.opts.Username, r.opts.Password}
		}
		if err := redisCommand(c, br, "+OK", args...); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	return redisCommand(c, br, "+PONG", "PING")
}

// clientTLS is a TLS client configuration trusting the server's CA and
// presenting the client certificate.
func (r *RedisServer) clientTLS() (*tls.Config, error) {
	ca, err := os.ReadFile(r.TLS.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cert, err := tls.LoadX509KeyPair(r.TLS.CertFile, r.TLS.KeyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, ServerName: "localhost", MinVersion: tls.VersionTLS12}, nil
}

// redisCommand sends args as a RESP array and expects the line want.
func redisCommand(c net.Conn, br *bufio.Reader, want string, args ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return err
	}
	line, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	if got := strings.TrimSpace(line); got != want {
		return fmt.Errorf("answered %q", got)
	}
	return nil
}

// Stop stops the server (SIGTERM, then SIGKILL). Data is lost: there is no
// persistence.
func (r *RedisServer) Stop(t testing.TB) {
	t.Helper()
	r.proc.stop()
}

// Restart stops the server and starts it again on the same port, for tests
// of reconnects and lost state.
func (r *RedisServer) Restart(t testing.TB) {
	t.Helper()
	r.proc.stop()
	if err := r.start(); err != nil {
		failStart(t, r.proc, err)
	}
}

// redisPing sends an inline PING and expects +PONG.
func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}
