// Command igot-ferretdb runs a local MongoDB-compatible server for iGot
// development and tests.
//
// It embeds FerretDB (Apache-2.0) with its SQLite backend, so no separate
// database server is needed: all data lives in SQLite files inside the
// directory given with -data.
//
// Usage:
//
//	igot-ferretdb [-listen 127.0.0.1:27017] [-data ./data/ferretdb] [-log-level info]
//
// The server stops cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to serve the MongoDB wire protocol on")
	dataDir := flag.String("data", filepath.Join("data", "ferretdb"), "directory for the SQLite database files (created if missing)")
	logLevel := flag.String("log-level", "info", "log level: debug, info, warn or error")
	flag.Parse()

	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "unexpected arguments: %s\n", strings.Join(flag.Args(), " "))
		flag.Usage()
		os.Exit(2)
	}

	level, err := parseLevel(*logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)

	if err := run(logger, *listen, *dataDir); err != nil {
		logger.Error("igot-ferretdb failed", "error", err)
		os.Exit(1)
	}
}

// run starts the server and blocks until a termination signal arrives.
func run(logger *slog.Logger, listen, dataDir string) error {
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return fmt.Errorf("invalid -listen address %q: %w", listen, err)
	}

	sqliteURL, absDir, err := sqliteDirURL(dataDir)
	if err != nil {
		return err
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		return fmt.Errorf("cannot start FerretDB: %w", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// MongoDBURI waits until the listener is bound. This line is printed at
	// any log level so that the log always shows when the server was ready.
	fmt.Fprintf(os.Stderr, "igot-ferretdb: serving %s (data: %s)\n", f.MongoDBURI(), absDir)

	select {
	case err := <-done:
		// Run returned without a signal: the listener failed.
		if err == nil {
			err = errors.New("server stopped unexpectedly")
		}
		return err
	case <-ctx.Done():
	}

	logger.Info("shutting down")
	stop() // a second signal now terminates the process immediately

	select {
	case err := <-done:
		if err != nil {
			return err
		}
	case <-time.After(30 * time.Second):
		return errors.New("timed out waiting for connections to close")
	}

	logger.Info("stopped")
	return nil
}

// sqliteDirURL creates dir if needed and returns its absolute path and its
// "file:" URI in the form FerretDB expects (absolute, ending with a slash).
func sqliteDirURL(dir string) (uri, abs string, err error) {
	abs, err = filepath.Abs(dir)
	if err != nil {
		return "", "", fmt.Errorf("invalid -data directory %q: %w", dir, err)
	}

	if err = os.MkdirAll(abs, 0o755); err != nil {
		return "", "", fmt.Errorf("cannot create data directory: %w", err)
	}

	u := url.URL{Scheme: "file", Path: strings.TrimSuffix(filepath.ToSlash(abs), "/") + "/"}

	return u.String(), abs, nil
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	default:
		return 0, fmt.Errorf("invalid -log-level %q (want debug, info, warn or error)", s)
	}
}
