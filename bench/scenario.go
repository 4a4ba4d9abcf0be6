package bench

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
)

// Scenario is one standard load pattern. Run drives the load against
// env.URL, checks that the server delivered what it should, and fills in
// env.Res; it returns an error when the server got something wrong or the
// run could not be done.
type Scenario struct {
	Name      string
	Desc      string // one line, for --help and the report
	Unit      string // of the headline rate: "msgs/s", "req/s", "conns/s"
	JetStream bool   // needs the stream layer
	Cluster   int    // nodes of the cluster it needs, 0 for one server
	Websocket bool   // its clients connect over WebSocket (websocket.go)
	MQTT      bool   // its clients speak MQTT (mqtt.go)
	run       func(ctx context.Context, e *Env) error
}

// scenarios is the registry, in the order of the standard set.
var scenarios = []*Scenario{
	{Name: "pub", Unit: "msgs/s", Desc: "publishers only, no subscriber; ends with a flush round trip", run: runPub},
	{Name: "pubsub", Unit: "msgs/s", Desc: "1 publisher, 1 subscriber; every message received, in order", run: runPubSub},
	{Name: "fanout", Unit: "msgs/s", Desc: "1 publisher, N subscribers; rate counts deliveries", run: runFanout},
	{Name: "queue", Unit: "msgs/s", Desc: "1 publisher, N queue-group members; every message delivered exactly once", run: runQueue},
	{Name: "reqrep", Unit: "req/s", Desc: "sequential request/reply; latency percentiles", run: runReqRep},
	{Name: "reqrep-par", Unit: "req/s", Desc: "N concurrent requesters, responders in a queue group", run: runReqRepPar},
	{Name: "wildcard", Unit: "msgs/s", Desc: "1,000 wildcard subscriptions, 16,000 distinct subjects", run: runWildcard},
	{Name: "conn", Unit: "conns/s", Desc: "connection handshakes per second; server memory per connection", run: runConn},
	{Name: "js-pub", Unit: "msgs/s", JetStream: true, Desc: "synchronous stream publish, waiting for each ack", run: runJSPub},
	{Name: "js-pub-async", Unit: "msgs/s", JetStream: true, Desc: "asynchronous stream publish, 256 acks in flight", run: runJSPubAsync},
	{Name: "js-consume", Unit: "msgs/s", JetStream: true, Desc: "durable pull consumer, explicit ack of every message", run: runJSConsume},
}

// StandardScenarios is the set run when none is named: all but the
// cluster (replicated-stream ones included), WebSocket and MQTT scenarios, which init adds to the registry after
// this is set.
var StandardScenarios = ScenarioNames()

func init() {
	scenarios = append(scenarios, clusterScenarios...)
	scenarios = append(scenarios, replicatedScenarios...)
}

// CoreScenarios are the scenarios that need no stream layer, on one
// server reached over TCP.
func CoreScenarios() []string {
	var names []string
	for _, s := range scenarios {
		if !s.JetStream && s.Cluster == 0 && !s.Websocket && !s.MQTT {
			names = append(names, s.Name)
		}
	}
	return names
}

// ScenarioNames lists every scenario, in the standard order.
func ScenarioNames() []string {
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.Name
	}
	return names
}

// Scenarios returns the registry, for help texts.
func Scenarios() []Scenario {
	out := make([]Scenario, len(scenarios))
	for i, s := range scenarios {
		out[i] = *s
	}
	return out
}

