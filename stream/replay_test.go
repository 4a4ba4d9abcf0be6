package stream

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wisp-mq/wisp/stream/store"
)

// The replay and metamorphic tests drive the stream layer with a seeded,
// recorded workload: a list of steps (API calls, publishes with every
// header that decides something, and moves of the fake clock) generated
// before anything runs. Everything a step's outcome may depend on is in
// the step or in the state before it; time comes only from the FakeClock,
// which the workload moves. So running the same steps into a fresh
// Service must end in byte-identical stores and give identical answers,
// which is what a replica applying the same log must do.

// workloadStart is the fake clock's time when a workload begins.
var workloadStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// step is one recorded operation of a workload.
type step struct {
	api     string        // API subject after $JS.API., or "" for a publish
	body    string        // API request body
	subject string        // publish subject
	hdr     []string      // publish header key, value pairs
	data    string        // publish payload
	advance time.Duration // move the clock (and run what falls due)
	fetch   string        // "STREAM.CONSUMER": a no-wait pull of batch messages
	batch   int
	acks    []string // what to answer to each fetched message, in turn
	// msgs is an atomic batch: each published with the batch headers
	// (batchHeaders), the last one's answer recorded.
	msgs []step
	// fast is a fast batch (fast_batch.go) in gap mode gap: each
	// published with its batch reply subject, the last one committing;
	// the batch's PubAck recorded.
	fast []step
	gap  string
}

