package mesh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/server/internal/metrics"
)

const pongBody = "pong\n"

// Result is the outcome of one ping.
type Result struct {
	Outcome   string // one of the metrics outcome constants
	Responder string // from the pong's header; empty unless the peer answered
	RTT       time.Duration
	Err       error
}

// Ping sends one GET /ping to address and classifies the answer. Only a 200
// with the body exactly "pong\n" is a success.
func Ping(ctx context.Context, client *http.Client, address string, timeout time.Duration) Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+address+"/ping", nil)
	if err != nil {
		return Result{Outcome: metrics.Unreachable, Err: err}
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return Result{Outcome: classify(err), Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(len(pongBody))+1))
	rtt := time.Since(start)
	r := Result{Responder: resp.Header.Get(peers.ResponderHeader), RTT: rtt}
	switch {
	case err != nil:
		r.Outcome, r.Err = classify(err), err
	case resp.StatusCode != http.StatusOK:
		r.Outcome, r.Err = metrics.HTTPError, fmt.Errorf("status %s", resp.Status)
	case string(body) != pongBody:
		r.Outcome, r.Err = metrics.BadBody, fmt.Errorf("body %q, want %q", body, pongBody)
	default:
		r.Outcome = metrics.OK
	}
	return r
}

func classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return metrics.Timeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return metrics.Refused
	default:
		return metrics.Unreachable
	}
}

// ping runs one ping of a loop, then logs and counts it.
func (m *Mesh) ping(ctx context.Context, p peers.Peer, timeout time.Duration) {
	r := Ping(ctx, m.client, p.Address, timeout)
	if ctx.Err() != nil {
		return // the loop was stopped mid-ping: not the peer's fault
	}
	m.metrics.Pings.WithLabelValues(p.Name, r.Outcome).Inc()
	if r.Outcome != metrics.OK {
		m.log.Warn(fmt.Sprintf("ping to %s (%s) failed: %s", p.Name, p.Address, r.Outcome),
			"peer", p.Name, "address", p.Address, "outcome", r.Outcome, "error", r.Err.Error())
		return
	}
	responder := r.Responder
	if responder == "" {
		responder = p.Name
	}
	m.metrics.RTT.WithLabelValues(p.Name).Observe(r.RTT.Seconds())
	m.log.Info(fmt.Sprintf("pong from %s (%s) rtt=%s", responder, p.Address, FormatRTT(r.RTT)),
		"peer", p.Name, "responder", responder, "address", p.Address, "rtt_seconds", r.RTT.Seconds())
}

// FormatRTT prints a round-trip time in milliseconds, e.g. "0.412ms".
func FormatRTT(d time.Duration) string {
	return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond))
}
