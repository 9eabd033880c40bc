// Package source follows the operator's peers endpoint with long-polls and
// hands every new, valid document to the mesh. A failure never clears the
// mesh: the last good document stays in force while the poller retries.
package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/server/internal/metrics"
)

const (
	// LongPoll is how long the endpoint may hold a request.
	LongPoll = 30 * time.Second
	// maxDocument bounds what we read: 1,000 peers take ~70 KiB.
	maxDocument    = 4 << 20
	minBackoff     = time.Second
	maxBackoff     = 30 * time.Second
	minPollSpacing = time.Second // if the endpoint ignores ?wait, don't spin
)

// Poller fetches the peers document from URL for the pod Self.
type Poller struct {
	URL     string
	Self    string
	Log     *slog.Logger
	Metrics *metrics.Metrics
	// Apply receives every new valid document, in order.
	Apply func(peers.Document)
	// Wait is the long-poll asked for; LongPoll when zero.
	Wait time.Duration
	// TokenFile, if set, holds the pod's projected ServiceAccount token,
	// sent as a bearer token. It is read for every request: the kubelet
	// rotates it.
	TokenFile string
	// OutageErrorAfter is how long the endpoint may be unreachable before
	// the outage is logged as ERROR; shorter ones are WARN: an operator
	// restart or upgrade must not page anyone. Zero means two minutes.
	OutageErrorAfter time.Duration

	client *http.Client
}

// Run polls until ctx ends.
func (p *Poller) Run(ctx context.Context) {
	if p.Wait == 0 {
		p.Wait = LongPoll
	}
	if p.OutageErrorAfter == 0 {
		p.OutageErrorAfter = 2 * time.Minute
	}
	p.client = &http.Client{Timeout: p.Wait + 15*time.Second}
	var (
		revision  string
		order     uint64 // of the applied document
		ignored   string // the last older revision ignored, logged once
		failures  int
		lastErr   string
		downSince time.Time // of the first failure in a row
		escalated bool      // the outage was logged as ERROR
	)
	for ctx.Err() == nil {
		start := time.Now()
		doc, changed, err := p.fetch(ctx, revision)
		if ctx.Err() != nil {
			return
		}
		var later *retryLaterError
		if errors.As(err, &later) { // routine: an operator rollout, a poll cap
			p.Log.Info("peers endpoint asks to retry later; keeping the current peer set",
				"url", p.URL, "retry_after", later.after, "reason", later.reason)
			sleep(ctx, later.after+rand.N(later.after/4+1))
			continue
		}
		if err != nil {
			failures++
			if failures == 1 {
				downSince = start
			}
			wait, down := backoff(failures), time.Since(downSince).Round(time.Millisecond)
			msg := err.Error()
			switch {
			case !unreachable(err):
				if msg != lastErr { // once per distinct failure
					p.Log.Error("peers endpoint failed; keeping the last good peer set",
						"url", p.URL, "error", msg, "revision", revision, "retry_in", wait.Round(time.Millisecond))
				}
			case down >= p.OutageErrorAfter && !escalated:
				p.Log.Error(fmt.Sprintf("peers endpoint unreachable for longer than %s; keeping the last good peer set", p.OutageErrorAfter),
					"url", p.URL, "error", msg, "down_for", down, "failures", failures, "revision", revision, "retry_in", wait.Round(time.Millisecond))
				escalated = true
			case msg != lastErr:
				p.Log.Warn("peers endpoint unreachable; keeping the last good peer set",
					"url", p.URL, "error", msg, "down_for", down, "revision", revision, "retry_in", wait.Round(time.Millisecond))
			}
			lastErr = msg
			sleep(ctx, wait)
			continue
		}
		if failures > 0 {
			p.Log.Info("peers endpoint answering again", "url", p.URL, "after_failures", failures,
				"down_for", time.Since(downSince).Round(time.Millisecond))
			failures, lastErr, escalated = 0, "", false
		}
		p.Metrics.LastConfigFetch.SetToCurrentTime()
		if changed && doc.Order < order {
			// An operator replica whose cache is behind: keep the newer set
			// and poll again (no If-None-Match match, so not too eagerly).
			if doc.Revision != ignored {
				p.Log.Info(fmt.Sprintf("ignoring an older peers document %s (order %d < %d)", doc.Revision, doc.Order, order),
					"revision", doc.Revision, "order", doc.Order, "applied_order", order)
				ignored = doc.Revision
			}
			changed = false
		}
		if changed {
			order = doc.Order
			revision = doc.Revision
			p.Metrics.SetRevision(revision)
			p.Log.Info(fmt.Sprintf("peers document %s: %d peers, interval %s, timeout %s", revision, len(doc.Peers), doc.PingInterval, doc.PingTimeout),
				"revision", revision, "order", order, "group", doc.Group, "peers", len(doc.Peers))
			p.Apply(doc)
		} else if time.Since(start) < minPollSpacing {
			sleep(ctx, minPollSpacing)
		}
	}
}