// genWorkload builds a workload over several streams (every retention
// policy, both discard rules, message, byte, per-subject and age limits,
// duplicate windows, rollups) and durable consumers, with storage for every
// stream.
func genWorkload(seed uint64, storage Storage) []step {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	var steps []step
	type def struct {
		name string
		cfg  Config
	}
	var defs []def
	var cons []string // "STREAM.CONSUMER" of every consumer created so far
	for i := 0; i < 6; i++ {
		name := fmt.Sprintf("S%d", i)
		cfg := Config{Name: name, Subjects: []string{fmt.Sprintf("s%d.*", i)}, Storage: storage,
			Retention: Retention(r.IntN(3)), AllowRollup: r.IntN(2) == 0}
		if cfg.Retention == RetentionWorkQueue {
			cfg.AllowRollup = false
		}
		switch r.IntN(4) {
		case 0:
			cfg.MaxMsgs = int64(3 + r.IntN(10))
		case 1:
			cfg.MaxBytes = int64(300 + r.IntN(2000))
		case 2:
			cfg.MaxMsgsPerSubject = int64(1 + r.IntN(3))
		}
		if r.IntN(3) == 0 && cfg.Retention != RetentionWorkQueue {
			cfg.Discard = DiscardNew
			if cfg.MaxMsgsPerSubject > 0 {
				cfg.DiscardNewPerSubject = r.IntN(2) == 0
			}
		}
		if r.IntN(2) == 0 {
			cfg.MaxAge = time.Duration(1+r.IntN(5)) * time.Second
		}
		if r.IntN(2) == 0 {
			cfg.Duplicates = time.Duration(200+r.IntN(800)) * time.Millisecond
			if cfg.MaxAge > 0 && cfg.Duplicates > cfg.MaxAge {
				cfg.Duplicates = cfg.MaxAge
			}
		}
		cfg.AllowAtomic = r.IntN(2) == 0
		cfg.AllowBatched = true
		defs = append(defs, def{name, cfg})
		b, _ := json.Marshal(cfg)
		steps = append(steps, step{api: "STREAM.CREATE." + name, body: string(b)})
	}
	// A counter stream, which takes batches of increments too.
	counters := Config{Name: "S6", Subjects: []string{"s6.*"}, Storage: storage, AllowMsgCounter: true, AllowAtomic: true,
		MaxMsgsPerSubject: int64(2 + r.IntN(3))}
	defs = append(defs, def{"S6", counters})
	b, _ := json.Marshal(counters)
	steps = append(steps, step{api: "STREAM.CREATE.S6", body: string(b)})
	// Per-message TTLs, with delete markers and max_age (ttl.go,
	// markers.go), and message schedules (schedule.go).
	ttlCfg := Config{Name: "S7", Subjects: []string{"s7.*"}, Storage: storage, AllowMsgTTL: true, AllowSchedules: true,
		SubjectDeleteMarkerTTL: time.Duration(1+r.IntN(2)) * time.Second, MaxAge: 4 * time.Second,
		MaxMsgsPerSubject: int64(r.IntN(3))}
	defs = append(defs, def{"S7", ttlCfg})
	b, _ = json.Marshal(ttlCfg)
	steps = append(steps, step{api: "STREAM.CREATE.S7", body: string(b)})
	for n := 0; n < 600; n++ {
		d := defs[r.IntN(len(defs))]
		subj := fmt.Sprintf("s%s.%d", d.name[1:], r.IntN(4))
		switch k := r.IntN(100); {
		case k < 8:
			steps = append(steps, genBatch(r, d.cfg, subj, n))
		case k < 60:
			var hdr []string
			if d.cfg.AllowMsgCounter {
				steps = append(steps, step{subject: subj, hdr: []string{hdrIncr, genIncr(r)}})
				continue
			}
			if r.IntN(3) == 0 {
				hdr = append(hdr, hdrMsgID, fmt.Sprintf("id-%d", r.IntN(20)))
			}
			if r.IntN(10) == 0 {
				hdr = append(hdr, hdrExpLastSeq, fmt.Sprint(r.IntN(40)))
			}
			if r.IntN(12) == 0 {
				hdr = append(hdr, hdrExpLastSubjSeq, fmt.Sprint(r.IntN(40)))
			}
			if r.IntN(15) == 0 {
				hdr = append(hdr, hdrRollup, []string{"sub", "all"}[r.IntN(2)])
			}
			if d.cfg.AllowMsgTTL && r.IntN(4) != 0 {
				hdr = append(hdr, hdrTTL, []string{"1s", "2", "3s", "never", "1", "bad"}[r.IntN(6)])
			}
			if d.cfg.AllowSchedules && r.IntN(3) == 0 {
				at := workloadStart.Add(time.Duration(r.IntN(40)) * time.Second).Format(time.RFC3339)
				hdr = append(hdr, hdrSchedule, []string{"@at " + at, "@every 2s", "*/3 * * * * *", "@at x"}[r.IntN(4)],
					hdrScheduleTarget, "s7.3")
				if r.IntN(2) == 0 {
					hdr = append(hdr, hdrScheduleTTL, "2s")
				}
				if r.IntN(3) == 0 {
					hdr = append(hdr, hdrScheduleSource, "s7.2")
				}
			}
			if d.cfg.AllowSchedules && r.IntN(20) == 0 {
				hdr = append(hdr, hdrScheduleNext, scheduleNextPurge, hdrScheduler, fmt.Sprintf("s7.%d", r.IntN(3)))
			}
			steps = append(steps, step{subject: subj, hdr: hdr, data: strings.Repeat("x", r.IntN(120))})
		case k < 68:
			steps = append(steps, step{advance: time.Duration(1+r.IntN(1500)) * time.Millisecond}) // 0 would read as a publish
		case k < 72:
			steps = append(steps, step{api: "STREAM.MSG.DELETE." + d.name, body: fmt.Sprintf(`{"seq":%d}`, 1+r.IntN(40))})
		case k < 74:
			body := ""
			if r.IntN(2) == 0 {
				body = fmt.Sprintf(`{"filter":%q,"keep":%d}`, subj, r.IntN(3))
			}
			steps = append(steps, step{api: "STREAM.PURGE." + d.name, body: body})
		case k < 77:
			cfg := d.cfg
			if cfg.MaxMsgs > 0 {
				cfg.MaxMsgs = int64(2 + r.IntN(10))
			}
			b, _ := json.Marshal(cfg)
			steps = append(steps, step{api: "STREAM.UPDATE." + d.name, body: string(b)})
		case k < 81:
			name := fmt.Sprintf("C%d", r.IntN(3))
			aw := fmt.Sprintf(`,"ack_wait":%d,"max_deliver":%d`, time.Duration(1+r.IntN(3))*time.Second, 2+r.IntN(3))
			ack := []string{"explicit", "all", "none"}[r.IntN(3)]
			if d.cfg.Retention != RetentionLimits {
				ack = "explicit"
			}
			if ack == "none" {
				aw = ""
			}
			filter := subj
			if r.IntN(2) == 0 {
				filter = d.cfg.Subjects[0]
			}
			cons = append(cons, d.name+"."+name)
			body := fmt.Sprintf(`{"stream_name":%q,"config":{"durable_name":%q,"ack_policy":%q,"filter_subject":%q,"deliver_policy":%q%s}}`,
				d.name, name, ack, filter, []string{"all", "last", "new"}[r.IntN(3)], aw)
			steps = append(steps, step{api: "CONSUMER.CREATE." + d.name + "." + name, body: body})
		case k < 83:
			steps = append(steps, step{api: fmt.Sprintf("CONSUMER.DELETE.%s.C%d", d.name, r.IntN(3))})
		case k < 86:
			steps = append(steps, step{api: fmt.Sprintf("CONSUMER.INFO.%s.C%d", d.name, r.IntN(3))})
		case k < 92 && len(cons) > 0:
			var acks []string
			for range 1 + r.IntN(4) {
				acks = append(acks, []string{"+ACK", "+ACK", "-NAK", "+TERM", "+WPI", ""}[r.IntN(6)])
			}
			steps = append(steps, step{fetch: cons[r.IntN(len(cons))], batch: 1 + r.IntN(5), acks: acks})
		case k < 93:
			until := workloadStart.Add(time.Duration(r.IntN(30)) * time.Second).Format(time.RFC3339Nano)
			steps = append(steps, step{api: fmt.Sprintf("CONSUMER.PAUSE.%s.C%d", d.name, r.IntN(3)), body: fmt.Sprintf(`{"pause_until":%q}`, until)})
		case k < 94:
			steps = append(steps, step{api: fmt.Sprintf("CONSUMER.RESET.%s.C%d", d.name, r.IntN(3)), body: fmt.Sprintf(`{"seq":%d}`, r.IntN(30))})
		case k < 97:
			steps = append(steps, step{api: "STREAM.INFO." + d.name, body: `{"subjects_filter":">"}`})
		default:
			steps = append(steps, step{api: "STREAM.MSG.GET." + d.name, body: fmt.Sprintf(`{"seq":%d}`, 1+r.IntN(40))})
		}
	}
	// Fast batches, one per gap mode, each with a message its stream
	// refuses in the middle: "fail" stops there, "ok" goes on.
	for i, gap := range []string{"fail", "ok"} {
		subj := fmt.Sprintf("s%d.f", 1+i)
		steps = append(steps, step{gap: gap, fast: []step{{subject: subj, data: "f1"}, {subject: subj, data: "f2"},
			{subject: subj, data: "f3", hdr: []string{hdrExpLastSeq, "999999"}}, {subject: subj, data: "f4"}, {subject: subj, data: "f5"}}})
	}
	// A stream deleted with its consumers, and made again under a new id.
	b, _ = json.Marshal(defs[0].cfg)
	steps = append(steps, step{api: "STREAM.DELETE." + defs[0].name},
		step{api: "STREAM.CREATE." + defs[0].name, body: string(b)},
		step{subject: "s0.1", data: "again"})
	for _, d := range defs {
		steps = append(steps, step{api: "STREAM.INFO." + d.name, body: `{"subjects_filter":">"}`})
	}
	return steps
}

