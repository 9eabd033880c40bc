// Package config reads the server's settings from the environment.
package config

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v10"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

// Config is the server's whole configuration. The `help` tag feeds --help.
type Config struct {
	Port          int           `env:"PORT" envDefault:"8080" help:"port to serve /ping, /healthz, /readyz and /metrics on (1-65535)"`
	PodName       string        `env:"POD_NAME" help:"this server's name in pongs and logs (default: the hostname)"`
	PodIP         string        `env:"POD_IP" help:"this server's IP, so it never pings itself"`
	NodeName      string        `env:"NODE_NAME" help:"the node this server runs on, reported in /links"`
	Peers         string        `env:"PEERS" help:"static peers, host:port,host:port (standalone mode; excludes PEERS_URL)"`
	PeersURL      string        `env:"PEERS_URL" help:"the operator's peers endpoint, re-polled for changes (excludes PEERS)"`
	TokenFile     string        `env:"PEERS_TOKEN_FILE" help:"file holding the pod's projected ServiceAccount token, sent to PEERS_URL as a bearer token and re-read for every request"`
	OutageError   time.Duration `env:"PEERS_OUTAGE_ERROR_AFTER" envDefault:"2m" help:"how long PEERS_URL may be unreachable (refused, reset, timing out, 502-504) before it is logged as ERROR; shorter outages, such as an operator restart, are WARN"`
	PingInterval  time.Duration `env:"PING_INTERVAL" envDefault:"60s" help:"how often to ping each peer; the peers endpoint's value wins"`
	PingTimeout   time.Duration `env:"PING_TIMEOUT" default:"derived" help:"per-ping timeout, shorter than PING_INTERVAL; unset: min(2s, PING_INTERVAL/2); the peers endpoint's value wins"`
	MetricsCompat string        `env:"METRICS_COMPAT" help:"also export another tool's metrics on /metrics: goldpinger (goldpinger_* names, labels and buckets), or empty for none"`
	LogFormat     string        `env:"LOG_FORMAT" envDefault:"text" help:"text or json"`
	LogLevel      slog.Level    `env:"LOG_LEVEL" envDefault:"info" help:"debug, info, warn or error"`

	// StaticPeers is PEERS parsed.
	StaticPeers []peers.Peer `env:"-"`
}

// Error is a bad environment variable: which, what it held, what was wanted.
type Error struct {
	Var, Value, Want string
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid %s=%q: want %s", e.Var, e.Value, e.Want)
}

// Load reads and checks the configuration from environ (as from os.Environ).
// hostname is POD_NAME's fallback.
func Load(environ []string, hostname string) (Config, error) {
	vars := env.ToMap(environ)
	var c Config
	if err := env.ParseWithOptions(&c, env.Options{Environment: vars}); err != nil {
		return Config{}, explain(err, vars)
	}
	if c.PodName == "" {
		c.PodName = hostname
	}
	if _, set := vars["PING_TIMEOUT"]; !set {
		c.PingTimeout = DefaultTimeout(c.PingInterval)
	}
	return c, c.check(vars)
}

// DefaultTimeout is PING_TIMEOUT when it is not set: 2s, or half the
// interval when that is shorter, so the defaults never contradict each other.
func DefaultTimeout(interval time.Duration) time.Duration {
	return min(2*time.Second, interval/2)
}

// check validates what the env parser cannot: ranges and combinations.
func (c *Config) check(vars map[string]string) error {
	bad := func(name, want string) error { return &Error{Var: name, Value: vars[name], Want: want} }
	switch {
	case c.Port < 1 || c.Port > 65535:
		return bad("PORT", "a port number 1-65535")
	case c.OutageError <= 0:
		return bad("PEERS_OUTAGE_ERROR_AFTER", "a positive duration such as 2m")
	case c.PingInterval <= 0:
		return bad("PING_INTERVAL", "a positive duration such as 10s")
	case c.PingTimeout <= 0:
		return bad("PING_TIMEOUT", "a positive duration such as 2s")
	case c.PingTimeout >= c.PingInterval:
		// Only reachable when PING_TIMEOUT was set: say where the interval came from.
		interval := fmt.Sprintf("PING_INTERVAL=%q", vars["PING_INTERVAL"])
		if _, set := vars["PING_INTERVAL"]; !set {
			interval = fmt.Sprintf("PING_INTERVAL (unset, so its default %s)", c.PingInterval)
		}
		return bad("PING_TIMEOUT", "a duration shorter than "+interval)
	case c.MetricsCompat != "" && c.MetricsCompat != "goldpinger":
		return bad("METRICS_COMPAT", "goldpinger, or empty for none")
	case c.LogFormat != "text" && c.LogFormat != "json":
		return bad("LOG_FORMAT", "text or json")
	case c.Peers == "" && c.PeersURL == "":
		return &Error{Var: "PEERS/PEERS_URL", Want: "exactly one of PEERS (static host:port list) or PEERS_URL (the operator's peers endpoint) to be set"}
	case c.Peers != "" && c.PeersURL != "":
		return &Error{Var: "PEERS/PEERS_URL", Value: "both set", Want: "exactly one of PEERS or PEERS_URL, not both"}
	}
	if c.PeersURL != "" {
		u, err := url.Parse(c.PeersURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("PEERS_URL", "an absolute http:// or https:// URL")
		}
		return nil
	}
	list, err := ParsePeers(c.Peers)
	if err != nil {
		return &Error{Var: "PEERS", Value: c.Peers, Want: "a comma-separated list of host:port (" + err.Error() + ")"}
	}
	c.StaticPeers = list
	return nil
}

// ParsePeers parses PEERS: "host:port,host:port". Each peer is named by its
// address; the real name arrives in the pong.
func ParsePeers(s string) ([]peers.Peer, error) {
	var list []peers.Peer
	seen := map[string]bool{}
	for _, field := range strings.Split(s, ",") {
		address := strings.TrimSpace(field)
		if err := peers.ValidateAddress(address); err != nil {
			return nil, err
		}
		if seen[address] {
			return nil, fmt.Errorf("address %q appears twice", address)
		}
		seen[address] = true
		list = append(list, peers.Peer{Name: address, Address: address})
	}
	return list, nil
}

// explain turns the env library's error into an *Error naming the variable.
func explain(err error, vars map[string]string) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) || len(agg.Errors) == 0 {
		return err
	}
	var perr env.ParseError
	if !errors.As(agg.Errors[0], &perr) {
		return agg.Errors[0]
	}
	field, _ := reflect.TypeOf(Config{}).FieldByName(perr.Name)
	name := field.Tag.Get("env")
	return &Error{Var: name, Value: vars[name], Want: wants[perr.Type]}
}

var wants = map[reflect.Type]string{
	reflect.TypeOf(0):                "an integer",
	reflect.TypeOf(time.Duration(0)): "a Go duration such as 500ms, 10s or 1m",
	reflect.TypeOf(slog.LevelInfo):   "debug, info, warn or error",
}

// PrintHelp writes every variable with its default and meaning.
func PrintHelp(w io.Writer) {
	fmt.Fprintln(w, "Usage: server   (configured only through the environment)")
	fmt.Fprintln(w, "\nEnvironment variables:")
	t := reflect.TypeOf(Config{})
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("env")
		if name == "-" {
			continue
		}
		def := f.Tag.Get("envDefault")
		if def == "" {
			def = cmp.Or(f.Tag.Get("default"), "(unset)")
		}
		fmt.Fprintf(w, "  %-14s default %-8s %s\n", name, def, f.Tag.Get("help"))
	}
}
