package config

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

func TestLoadDefaults(t *testing.T) {
	c, err := Load([]string{"PEERS=10.0.0.1:8080, peer-b:9000"}, "host-1")
	if err != nil {
		t.Fatal(err)
	}
	want := []peers.Peer{{Name: "10.0.0.1:8080", Address: "10.0.0.1:8080"}, {Name: "peer-b:9000", Address: "peer-b:9000"}}
	if c.Port != 8080 || c.PodName != "host-1" || c.PingInterval != time.Minute || c.PingTimeout != 2*time.Second ||
		c.LogFormat != "text" || c.LogLevel != slog.LevelInfo || len(c.StaticPeers) != 2 || c.StaticPeers[0] != want[0] || c.StaticPeers[1] != want[1] {
		t.Fatalf("Load = %+v", c)
	}
}

// An unset PING_TIMEOUT follows the interval, so no interval the user
// chooses can clash with a default they never set.
func TestLoadDerivesTheTimeoutFromTheInterval(t *testing.T) {
	for interval, want := range map[string]time.Duration{
		"60s": 2 * time.Second, "4s": 2 * time.Second, "2s": time.Second, "1s": 500 * time.Millisecond, "300ms": 150 * time.Millisecond,
	} {
		c, err := Load([]string{"PEERS=a:1", "PING_INTERVAL=" + interval}, "h")
		if err != nil {
			t.Errorf("PING_INTERVAL=%s: %v", interval, err)
		} else if c.PingTimeout != want {
			t.Errorf("PING_INTERVAL=%s: timeout %s, want %s", interval, c.PingTimeout, want)
		}
	}
}

func TestLoadEverything(t *testing.T) {
	c, err := Load([]string{"PORT=9090", "POD_NAME=mesh-abc", "POD_IP=10.88.0.5", "PEERS_URL=http://op:8082/v1/namespaces/n/peergroups/g/peers",
		"PING_INTERVAL=10s", "PING_TIMEOUT=500ms", "LOG_FORMAT=json", "LOG_LEVEL=debug"}, "ignored")
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 9090 || c.PodName != "mesh-abc" || c.PodIP != "10.88.0.5" || c.PingInterval != 10*time.Second ||
		c.PingTimeout != 500*time.Millisecond || c.LogFormat != "json" || c.LogLevel != slog.LevelDebug || c.StaticPeers != nil {
		t.Fatalf("Load = %+v", c)
	}
}

// Every bad input names the variable, shows the value and says what is wanted.
func TestLoadRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"unparseable interval", []string{"PEERS=a:1", "PING_INTERVAL=soon"}, `invalid PING_INTERVAL="soon": want a Go duration`},
		{"unparseable timeout", []string{"PEERS=a:1", "PING_TIMEOUT=2"}, `invalid PING_TIMEOUT="2": want a Go duration`},
		{"zero interval", []string{"PEERS=a:1", "PING_INTERVAL=0s"}, `invalid PING_INTERVAL="0s": want a positive duration`},
		{"negative timeout", []string{"PEERS=a:1", "PING_TIMEOUT=-1s"}, `invalid PING_TIMEOUT="-1s": want a positive duration`},
		{"timeout equals interval", []string{"PEERS=a:1", "PING_INTERVAL=2s", "PING_TIMEOUT=2s"}, `invalid PING_TIMEOUT="2s": want a duration shorter than PING_INTERVAL="2s"`},
		{"timeout above interval", []string{"PEERS=a:1", "PING_INTERVAL=1s", "PING_TIMEOUT=3s"}, `invalid PING_TIMEOUT="3s": want a duration shorter than PING_INTERVAL="1s"`},
		{"timeout above the default interval", []string{"PEERS=a:1", "PING_TIMEOUT=90s"}, `invalid PING_TIMEOUT="90s": want a duration shorter than PING_INTERVAL (unset, so its default 1m0s)`},
		{"port not a number", []string{"PEERS=a:1", "PORT=http"}, `invalid PORT="http": want an integer`},
		{"port zero", []string{"PEERS=a:1", "PORT=0"}, `invalid PORT="0": want a port number 1-65535`},
		{"port too big", []string{"PEERS=a:1", "PORT=65536"}, `invalid PORT="65536": want a port number 1-65535`},
		{"peer without port", []string{"PEERS=a:1,b"}, `invalid PEERS="a:1,b": want a comma-separated list of host:port (address "b" is not host:port)`},
		{"peer port out of range", []string{"PEERS=a:70000"}, `address "a:70000" has port "70000", want 1-65535`},
		{"peer without host", []string{"PEERS=:80"}, `address ":80": host is neither an IP address nor a DNS name`},
		{"empty entry", []string{"PEERS=a:1,,b:2"}, `invalid PEERS="a:1,,b:2"`},
		{"duplicate peer", []string{"PEERS=a:1,a:1"}, `address "a:1" appears twice`},
		{"neither source", nil, `invalid PEERS/PEERS_URL="": want exactly one of PEERS`},
		{"both sources", []string{"PEERS=a:1", "PEERS_URL=http://x/"}, `want exactly one of PEERS or PEERS_URL, not both`},
		{"relative url", []string{"PEERS_URL=/v1/peers"}, `invalid PEERS_URL="/v1/peers": want an absolute http:// or https:// URL`},
		{"other scheme", []string{"PEERS_URL=ftp://x/"}, `invalid PEERS_URL="ftp://x/"`},
		{"log format", []string{"PEERS=a:1", "LOG_FORMAT=xml"}, `invalid LOG_FORMAT="xml": want text or json`},
		{"log level", []string{"PEERS=a:1", "LOG_LEVEL=loud"}, `invalid LOG_LEVEL="loud": want debug, info, warn or error`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.env, "h")
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Load error = %v (%T), want *config.Error", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load error = %q, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}

func TestHelpListsEveryVariableWithDefault(t *testing.T) {
	var b bytes.Buffer
	PrintHelp(&b)
	for _, want := range []string{"PORT           default 8080", "PING_INTERVAL  default 60s", "PING_TIMEOUT   default derived  per-ping timeout, shorter than PING_INTERVAL; unset: min(2s, PING_INTERVAL/2)",
		"POD_NAME", "POD_IP", "PEERS ", "PEERS_URL", "LOG_FORMAT     default text", "LOG_LEVEL      default info"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("--help lacks %q:\n%s", want, b.String())
		}
	}
}