func lookup(name string) *Scenario {
	for _, s := range scenarios {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// ErrNoStreams is returned by the js scenarios when the server does not
// advertise the stream layer.
var ErrNoStreams = errors.New("stream layer not available on this server (its INFO has no jetstream:true)")

// Env is what a scenario run is given: where to connect, its limits, and
// the clock and counters it reports through.
type Env struct {
	URL      string
	URLs     []string // every node's URL, for the cluster scenarios (URL is the first)
	Cfg      *Config
	Prefix   string    // unique subject prefix for this run, e.g. "bench.Xy12"
	Deadline time.Time // the time cap: stop generating load after it
	Res      *Result

	prog   *progress     // the measured phase, counted by the scenario
	status *status       // the live line, told when the measured phase starts and ends
	sample func() sample // CPU and memory of the server, if local
	mem    func() int64  // current server memory, if local; for conn

	mu       sync.Mutex
	asyncErr error // first error reported by a client's error handler
	began    time.Time
	ended    time.Time
	cpu0     sample
	cpu1     sample
}

// sample is the server's resource use at one moment.
type sample struct {
	cpu time.Duration
	ok  bool
}

func newEnv(url string, cfg *Config, res *Result) *Env {
	return &Env{
		URL:      url,
		Cfg:      cfg,
		Prefix:   "bench." + nuid.Next(),
		Deadline: time.Now().Add(cfg.Duration),
		Res:      res,
		prog:     newProgress(0, time.Now(), time.Time{}),
		status:   newStatus(nil, nil, 1, 1, time.Now()),
	}
}

// begin starts the clock of the measured part; setup before it (connecting,
// subscribing, filling a stream) is not counted.
func (e *Env) begin(total int64) {
	if e.sample != nil {
		e.cpu0 = e.sample()
	}
	e.began = time.Now()
	e.prog = newProgress(total, e.began, e.Deadline)
	e.status.measuring(e.prog)
}

// end stops the clock at t (the moment the last message was seen), or now
// when t is zero.
func (e *Env) end(t time.Time) {
	if t.IsZero() {
		t = time.Now()
	}
	if e.sample != nil {
		e.cpu1 = e.sample()
	}
	e.ended = t
	e.status.measuring(nil)
}

// expired reports whether the time cap has passed.
func (e *Env) expired() bool { return time.Now().After(e.Deadline) }

// grace is how long to wait, after publishing stops, for messages still in
// flight: a quarter of the cap, at least 2 s.
func (e *Env) grace() time.Duration {
	return max(2*time.Second, e.Cfg.Duration/4)
}

// fail records an asynchronous client error (slow consumer, server -ERR).
func (e *Env) fail(err error) {
	e.mu.Lock()
	if e.asyncErr == nil {
		e.asyncErr = err
	}
	e.mu.Unlock()
}

func (e *Env) clientErr() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.asyncErr
}

// note adds a remark to the result (e.g. that the time cap was reached).
func (e *Env) note(format string, args ...any) {
	e.Res.Notes = append(e.Res.Notes, fmt.Sprintf(format, args...))
}

// capped records that the time cap cut the run short after done of want.
func (e *Env) capped(done, want int64) {
	if done < want {
		e.Res.CapReached = true
		e.note("time cap %v reached after %d of %d", e.Cfg.Duration, done, want)
	}
}

// connect opens a client connection that records asynchronous errors in e.
// Every connection of a run is closed by closeAll.
func (e *Env) connect(name string, conns *[]*nats.Conn) (*nats.Conn, error) {
	nc, err := nats.Connect(e.URL,
		nats.Name("wisp-bench-"+name),
		nats.Timeout(5*time.Second),
		nats.NoReconnect(),
		nats.ReconnectBufSize(-1),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				err = fmt.Errorf("subscription %s: %w", sub.Subject, err)
			}
			e.fail(fmt.Errorf("%s: %w", name, err))
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", e.URL, err)
	}
	*conns = append(*conns, nc)
	return nc, nil
}

func closeAll(conns []*nats.Conn) {
	for _, nc := range conns {
		nc.Close()
	}
}

// unlimited lifts the client-side pending limits of a subscription, so a
// subscriber that falls behind queues messages rather than dropping them:
// the bench measures the server, not nats.go's default limits.
func unlimited(sub *nats.Subscription) error {
	return sub.SetPendingLimits(-1, 1<<30)
}

