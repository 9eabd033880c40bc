// Command server is the program every PeerGroup pod runs: it answers
// GET /ping and pings its peers, logging every pong.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/simulated-peering/simulated-peering/server/internal/app"
	"github.com/simulated-peering/simulated-peering/server/internal/config"
)

func main() {
	for _, arg := range os.Args[1:] {
		if arg == "-h" || arg == "--help" || arg == "-help" {
			config.PrintHelp(os.Stdout)
			return
		}
		fmt.Fprintf(os.Stderr, "server: unexpected argument %q: configure through the environment (see --help)\n", arg)
		os.Exit(2)
	}
	hostname, _ := os.Hostname()
	cfg, err := config.Load(os.Environ(), hostname)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server: "+err.Error())
		os.Exit(2)
	}
	log := newLogger(cfg)
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		log.Error("cannot listen", "port", cfg.Port, "error", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := app.Run(ctx, cfg, ln, log); err != nil {
		log.Error("server failed", "error", err)
		os.Exit(1)
	}
}

func newLogger(cfg config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stdout, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stdout, opts))
}
