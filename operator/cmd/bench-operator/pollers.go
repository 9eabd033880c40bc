package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
)

// The simulated servers run in a child process (this binary with -pollers),
// so their decoding and goroutines do not count as the operator's cost.
// Protocol on the child's stdout, one line each:
//
//	cold <requests> <seconds> <p50> <p99>   every pod fetched once, all at once, no If-None-Match
//	                                       (latency to the whole body, before decoding)
//	parked                                 every pod's long-poll has been sent
//	answer <pod> <unix-nanos> <peers>       a long-poll was answered 200, body received at unix-nanos
//	                                       (then it parks again)
//	failed <pod> <error>                    a request failed (not 200/304)

// runPollers is the child: n pods named prefix0…prefix{n-1} poll url.
func runPollers(url, prefix string, n int) {
	out := bufio.NewWriter(os.Stdout)
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n + 100, MaxConnsPerHost: 0}, Timeout: 3 * time.Minute}
	revisions := make([]string, n)
	latencies := make([]time.Duration, n)
	finished := make([]time.Time, n)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			for {
				t := time.Now()
				code, doc, received, err := get(client, fmt.Sprintf("%s?self=%s%d", url, prefix, i), "")
				if err == nil && code == http.StatusOK {
					revisions[i], latencies[i], finished[i] = doc.Revision, received.Sub(t), received
					return
				}
				time.Sleep(100 * time.Millisecond) // a 429/503 under the stampede: retry as a server would
			}
		})
	}
	wg.Wait()
	elapsed := slices.MaxFunc(finished, time.Time.Compare).Sub(start)
	slices.Sort(latencies)
	say("cold %d %f %d %d", n, elapsed.Seconds(), latencies[n/2], latencies[n*99/100])
	for i := range n {
		go func() {
			self := prefix + strconv.Itoa(i)
			for {
				code, doc, received, err := get(client, fmt.Sprintf("%s?self=%s&wait=120s", url, self), revisions[i])
				switch {
				case err != nil:
					say("failed %s %v", self, err)
					time.Sleep(time.Second)
				case code == http.StatusOK:
					say("answer %s %d %d", self, received.UnixNano(), len(doc.Peers))
					revisions[i] = doc.Revision
				case code != http.StatusNotModified:
					say("failed %s status %d", self, code)
					time.Sleep(time.Second)
				}
			}
		}()
	}
	time.Sleep(3 * time.Second) // every poll is sent and parked
	say("parked")
	select {}
}

// get fetches a document; the transport undoes gzip. received is when the
// whole body had arrived: the operator's part ends there. The body is not
// decoded (the tests check documents; decoding 1,000 peers per answer is the
// clients' cost, and here they share 2 cores with the operator): the
// revision comes from the ETag and the peers are counted.
func get(client *http.Client, url, revision string) (code int, doc peers.Document, received time.Time, err error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if revision != "" {
		req.Header.Set("If-None-Match", `"`+revision+`"`)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, doc, time.Time{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	received = time.Now()
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp.StatusCode, doc, received, err
	}
	doc.Revision = strings.Trim(resp.Header.Get("ETag"), `"`)
	doc.Peers = make([]peers.Peer, bytes.Count(body, []byte(`"name":`)))
	return resp.StatusCode, doc, received, nil
}

// pollers is the parent's handle on the child.
type pollers struct {
	cmd      *exec.Cmd
	cold     []string
	coldDone time.Time // when the cold line arrived
	coldP99  time.Duration
	ready    chan struct{}
	answers  chan answer
}

type answer struct {
	pod   string
	at    time.Time
	peers int
}

func launchPollers(url, prefix string, n int) *pollers {
	self, err := os.Executable()
	check(err)
	cmd := exec.Command(self, "-pollers", "-url", url, "-prefix", prefix, "-n", strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	check(err)
	check(cmd.Start())
	p := &pollers{cmd: cmd, answers: make(chan answer, 4*n), ready: make(chan struct{})}
	go func() {
		scanner := bufio.NewScanner(stdout)
		failures := 0
		for scanner.Scan() {
			f := strings.Fields(scanner.Text())
			switch f[0] {
			case "cold":
				p.cold, p.coldDone = f[1:], time.Now()
				p99, _ := strconv.ParseInt(f[4], 10, 64)
				p.coldP99 = time.Duration(p99)
			case "parked":
				close(p.ready)
			case "answer":
				nanos, _ := strconv.ParseInt(f[2], 10, 64)
				count, _ := strconv.Atoi(f[3])
				p.answers <- answer{f[1], time.Unix(0, nanos), count}
			case "failed":
				if failures++; failures <= 5 {
					fmt.Println("  poller:", strings.Join(f[1:], " "))
				}
			}
		}
	}()
	return p
}

// waitParked returns once every poll of the child is sent and parked.
func (p *pollers) waitParked() {
	select {
	case <-p.ready:
	case <-time.After(10 * time.Minute):
		check(fmt.Errorf("the pollers never parked"))
	}
}

func (p *pollers) stop() {
	if p.cmd != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

// coldStart prints the child's first round: n fetches at once.
func (p *pollers) coldStart(what string) {
	n, _ := strconv.Atoi(p.cold[0])
	seconds, _ := strconv.ParseFloat(p.cold[1], 64)
	p50, _ := strconv.ParseInt(p.cold[2], 10, 64)
	p99, _ := strconv.ParseInt(p.cold[3], 10, 64)
	fmt.Printf("cold start, %s: %d polls without If-None-Match at once: %.0f req/s, p50 %s, p99 %s\n",
		what, n, float64(n)/seconds, time.Duration(p50).Round(time.Microsecond), time.Duration(p99).Round(time.Microsecond))
}

// collect gathers the answers that arrive within window.
func (p *pollers) collect(window time.Duration) []answer {
	var got []answer
	deadline := time.After(window)
	for {
		select {
		case a := <-p.answers:
			got = append(got, a)
		case <-deadline:
			return got
		}
	}
}

// drain drops answers already queued (from earlier changes).
func (p *pollers) drain(ctx context.Context) {
	for {
		select {
		case <-p.answers:
		case <-ctx.Done():
			return
		default:
			return
		}
	}
}
