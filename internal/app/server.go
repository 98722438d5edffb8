package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/aegirhq/aegir/internal/config"
)

// runServer is "aegir server": the production API and dispatcher, on the
// Consul store by default.
func runServer(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("aegir server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config.Flags(fs)
	cfgFile := fs.String("config", "", "HCL config file (see README: Configuration)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg, err := config.Load(config.ModeServer, *cfgFile, os.Getenv, fs)
	if err != nil {
		fmt.Fprintln(stderr, "aegir server:", err)
		return 2
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		fmt.Fprintln(stderr, "aegir server:", err)
		return 2
	}
	n, err := openNode(cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "aegir server:", err)
		return 1
	}
	tokenFile, err := bootstrapAdmin(ctx, n)
	if err != nil {
		fmt.Fprintln(stderr, "aegir server:", err)
		n.close()
		return 1
	}
	n.listening = func() {
		log.Info("aegir server is running", "api", "http://"+cfg.HTTPAddr, "store", cfg.Store.Backend, "executor", cfg.Executor.Kind, "admin_token_file", tokenFile)
	}
	if err := n.start(ctx); err != nil {
		fmt.Fprintln(stderr, "aegir server:", err)
		return 1
	}
	return 0
}
