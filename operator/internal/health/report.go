package health

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

// Report is what a round keeps of one pod's /links answer: per link only
// what the summary, the localizer and the matrix read, the peer's name
// shared with the group's pods. A decoded answer of a 1,000-pod full mesh is
// ~1 MiB (999 records with their addresses, outcomes and histograms); its
// Report is ~40 KiB.
type Report struct {
	Links []Record
	// Buckets pools the RTT histograms of its up links.
	Buckets []int
	// Outcomes are the last outcomes of its down links, by peer.
	Outcomes map[string]string
}

// Record is one link of a Report.
type Record struct {
	Peer                  string
	Since                 int64 // Unix nanoseconds: when it entered its state
	P99                   time.Duration
	Segments, Retransmits int32
	State                 state // up, down or unmeasured
}

func newReport(links int) Report {
	return Report{Links: make([]Record, 0, links), Buckets: make([]int, len(peers.RTTBucketBounds)+1)}
}

// add appends one link's record.
func (r *Report) add(peer string, st peers.LinkState, since time.Time, p99 time.Duration, segments, retransmits int, buckets []int, outcome string) {
	rec := Record{Peer: peer, Since: since.UnixNano(), P99: p99, Segments: clamp32(segments), Retransmits: clamp32(retransmits)}
	switch st {
	case peers.LinkUp:
		rec.State = up
		for i, n := range buckets {
			if i < len(r.Buckets) {
				r.Buckets[i] += n
			}
		}
	case peers.LinkDown:
		rec.State = down
		if r.Outcomes == nil {
			r.Outcomes = map[string]string{}
		}
		r.Outcomes[peer] = outcome
	default:
		rec.State = unmeasured
	}
	r.Links = append(r.Links, rec)
}

// Digest reduces a decoded /links answer to a Report. keep, if not nil,
// names the peers worth keeping (the pinger's counting peers) and returns
// the name to keep for each, so that every report shares the pods' own
// strings; the rest are dropped.
func Digest(l peers.Links, keep func(peer string) (string, bool)) Report {
	r := newReport(len(l.Links))
	for _, link := range l.Links {
		name, ok := kept(keep, link.Peer)
		if !ok {
			continue
		}
		r.add(name, link.State, link.Since, link.RTTP99.Duration, link.Segments, link.Retransmits, link.RTTBuckets, link.LastOutcome)
	}
	return r
}

// kept is the name to keep for peer, and whether to keep it at all (every
// peer, under its own name, when keep is nil).
func kept(keep func(peer string) (string, bool), peer string) (string, bool) {
	if keep == nil {
		return peer, true
	}
	return keep(peer)
}

// Reports digests every answer of a round, keeping every link.
func Reports(answers map[string]peers.Links) map[string]Report {
	out := make(map[string]Report, len(answers))
	for pod, l := range answers {
		out[pod] = Digest(l, nil)
	}
	return out
}

// wireLink is the part of a /links record a round reads; the rest of the
// record is skipped unread.
type wireLink struct {
	Peer        string          `json:"peer"`
	State       peers.LinkState `json:"state"`
	Since       time.Time       `json:"since"`
	LastOutcome string          `json:"lastOutcome"`
	RTTP99      string          `json:"rttP99"`
	Segments    int             `json:"segments"`
	Retransmits int             `json:"retransmits"`
	RTTBuckets  []int           `json:"rttBuckets"`
}