// subscribeReady subscribes fn on nc (in queue group queue, or none when
// it is ""), lifts the client's pending limits and flushes, so that the
// server has the subscription before anything is published.
func subscribeReady(nc *nats.Conn, subject, queue string, fn nats.MsgHandler) error {
	sub, err := nc.QueueSubscribe(subject, queue, fn)
	if err != nil {
		return err
	}
	if err := unlimited(sub); err != nil {
		return err
	}
	return nc.Flush()
}

// allSet reports whether every flag is set: a warm-up's condition that
// each receiver has seen its first message.
func allSet(flags []atomic.Bool) func() bool {
	return func() bool {
		for i := range flags {
			if !flags[i].Load() {
				return false
			}
		}
		return true
	}
}

// payload returns a message body of size bytes; when size >= 8 the first
// 8 bytes carry seq, big-endian, so receivers can check order and
// duplicates.
func payload(buf []byte, seq uint64) []byte {
	if len(buf) >= 8 {
		putSeq(buf, seq)
	}
	return buf
}

func putSeq(b []byte, seq uint64) {
	for i := 7; i >= 0; i-- {
		b[i] = byte(seq)
		seq >>= 8
	}
}

// getSeq returns the sequence in a payload, or false if it is too short.
func getSeq(b []byte) (uint64, bool) {
	if len(b) < 8 {
		return 0, false
	}
	var seq uint64
	for _, c := range b[:8] {
		seq = seq<<8 | uint64(c)
	}
	return seq, true
}

// split divides n into k near-equal parts.
func split(n, k int) []int {
	parts := make([]int, k)
	for i := range parts {
		parts[i] = n / k
		if i < n%k {
			parts[i]++
		}
	}
	return parts
}

// waitFor polls cond every few milliseconds until it is true or limit
// passes, and reports whether it became true.
func waitFor(limit time.Time, cond func() bool) bool {
	for {
		if cond() {
			return true
		}
		if time.Now().After(limit) {
			return cond()
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// lastSeen holds the time of the most recent delivery, for ending the clock
// at the last message rather than at the end of a polling interval.
type lastSeen struct{ ns atomic.Int64 }

func (l *lastSeen) mark()           { l.ns.Store(time.Now().UnixNano()) }
func (l *lastSeen) time() time.Time { return time.Unix(0, l.ns.Load()) }

// exactlyOnce records deliveries by sequence number (1..n) and counts
// duplicates and out-of-range numbers.
type exactlyOnce struct {
	seen []atomic.Uint32
	dups atomic.Int64
	bad  atomic.Int64
}

func newExactlyOnce(n int) *exactlyOnce { return &exactlyOnce{seen: make([]atomic.Uint32, n+1)} }

func (x *exactlyOnce) add(seq uint64) {
	if seq == 0 || seq >= uint64(len(x.seen)) {
		x.bad.Add(1)
		return
	}
	if x.seen[seq].Add(1) > 1 {
		x.dups.Add(1)
	}
}

// check returns an error naming missing, duplicated and bogus deliveries
// among sequences 1..sent.
func (x *exactlyOnce) check(sent int64) error {
	var missing []uint64
	nmissing := 0
	for seq := int64(1); seq <= sent && seq < int64(len(x.seen)); seq++ {
		if x.seen[seq].Load() == 0 {
			nmissing++
			if len(missing) < 5 {
				missing = append(missing, uint64(seq))
			}
		}
	}
	var errs []error
	if nmissing > 0 {
		errs = append(errs, fmt.Errorf("%d of %d messages never delivered (first: %v)", nmissing, sent, missing))
	}
	if d := x.dups.Load(); d > 0 {
		errs = append(errs, fmt.Errorf("%d messages delivered more than once", d))
	}
	if b := x.bad.Load(); b > 0 {
		errs = append(errs, fmt.Errorf("%d deliveries with a sequence number that was never sent", b))
	}
	return errors.Join(errs...)
}

// median returns the median of xs (0 for none); xs is sorted in place.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	m := len(xs) / 2
	if len(xs)%2 == 1 {
		return xs[m]
	}
	return (xs[m-1] + xs[m]) / 2
}