// fetch does one long-poll. changed is false for a 304 or an unchanged revision.
func (p *Poller) fetch(ctx context.Context, revision string) (doc peers.Document, changed bool, err error) {
	u, err := url.Parse(p.URL)
	if err != nil {
		return doc, false, err
	}
	q := u.Query()
	q.Set(peers.SelfParam, p.Self)
	q.Set(peers.WaitParam, p.Wait.String())
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return doc, false, err
	}
	req.Header.Set("Accept", "application/json")
	if p.TokenFile != "" {
		token, err := readToken(p.TokenFile)
		if err != nil {
			return doc, false, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if revision != "" {
		req.Header.Set("If-None-Match", `"`+revision+`"`)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return doc, false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument))
	switch {
	case err != nil:
		return doc, false, fmt.Errorf("reading peers document: %w", err)
	case resp.StatusCode == http.StatusNotModified:
		return doc, false, nil
	case resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests:
		if after, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
			return doc, false, &retryLaterError{after: after, reason: errorText(body)}
		}
		return doc, false, &statusError{code: resp.StatusCode, text: errorText(body)}
	case resp.StatusCode != http.StatusOK:
		return doc, false, &statusError{code: resp.StatusCode, text: errorText(body)}
	}
	doc, err = peers.Decode(body)
	if err != nil {
		return doc, false, err
	}
	return doc, doc.Revision != revision, nil
}

// unreachable tells an outage that an operator restart or rollout explains
// (nothing listening, a connection reset or timed out, a proxy's 502-504)
// from an answer that is wrong, which a person must look at.
func unreachable(err error) bool {
	var status *statusError
	if errors.As(err, &status) {
		return status.code == http.StatusBadGateway || status.code == http.StatusServiceUnavailable ||
			status.code == http.StatusGatewayTimeout
	}
	var op *net.OpError // dialling, reading, writing: refused, reset, unreachable
	var timeout interface{ Timeout() bool }
	return errors.As(err, &op) || errors.As(err, &timeout) && timeout.Timeout() ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// statusError is an answer with a status other than 200 or 304.
type statusError struct {
	code int
	text string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("status %d %s: %s", e.code, http.StatusText(e.code), e.text)
}

// maxToken bounds the token file: a ServiceAccount token is about 1 KiB.
const maxToken = 16 << 10

func readToken(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("reading the pod's token: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxToken+1))
	token := strings.TrimSpace(string(b))
	switch {
	case err != nil:
		return "", fmt.Errorf("reading the pod's token: %w", err)
	case len(b) > maxToken:
		return "", fmt.Errorf("the pod's token %s is larger than %d bytes", file, maxToken)
	case token == "":
		return "", fmt.Errorf("the pod's token %s is empty", file)
	}
	return token, nil
}

// retryLaterError is a 503 or 429 with Retry-After: the endpoint is
// stopping or busy, not broken.
type retryLaterError struct {
	after  time.Duration
	reason string
}

func (e *retryLaterError) Error() string { return "retry after " + e.after.String() + ": " + e.reason }

// retryAfter reads Retry-After in seconds, bounded to 1s–60s so a bad
// header can neither make servers spin nor go quiet for long.
func retryAfter(header string) (time.Duration, bool) {
	seconds, err := strconv.Atoi(strings.TrimSpace(header))
	if err != nil || seconds < 0 {
		return 0, false
	}
	return min(max(time.Duration(seconds)*time.Second, time.Second), time.Minute), true
}

// errorText is the endpoint's JSON error message, or the start of the body.
func errorText(body []byte) string {
	var e peers.Error
	if err := json.Unmarshal(body, &e); err == nil && e.Error != "" {
		return e.Error
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// backoff is capped exponential with jitter: 1s, 2s, 4s … 30s, each ±25%.
func backoff(failures int) time.Duration {
	d := maxBackoff
	if failures < 6 {
		d = min(minBackoff<<(failures-1), maxBackoff)
	}
	return d*3/4 + rand.N(d/2)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