// genBatch makes an atomic batch of one to four messages on cfg's
// stream, committed by its last message or by an end-of-batch marker,
// now and then with what refuses it (a repeated message id, an expected
// last sequence after the first message).
func genBatch(r *rand.Rand, cfg Config, subj string, n int) step {
	id := fmt.Sprintf("b%d", n)
	var msgs []step
	for i := range 1 + r.IntN(4) {
		var hdr []string
		switch {
		case cfg.AllowMsgCounter:
			hdr = append(hdr, hdrIncr, genIncr(r))
		case r.IntN(4) == 0:
			hdr = append(hdr, hdrMsgID, fmt.Sprintf("id-%d", r.IntN(20)))
		case r.IntN(8) == 0:
			hdr = append(hdr, hdrExpLastSeq, fmt.Sprint(r.IntN(40)))
		case i == 0 && r.IntN(8) == 0:
			hdr = append(hdr, hdrRollup, "sub")
		}
		data := ""
		if !cfg.AllowMsgCounter {
			data = strings.Repeat("b", r.IntN(80))
		}
		msgs = append(msgs, step{subject: subj, hdr: hdr, data: data})
	}
	msgs[len(msgs)-1].hdr = append(msgs[len(msgs)-1].hdr, hdrBatchCommit, "1")
	if r.IntN(4) == 0 {
		msgs[len(msgs)-1].hdr = msgs[len(msgs)-1].hdr[:len(msgs[len(msgs)-1].hdr)-2]
		msgs = append(msgs, step{subject: subj, hdr: []string{hdrBatchCommit, "eob"}})
	}
	for i := range msgs {
		msgs[i].hdr = append([]string{hdrBatchID, id, hdrBatchSeq, fmt.Sprint(i + 1)}, msgs[i].hdr...)
	}
	return step{msgs: msgs}
}

