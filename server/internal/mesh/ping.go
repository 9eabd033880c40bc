package mesh

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
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
	// Segments and Retransmits are what the ping's connection sent for it
	// (TCP_INFO before and after; 0 where it cannot be read): loss in the
	// pinger → peer direction that TCP hid by retransmitting.
	Segments, Retransmits int
}

// Pinger sends GET /ping and keeps at most one idle connection per peer for
// the next ping. net/http's Transport would hold two goroutines per idle
// connection (2,000 for 1,000 peers, most of a server's memory); an idle
// connection here is a socket and a small buffer, and no goroutine. Requests
// are written and responses parsed by net/http.
type Pinger struct {
	mu     sync.Mutex
	idle   map[string]*conn // by address
	dialer net.Dialer
}

type conn struct {
	net.Conn
	r         *bufio.Reader
	idleSince time.Time
}

// maxIdle: a connection idle longer is not reused (the peer's server closes
// idle connections after 20 minutes; this stays well inside that).
const maxIdle = 10 * time.Minute

// NewPinger returns a pinger with no connections.
func NewPinger() *Pinger { return &Pinger{idle: map[string]*conn{}} }

// Ping sends one GET /ping to address and classifies the answer. Only a 200
// with the body exactly "pong\n" is a success. The RTT is the request's
// round trip on an open connection: a new connection's handshake is a second
// round trip (and, in a pod that has just started, CPU it is still short of)
// that would make every link's first ping an outlier of the latency figures.
// The timeout covers both; a lost SYN still counts as a retransmit.
func (p *Pinger) Ping(ctx context.Context, address string, timeout time.Duration) Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if c := p.take(address); c != nil {
		r, retry := p.roundTrip(ctx, c, address)
		if !retry {
			return r
		}
		// The peer closed the idle connection: try once on a new one.
	}
	nc, err := p.dialer.DialContext(ctx, "tcp", address)
	if err != nil {
		return Result{Outcome: classify(err), Err: err}
	}
	r, _ := p.roundTrip(ctx, &conn{Conn: nc, r: bufio.NewReaderSize(nc, 512)}, address)
	return r
}

// roundTrip does one request on c. retry: c was reused and failed before
// any byte of an answer, the way a connection the peer closed fails.
func (p *Pinger) roundTrip(ctx context.Context, c *conn, address string) (r Result, retry bool) {
	reused := !c.idleSince.IsZero()
	// A new connection's counters start at 0 (SYN retransmits included).
	var segments0, retransmits0 uint32
	if reused {
		segments0, retransmits0, _ = tcpCounts(c.Conn)
	}
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) }) // the peer left mid-ping
	defer stop()
	keep := false
	defer func() {
		if segments, retransmits, ok := tcpCounts(c.Conn); ok && !retry {
			r.Segments, r.Retransmits = int(segments-segments0), int(retransmits-retransmits0)
		}
		if keep {
			p.put(ctx, address, c)
		} else {
			c.Close()
		}
	}()
	start := time.Now()
	if _, err := io.WriteString(c, "GET /ping HTTP/1.1\r\nHost: "+address+"\r\nUser-Agent: simulated-peering\r\n\r\n"); err != nil {
		return Result{Outcome: classify(err), Err: err}, reused
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		if reused && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)) {
			return Result{}, true
		}
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return Result{Outcome: classify(err), Err: err}, false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(len(pongBody))+1))
	r = Result{Responder: resp.Header.Get(peers.ResponderHeader), RTT: time.Since(start)}
	switch {
	case err != nil:
		r.Outcome, r.Err = classify(err), err
	case resp.StatusCode != http.StatusOK:
		r.Outcome, r.Err = metrics.HTTPError, fmt.Errorf("status %s", resp.Status)
	case string(body) != pongBody:
		r.Outcome, r.Err = metrics.BadBody, fmt.Errorf("body %q, want %q", body, pongBody)
	default:
		r.Outcome = metrics.OK
		// Reuse only a connection whose answer was read to the end.
		_, err := resp.Body.Read(make([]byte, 1))
		keep = !resp.Close && errors.Is(err, io.EOF) && c.r.Buffered() == 0
	}
	return r, false
}

func (p *Pinger) take(address string) *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.idle[address]
	delete(p.idle, address)
	if c != nil && time.Since(c.idleSince) > maxIdle {
		c.Close()
		return nil
	}
	return c
}

// put keeps c for the next ping, unless the ping's context ended: its peer
// left (Forget, which comes after the cancel, may already have run) or the
// server is stopping. Checked under p.mu, so a connection is either closed
// here or found by Forget.
func (p *Pinger) put(ctx context.Context, address string, c *conn) {
	c.SetDeadline(time.Time{})
	c.idleSince = time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if ctx.Err() != nil {
		c.Close()
		return
	}
	if old := p.idle[address]; old != nil {
		old.Close()
	}
	p.idle[address] = c
}

// Forget closes the idle connection to a peer that left.
func (p *Pinger) Forget(address string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.idle[address]; c != nil {
		c.Close()
		delete(p.idle, address)
	}
}

// CloseIdle closes every idle connection.
func (p *Pinger) CloseIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for address, c := range p.idle {
		c.Close()
		delete(p.idle, address)
	}
}

// Idle is how many connections are kept for reuse.
func (p *Pinger) Idle() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
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

// count adds one ping (took: from its start to its result) to the peer's
// series. The caller holds the mesh's lock and has checked that the peer
// is still a target: Apply forgets a leaving peer's series under that
// lock, so they are never made again.
func (m *Mesh) count(p peers.Peer, r Result, took time.Duration) {
	m.metrics.Pings.WithLabelValues(p.Name, r.Outcome).Inc()
	if r.Segments > 0 {
		m.metrics.Segments.WithLabelValues(p.Name).Add(float64(r.Segments))
		m.metrics.Retransmits.WithLabelValues(p.Name).Add(float64(r.Retransmits))
	}
	if r.Outcome == metrics.OK {
		m.metrics.RTT.WithLabelValues(p.Name).Observe(r.RTT.Seconds())
	}
	if g := m.metrics.Goldpinger; g != nil {
		g.Ping(p.HostIP, podIP(p.Address), took, r.Outcome == metrics.OK)
	}
}

// podIP is the host part of a peer's address.
func podIP(address string) string {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return address
	}
	return host
}

// logPing logs one ping of a peer that was still a target.
func (m *Mesh) logPing(p peers.Peer, r Result) {
	if r.Outcome != metrics.OK {
		where := p.Address
		if p.Node != "" {
			where += ", node " + p.Node
		}
		m.log.Warn(fmt.Sprintf("ping to %s (%s) failed: %s", p.Name, where, r.Outcome),
			withNode(p, "peer", p.Name, "address", p.Address, "outcome", r.Outcome, "error", r.Err.Error())...)
		return
	}
	responder := r.Responder
	if responder == "" {
		responder = p.Name
	}
	m.log.Info(fmt.Sprintf("pong from %s (%s) rtt=%s", responder, p.Address, FormatRTT(r.RTT)),
		withNode(p, "peer", p.Name, "responder", responder, "address", p.Address, "rtt_seconds", r.RTT.Seconds())...)
}

// withNode adds the peer's node to a log line's attributes when it is known.
func withNode(p peers.Peer, args ...any) []any {
	if p.Node != "" {
		args = append(args, "node", p.Node)
	}
	return args
}

// FormatRTT prints a round-trip time in milliseconds, e.g. "0.412ms".
func FormatRTT(d time.Duration) string {
	return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond))
}
