package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/nats-io/nats.go"
)

// Request/reply: responders echo the request body; the requester checks
// the echo is its own request (the sequence number matches) and records
// the round trip in an HDR histogram, in nanoseconds with 3 significant
// digits, from 1 µs to 1 minute.

const (
	histMin = int64(time.Microsecond)
	histMax = int64(time.Minute)
)

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, 3) }

// latency summarises h in microseconds.
func latency(h *hdrhistogram.Histogram) *Latency {
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	return &Latency{
		Count: h.TotalCount(),
		Mean:  h.Mean() / 1e3,
		P50:   us(h.ValueAtQuantile(50)),
		P90:   us(h.ValueAtQuantile(90)),
		P99:   us(h.ValueAtQuantile(99)),
		P999:  us(h.ValueAtQuantile(99.9)),
		Max:   us(h.Max()),
	}
}

// respond subscribes n echo responders on their own connections, in a
// queue group so each request is answered once.
func (e *Env) respond(n int, subject string, conns *[]*nats.Conn) error {
	for i := range n {
		nc, err := e.connect(fmt.Sprintf("responder%d", i), conns)
		if err != nil {
			return err
		}
		if err := subscribeReady(nc, subject, "responders", func(m *nats.Msg) {
			if err := m.Respond(m.Data); err != nil {
				e.fail(fmt.Errorf("respond: %w", err))
			}
		}); err != nil {
			return err
		}
	}
	return nil
}

// requestLoop sends up to n sequential requests on nc until the time cap,
// recording each round trip in h; first is the sequence number of the
// first request. It returns how many were answered correctly.
func (e *Env) requestLoop(nc *nats.Conn, subject string, n int, first uint64, h *hdrhistogram.Histogram) (int64, error) {
	size := max(e.Cfg.Size, 8)
	buf := make([]byte, size)
	timeout := min(5*time.Second, e.grace())
	var done int64
	for i := range n {
		if i&63 == 0 && e.expired() {
			break
		}
		req := payload(buf, first+uint64(i))
		start := time.Now()
		resp, err := nc.Request(subject, req, timeout)
		rtt := time.Since(start)
		if err != nil {
			return done, fmt.Errorf("request %d: %w", i+1, err)
		}
		if !bytes.Equal(resp.Data, req) {
			return done, fmt.Errorf("request %d: the reply is not the echo of the request", i+1)
		}
		_ = h.RecordValue(min(max(int64(rtt), histMin), histMax))
		done++
		e.prog.add(1)
	}
	return done, nil
}

// runReqRep: one requester, one responder, one request at a time: the
// latency of a round trip through the server.
func runReqRep(_ context.Context, e *Env) error {
	e.Res.Pubs, e.Res.Subs = 1, 1
	var conns []*nats.Conn
	defer func() { closeAll(conns) }()
	subject := e.Prefix + ".req"
	if err := e.respond(1, subject, &conns); err != nil {
		return err
	}
	nc, err := e.connect("requester", &conns)
	if err != nil {
		return err
	}
	h := newHist()
	e.begin(int64(e.Cfg.Msgs))
	done, rerr := e.requestLoop(nc, subject, e.Cfg.Msgs, 1, h)
	e.end(time.Time{})
	e.Res.Msgs = done
	e.Res.Latency = latency(h)
	e.capped(done, int64(e.Cfg.Msgs))
	return errors.Join(rerr, e.clientErr())
}

// runReqRepPar: N requesters on their own connections, each sequential,
// answered by a queue group of responders: throughput of request/reply
// under concurrency, and its latency distribution.
func runReqRepPar(_ context.Context, e *Env) error {
	nreq, nresp := e.Cfg.pubs(defaultRequesters), e.Cfg.subs()
	e.Res.Pubs, e.Res.Subs = nreq, nresp
	var conns []*nats.Conn
	defer func() { closeAll(conns) }()
	subject := e.Prefix + ".req"
	if err := e.respond(nresp, subject, &conns); err != nil {
		return err
	}
	reqConns := make([]*nats.Conn, nreq)
	for i := range reqConns {
		nc, err := e.connect(fmt.Sprintf("requester%d", i), &conns)
		if err != nil {
			return err
		}
		reqConns[i] = nc
	}
	parts := split(e.Cfg.Msgs, nreq)
	hists := make([]*hdrhistogram.Histogram, nreq)
	dones := make([]int64, nreq)
	errs := make([]error, nreq)
	var wg sync.WaitGroup
	e.begin(int64(e.Cfg.Msgs))
	first := uint64(1)
	for i, nc := range reqConns {
		hists[i] = newHist()
		wg.Add(1)
		go func(first uint64) {
			defer wg.Done()
			dones[i], errs[i] = e.requestLoop(nc, subject, parts[i], first, hists[i])
		}(first)
		first += uint64(parts[i])
	}
	wg.Wait()
	e.end(time.Time{})
	all := newHist()
	for i, h := range hists {
		all.Merge(h)
		e.Res.Msgs += dones[i]
	}
	e.Res.Latency = latency(all)
	e.capped(e.Res.Msgs, int64(e.Cfg.Msgs))
	return errors.Join(append(errs, e.clientErr())...)
}