// genIncr is a counter increment, now and then beyond 64 bits.
func genIncr(r *rand.Rand) string {
	v := fmt.Sprint(r.IntN(200) - 100)
	if r.IntN(5) == 0 {
		v += "000000000000000000000000"
	}
	return v
}

// applied is one operation as the state machine applied it: its
// stream and its encoded record (op.go).
type applied struct {
	stream string
	enc    []byte
}

// result is what a run of a workload, or the replay of its log, leaves.
type result struct {
	answers []string  // the workload's answers, in order (a run only)
	stored  []string  // every key and value of both stores, hex
	final   []string  // STREAM.INFO and CONSUMER.INFO of everything left
	log     []applied // the operations applied, in order (a run only)
	end     time.Time // the fake clock's time at the end
}

// run applies steps to a fresh Service on a FakeClock and returns every
// answer, the contents of both stores, the final API answers and the
// log of operations applied.
func run(t *testing.T, steps []step, rule store.SyncMode) result {
	clock := NewFakeClock(workloadStart)
	// ConsumerFlushDelay < 0: consumer state is written with the next
	// commit, not after a wall-clock delay.
	h := newHarnessWith(t, Options{Clock: clock, Sync: rule, ConsumerFlushDelay: -1})
	var res result
	var logMu sync.Mutex
	h.svc.recordOp = func(stream string, enc []byte) {
		logMu.Lock()
		res.log = append(res.log, applied{stream, append([]byte(nil), enc...)})
		logMu.Unlock()
	}
	barrier := func() {
		// Consumers submit their state after their lock is released, on
		// their own goroutines; write it now, so that it (and the removals
		// acks cause) commits at the same point of every run.
		for _, s := range h.svc.sortedStreams() {
			for _, c := range s.cons.all() {
				c.flushNow()
			}
		}
		for _, st := range []Store{h.svc.file, h.svc.mem} {
			if err := st.Do(func(*store.Batch) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, s := range steps {
		switch {
		case s.advance > 0:
			// One timer at a time, each one's work finished before the
			// next is looked for, as a replica would apply them in order.
			target := clock.Now().Add(s.advance)
			for next, ok := clock.Next(); ok && !next.After(target); next, ok = clock.Next() {
				clock.Set(next)
				barrier()
			}
			clock.Set(target)
			barrier()
			res.answers = append(res.answers, "advance "+s.advance.String())
		case s.fetch != "":
			res.answers = append(res.answers, fetchAndAck(t, h, s)...)
			barrier()
		case len(s.fast) > 0:
			res.answers = append(res.answers, "fast "+s.fast[0].subject+" "+fastBatchAck(t, h, s))
		case len(s.msgs) > 0:
			var last reply
			for _, m := range s.msgs {
				last = h.b.request(t, m.subject, makeHdr(m.hdr...), []byte(m.data))
			}
			res.answers = append(res.answers, "batch "+s.msgs[0].subject+" "+string(last.data))
		case s.api != "":
			b, err := json.Marshal(h.svc.route(s.api, []byte(s.body)))
			if err != nil {
				t.Fatal(err)
			}
			res.answers = append(res.answers, s.api+" "+string(b))
		default:
			r := h.b.request(t, s.subject, makeHdr(s.hdr...), []byte(s.data))
			res.answers = append(res.answers, "pub "+s.subject+" "+string(r.data))
		}
	}
	barrier()
	res.stored, res.final = dumpState(t, h.svc)
	logMu.Lock()
	res.log = append([]applied(nil), res.log...) // closing flushes once more
	logMu.Unlock()
	res.end = clock.Now()
	return res
}

// dumpState returns every key and value of svc's stores and the info of
// every stream and consumer it has.
func dumpState(t *testing.T, svc *Service) (stored, final []string) {
	t.Helper()
	for _, st := range []Store{svc.file, svc.mem} {
		if err := st.Reader().Dump(func(k, v []byte) error {
			stored = append(stored, hex.EncodeToString(k)+" "+hex.EncodeToString(v))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, "--")
	}
	ask := func(api, body string) {
		b, err := json.Marshal(svc.route(api, []byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		final = append(final, api+" "+string(b))
	}
	for _, s := range svc.sortedStreams() {
		ask("STREAM.INFO."+s.name, `{"subjects_filter":">"}`)
		for _, c := range s.cons.all() {
			ask("CONSUMER.INFO."+s.name+"."+c.name, "")
		}
	}
	return stored, final
}

// replay applies a recorded log, record by record, to a fresh Service
// whose clock stands still at end: nothing but the records decides what
// is stored. Consumers are made by their create records and never
// started: no driver runs, only the state machine.
func replay(t *testing.T, log []applied, rule store.SyncMode, end time.Time) result {
	h := newHarnessWith(t, Options{Clock: NewFakeClock(end), Sync: rule, ConsumerFlushDelay: -1})
	svc := h.svc
	for i, r := range log {
		k, _, _, err := opHeader(r.enc)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if k == kindStreamCreate {
			var o opStreamCreate
			_, dec, _ := decodeOp(r.enc)
			o = *dec.(*opStreamCreate)
			var cfg Config
			if err := json.Unmarshal(o.Config, &cfg); err != nil {
				t.Fatal(err)
			}
			st := svc.storeFor(cfg.Storage)
			op := &createOp{svc: svc, st: st, enc: r.enc, done: make(chan error, 1)}
			st.Submit(op)
			if err := <-op.done; err != nil {
				t.Fatalf("record %d (%v): %v", i, k, err)
			}
			svc.mu.Lock()
			svc.streams[r.stream] = op.res.stream
			svc.mu.Unlock()
			continue
		}
		s := svc.lookup(r.stream)
		if s == nil {
			t.Fatalf("record %d (%v) for stream %s, which the log has not created", i, k, r.stream)
		}
		if k.forConsumer() {
			s.cons.mu.Lock() // as the proposer of a consumer kind does (apply.go)
		}
		op := &streamOp{s: s, enc: r.enc, done: make(chan error, 1)}
		s.st.Submit(op)
		err = <-op.done
		if k.forConsumer() {
			s.cons.mu.Unlock()
		}
		if err != nil && !errors.Is(err, errRejected) {
			t.Fatalf("record %d (%v): %v", i, k, err)
		}
		if k == kindStreamDelete && err == nil {
			svc.mu.Lock()
			delete(svc.streams, r.stream)
			svc.mu.Unlock()
			s.stopConsumers()
		}
	}
	var res result
	res.stored, res.final = dumpState(t, svc)
	return res
}

// TestReplayIsDeterministic: the operations a seeded workload applied,
// recorded as encoded and replayed into a fresh state machine, give
// byte-identical stored state and identical answers, for file and memory
// streams under both sync rules. The replay's clock does not move, so a
// clock read or a random draw inside apply shows up as a difference.
func TestReplayIsDeterministic(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		for _, storage := range []Storage{FileStorage, MemoryStorage} {
			for _, sync := range []store.SyncMode{store.SyncAlways, store.SyncInterval} {
				t.Run(fmt.Sprintf("seed%d/%s/sync%d", seed, storage, sync), func(t *testing.T) {
					orig := run(t, genWorkload(seed, storage), sync)
					kinds := map[opKind]int{}
					for _, r := range orig.log {
						kinds[opKind(r.enc[1])]++
					}
					for _, k := range []opKind{kindPublish, kindDeleteMsg, kindPurge, kindExpire, kindStreamCreate,
						kindStreamUpdate, kindStreamDelete, kindConsumerCreate, kindConsumerRemove, kindDeliver, kindAck,
						kindConsumerFlush, kindBatch, kindExpireTTL, kindFireSchedules, kindFastPublish} {
						if kinds[k] == 0 {
							t.Fatalf("the workload applied no %v: %v", k, kinds)
						}
					}
					for _, want := range []string{`"batch":"b`, `"val":"`, `"err_code":10201`, `"batch":"fast`} {
						if !strings.Contains(strings.Join(orig.answers, "\n"), want) {
							t.Fatalf("no answer of the workload holds %s", want)
						}
					}
					again := replay(t, orig.log, sync, orig.end)
					sameLines(t, "stored key/value", orig.stored, again.stored)
					sameLines(t, "final answer", orig.final, again.final)
					if len(orig.stored) < 20 {
						t.Fatalf("the workload stored almost nothing: %d records", len(orig.stored))
					}
				})
			}
		}
	}
}

// TestMetamorphicFileAndMemory: the same workload on file and on memory
// storage gives clients the same answers.
func TestMetamorphicFileAndMemory(t *testing.T) {
	for _, seed := range []uint64{4, 5} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			file := run(t, genWorkload(seed, FileStorage), store.SyncAlways).answers
			mem := run(t, genWorkload(seed, MemoryStorage), store.SyncAlways).answers
			for i := range file {
				file[i] = strings.ReplaceAll(file[i], `"storage":"file"`, `"storage":"memory"`)
			}
			sameLines(t, "answer", file, mem)
		})
	}
}

// fetchAndAck sends a no-wait pull request, collects what it brings (up
// to the batch, or a status that ends it), and answers each message as
// s.acks says, in turn.
func fetchAndAck(t *testing.T, h *harness, s step) []string {
	t.Helper()
	type delivery struct {
		reply string
		hdr   []byte
	}
	inbox := fmt.Sprintf("_INBOX.fetch%d", h.b.inbox.Add(1))
	ch := make(chan delivery, 64)
	cancel, _ := h.b.Subscribe(inbox, "", func(_, reply, hdr, _ []byte) {
		ch <- delivery{string(reply), append([]byte(nil), hdr...)}
	})
	defer cancel()
	req := fmt.Sprintf(`{"batch":%d,"no_wait":true}`, s.batch)
	_ = h.b.Publish("$JS.API.CONSUMER.MSG.NEXT."+s.fetch, inbox, nil, []byte(req))
	out := []string{"fetch " + s.fetch}
	var got []string
	for len(got) < s.batch {
		select {
		case d := <-ch:
			if bytes.HasPrefix(d.hdr, []byte("NATS/1.0 ")) {
				line, _, _ := bytes.Cut(d.hdr, []byte("\r\n"))
				out = append(out, "status "+string(line))
				got = append(got, "") // a status ends the request
				s.batch = len(got)
				continue
			}
			got = append(got, d.reply)
			out = append(out, "msg "+d.reply)
		case <-time.After(5 * time.Second):
			t.Fatalf("fetch %s: got %d of %d", s.fetch, len(got), s.batch)
		}
	}
	for i, reply := range got {
		if reply == "" {
			continue
		}
		if ack := s.acks[i%len(s.acks)]; ack != "" {
			_ = h.b.Publish(reply, "", nil, []byte(ack))
		}
	}
	return out
}

func sameLines(t *testing.T, what string, a, b []string) {
	t.Helper()
	if len(a) != len(b) {
		t.Errorf("%d %ss, then %d", len(a), what, len(b))
	}
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			t.Fatalf("%s %d differs:\n%s\n%s", what, i, a[i], b[i])
		}
	}
}

// fastBatchAck publishes a fast batch step's messages back to back, the
// last one committing, and returns the batch's PubAck.
func fastBatchAck(t *testing.T, h *harness, s step) string {
	t.Helper()
	id := fmt.Sprintf("fast%d", h.b.inbox.Add(1))
	inbox := "_INBOX." + id
	acks := make(chan string, 64)
	cancel, _ := h.b.Subscribe(inbox+".>", "", func(_, _, _, data []byte) {
		if !bytes.HasPrefix(data, []byte(`{"type"`)) {
			acks <- string(data)
		}
	})
	defer cancel()
	for i, m := range s.fast {
		op := 1
		switch {
		case i == 0:
			op = 0
		case i == len(s.fast)-1:
			op = 2
		}
		reply := fmt.Sprintf("%s.10.%s.%d.%d.$FI", inbox, s.gap, i+1, op)
		_ = h.b.Publish(m.subject, reply, makeHdr(m.hdr...), []byte(m.data))
	}
	for {
		select {
		case a := <-acks:
			if strings.Contains(a, `"batch"`) {
				return a
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no PubAck for the fast batch on %s", s.fast[0].subject)
			return ""
		}
	}
}