// DecodeReport reads a /links answer straight into a Report, one record at
// a time: the answer is never held decoded (at 1,000 peers, decoding it
// whole allocated ~1 MiB per pod and a round ~3.5 GB). What it reads is
// checked as peers.Links.Validate checks it; the peers keep does not name
// (not counting pods, unknown names) are skipped. A body the server's own
// encoder writes puts "window" before "links".
func DecodeReport(body []byte, keep func(peer string) (string, bool)) (Report, error) {
	if len(body) > peers.MaxLinksBytes {
		return Report{}, fmt.Errorf("links answer of %d bytes, more than %d", len(body), peers.MaxLinksBytes)
	}
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return Report{}, fmt.Errorf("decoding links: not a JSON object (%v)", err)
	}
	var (
		r      = newReport(0)
		window = 0
		pod    bool
		seen   = map[string]bool{}
		link   wireLink
	)
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return Report{}, fmt.Errorf("decoding links: %w", err)
		}
		switch name.String() {
		case "pod":
			var s string
			if err := jsonv2.UnmarshalDecode(dec, &s); err != nil || s == "" {
				return Report{}, fmt.Errorf("decoding links: pod: %v", err)
			}
			pod = true
		case "window":
			if err := jsonv2.UnmarshalDecode(dec, &window); err != nil || window < 1 || window > 1000 {
				return Report{}, fmt.Errorf("window %d is not 1-1000 (%v)", window, err)
			}
		case "links":
			if window == 0 {
				return Report{}, errors.New("decoding links: window must come before links")
			}
			if dec.PeekKind() == 'n' { // null: no links
				if _, err := dec.ReadToken(); err != nil {
					return Report{}, fmt.Errorf("decoding links: %w", err)
				}
				continue
			}
			if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '[' {
				return Report{}, fmt.Errorf("decoding links: links is not an array (%v)", err)
			}
			for n := 0; dec.PeekKind() != ']'; n++ {
				if n >= peers.MaxPeers {
					return Report{}, fmt.Errorf("more than %d links", peers.MaxPeers)
				}
				link = wireLink{RTTBuckets: link.RTTBuckets[:0]}
				if err := jsonv2.UnmarshalDecode(dec, &link); err != nil {
					return Report{}, fmt.Errorf("decoding links[%d]: %w", n, err)
				}
				p99, err := link.check(window)
				if err != nil {
					return Report{}, fmt.Errorf("links[%d] (%s): %w", n, link.Peer, err)
				}
				if seen[link.Peer] {
					return Report{}, fmt.Errorf("links[%d]: peer %q appears twice", n, link.Peer)
				}
				seen[link.Peer] = true
				peer, ok := kept(keep, link.Peer)
				if !ok {
					continue
				}
				r.add(peer, link.State, link.Since, p99, link.Segments, link.Retransmits, link.RTTBuckets, link.LastOutcome)
			}
			if _, err := dec.ReadToken(); err != nil { // ]
				return Report{}, fmt.Errorf("decoding links: %w", err)
			}
		default:
			if err := dec.SkipValue(); err != nil {
				return Report{}, fmt.Errorf("decoding links: %w", err)
			}
		}
	}
	if _, err := dec.ReadToken(); err != nil { // }
		return Report{}, fmt.Errorf("decoding links: %w", err)
	}
	if !pod || window == 0 {
		return Report{}, errors.New("decoding links: pod and window are required")
	}
	return r, nil
}

// check validates what a round reads of a record, as Link.validate does,
// and returns its p99.
func (l *wireLink) check(window int) (time.Duration, error) {
	p99, err := time.ParseDuration(l.RTTP99)
	switch {
	case l.RTTP99 == "":
		p99, err = 0, nil
	case err != nil:
		return 0, fmt.Errorf("rttP99: %w", err)
	}
	most := peers.MaxSegmentsPerPing * window
	switch {
	case l.Peer == "":
		return 0, errors.New("no peer")
	case l.State != peers.LinkUp && l.State != peers.LinkDown && l.State != peers.LinkUnmeasured:
		return 0, fmt.Errorf("state %q is not up, down or unmeasured", l.State)
	case p99 < 0:
		return 0, fmt.Errorf("rttP99 %s is negative", p99)
	case len(l.LastOutcome) > 32:
		return 0, fmt.Errorf("last outcome %q is too long", l.LastOutcome)
	case l.Segments < 0 || l.Retransmits < 0 || l.Segments > most || l.Retransmits > most:
		return 0, fmt.Errorf("TCP counts out of range (segments %d, retransmits %d, at most %d each)", l.Segments, l.Retransmits, most)
	case len(l.RTTBuckets) > len(peers.RTTBucketBounds)+1:
		return 0, fmt.Errorf("%d RTT buckets, at most %d", len(l.RTTBuckets), len(peers.RTTBucketBounds)+1)
	}
	sum := 0
	for _, n := range l.RTTBuckets {
		if n < 0 {
			return 0, fmt.Errorf("RTT bucket count %d is negative", n)
		}
		sum += n
	}
	if sum > window {
		return 0, fmt.Errorf("RTT buckets hold %d pings, more than the window of %d", sum, window)
	}
	return p99, nil
}

func clamp32(n int) int32 { return int32(min(max(n, 0), 1<<31-1)) }
