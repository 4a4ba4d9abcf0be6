package stream

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// forEachStorage runs a test once with file and once with memory storage:
// both go through the same code, and must behave the same.
func forEachStorage(t *testing.T, fn func(t *testing.T, h *harness, st Storage)) {
	for _, st := range []Storage{FileStorage, MemoryStorage} {
		t.Run(st.String(), func(t *testing.T) { fn(t, newHarness(t), st) })
	}
}

func TestDedupe(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness, st Storage) {
		h.create(Config{Name: "D", Subjects: []string{"d"}, Storage: st})
		a := h.pub("d", "1", hdrMsgID, "id-1")
		b := h.pub("d", "1 again", hdrMsgID, "id-1")
		c := h.pub("d", "2", hdrMsgID, "id-2")
		if a.Seq != 1 || a.Duplicate || !b.Duplicate || b.Seq != 1 || c.Seq != 2 || c.Duplicate {
			t.Fatalf("acks %+v %+v %+v", a, b, c)
		}
		wantState(t, h.info("D"), 2, 1, 2)
	})
}

func TestDedupeWindowExpires(t *testing.T) {
	h, clock := newClockHarness(t)
	h.create(Config{Name: "D", Subjects: []string{"d"}, Duplicates: 50 * time.Millisecond})
	h.pub("d", "1", hdrMsgID, "x")
	clock.Advance(49 * time.Millisecond)
	if a := h.pub("d", "1", hdrMsgID, "x"); !a.Duplicate || a.Seq != 1 {
		t.Fatalf("ack inside window %+v", a)
	}
	clock.Advance(31 * time.Millisecond)
	if a := h.pub("d", "1", hdrMsgID, "x"); a.Duplicate || a.Seq != 2 {
		t.Fatalf("ack after window %+v", a)
	}
}

func TestDedupeSurvivesRestart(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "D", Subjects: []string{"d"}})
	h.pub("d", "1", hdrMsgID, "a")
	h.pub("d", "2", hdrMsgID, "b")
	h.restart()
	if a := h.pub("d", "1", hdrMsgID, "a"); !a.Duplicate || a.Seq != 1 {
		t.Fatalf("ack %+v", a)
	}
	if a := h.pub("d", "3", hdrExpLastMsgID, "b"); a.Error != nil || a.Seq != 3 {
		t.Fatalf("last msg id lost on restart: %+v", a)
	}
}

func TestExpectedHeaders(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness, st Storage) {
		h.create(Config{Name: "E", Subjects: []string{"e.*"}, Storage: st})
		h.pub("e.a", "1", hdrMsgID, "m1") // seq 1
		h.pub("e.b", "2")                 // seq 2
		cases := []struct {
			name string
			subj string
			hdr  []string
			code uint16 // 0: accepted
			desc string
		}{
			{"stream ok", "e.a", []string{hdrExpStream, "E"}, 0, ""},
			{"stream wrong", "e.a", []string{hdrExpStream, "OTHER"}, 10060, "expected stream does not match"},
			{"last seq wrong", "e.a", []string{hdrExpLastSeq, "1"}, 10071, "wrong last sequence: 3"},
			{"last seq ok", "e.a", []string{hdrExpLastSeq, "3"}, 0, ""},
			{"subject seq wrong", "e.b", []string{hdrExpLastSubjSeq, "1"}, 10071, "wrong last sequence: 2"},
			{"subject seq ok", "e.b", []string{hdrExpLastSubjSeq, "2"}, 0, ""},
			{"new subject expects 0", "e.c", []string{hdrExpLastSubjSeq, "0"}, 0, ""},
			{"subject override", "e.a", []string{hdrExpLastSubjSeq, "5", hdrExpLastSubjSubj, "e.b"}, 0, ""},
			{"msg id wrong", "e.a", []string{hdrExpLastMsgID, "nope"}, 10070, "wrong last msg ID: "},
			{"msg id ok", "e.a", []string{hdrMsgID, "m2"}, 0, ""},
			{"msg id expected ok", "e.a", []string{hdrExpLastMsgID, "m2"}, 0, ""},
		}
		for _, c := range cases {
			a := h.pub(c.subj, "x", c.hdr...)
			switch {
			case c.code == 0 && a.Error != nil:
				t.Errorf("%s: rejected %v", c.name, a.Error)
			case c.code != 0 && (a.Error == nil || a.Error.ErrCode != c.code || a.Error.Description != c.desc):
				t.Errorf("%s: got %+v, want %d %q", c.name, a.Error, c.code, c.desc)
			case c.code != 0 && (a.Seq != 0 || a.Stream != "E"):
				t.Errorf("%s: rejected ack must name the stream with seq 0: %+v", c.name, a)
			}
		}
	})
}

func TestLimitsDiscardOld(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness, st Storage) {
		h.create(Config{Name: "MM", Subjects: []string{"mm"}, MaxMsgs: 3, Storage: st})
		for i := 0; i < 10; i++ {
			h.pub("mm", "x")
		}
		wantState(t, h.info("MM"), 3, 8, 10)

		// Each message is 2+1+16 = 19 bytes: 60 bytes hold 3.
		h.create(Config{Name: "MB", Subjects: []string{"mb"}, MaxBytes: 60, Storage: st})
		for i := 0; i < 10; i++ {
			h.pub("mb", "x")
		}
		si := h.info("MB")
		wantState(t, si, 3, 8, 10)
		if si.State.Bytes != 57 {
			t.Fatalf("bytes %d", si.State.Bytes)
		}

		h.create(Config{Name: "PS", Subjects: []string{"ps.*"}, MaxMsgsPerSubject: 2, Storage: st})
		for i := 0; i < 10; i++ {
			h.pub(fmt.Sprintf("ps.%d", i%3), "x")
		}
		var r streamInfoResponse
		h.b.api(t, "STREAM.INFO.PS", `{"subjects_filter":">"}`, &r)
		if r.State.Msgs != 6 || r.State.Subjects["ps.0"] != 2 || r.State.Subjects["ps.1"] != 2 {
			t.Fatalf("per subject: %+v", r.State)
		}
		// The oldest per subject went: seq 1 (ps.0) and 2 (ps.1) are gone.
		wantErr(t, h.b.api(t, "STREAM.MSG.GET.PS", `{"seq":1}`, nil), 10037)
	})
}

func TestLimitsDiscardNew(t *testing.T) {
	forEachStorage(t, func(t *testing.T, h *harness, st Storage) {
		h.create(Config{Name: "N", Subjects: []string{"n"}, MaxMsgs: 2, Discard: DiscardNew, Storage: st})
		h.pub("n", "1")
		h.pub("n", "2")
		a := h.pub("n", "3")
		if a.Error == nil || a.Error.ErrCode != 10077 || a.Error.Code != 503 || a.Error.Description != "maximum messages exceeded" {
			t.Fatalf("ack %+v", a.Error)
		}
		h.create(Config{Name: "NB", Subjects: []string{"nb"}, MaxBytes: 40, Discard: DiscardNew, Storage: st})
		h.pub("nb", "x")
		h.pub("nb", "x")
		if a := h.pub("nb", "x"); a.Error == nil || a.Error.Description != "maximum bytes exceeded" {
			t.Fatalf("ack %+v", a)
		}
		h.create(Config{Name: "NS", Subjects: []string{"ns.*"}, MaxMsgsPerSubject: 1, Discard: DiscardNew,
			DiscardNewPerSubject: true, Storage: st})
		h.pub("ns.a", "x")
		if a := h.pub("ns.a", "x"); a.Error == nil || a.Error.Description != "maximum messages per subject exceeded" {
			t.Fatalf("ack %+v", a)
		}
		if a := h.pub("ns.b", "x"); a.Error != nil {
			t.Fatalf("other subject refused: %+v", a)
		}
	})
}

func TestMaxMsgSize(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "S", Subjects: []string{"s"}, MaxMsgSize: 4})
	if a := h.pub("s", "1234"); a.Error != nil {
		t.Fatal(a.Error)
	}
	if a := h.pub("s", "12345"); a.Error == nil || a.Error.ErrCode != 10054 {
		t.Fatalf("ack %+v", a)
	}
}

func TestMaxAge(t *testing.T) {
	for _, st := range []Storage{FileStorage, MemoryStorage} {
		t.Run(st.String(), func(t *testing.T) {
			h, clock := newClockHarness(t)
			h.create(Config{Name: "A", Subjects: []string{"a"}, MaxAge: time.Second, Storage: st})
			h.pub("a", "1")
			h.pub("a", "2")
			clock.Advance(500 * time.Millisecond)
			h.pub("a", "3")
			clock.Advance(499 * time.Millisecond)
			wantState(t, h.info("A"), 3, 1, 3)
			// 1 and 2 expire 500ms before 3 does.
			advanceUntil(t, clock, time.Millisecond, func() bool { return h.info("A").State.Msgs < 2 })
			wantState(t, h.info("A"), 1, 3, 3)
			if now := clock.Now(); now.After(time.Date(2026, 1, 1, 0, 0, 1, 400e6, time.UTC)) {
				t.Fatalf("1 and 2 expired late, at %v", now)
			}
			clock.Advance(500 * time.Millisecond)
			advanceUntil(t, clock, time.Millisecond, func() bool { return h.info("A").State.Msgs == 0 })
			wantState(t, h.info("A"), 0, 4, 3) // expiry keeps last
		})
	}
}

func TestMaxAgeAfterRestart(t *testing.T) {
	h, clock := newClockHarness(t)
	h.create(Config{Name: "A", Subjects: []string{"a"}, MaxAge: 150 * time.Millisecond})
	h.pub("a", "1")
	h.restart()
	advanceUntil(t, clock, 10*time.Millisecond, func() bool { return h.info("A").State.Msgs == 0 })
	if clock.Now().Before(time.Date(2026, 1, 1, 0, 0, 0, 150e6, time.UTC)) {
		t.Fatal("expired before max_age")
	}
	waitFor(t, func() bool { return h.info("A").State.Msgs == 0 })
}

func TestSealedAndDeny(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "S", Subjects: []string{"s"}, DenyDelete: true, DenyPurge: true})
	h.pub("s", "x")
	wantErr(t, h.b.api(t, "STREAM.MSG.DELETE.S", `{"seq":1}`, nil), 10057)
	wantErr(t, h.b.api(t, "STREAM.PURGE.S", nil, nil), 10110)
	if e := h.b.api(t, "STREAM.UPDATE.S", Config{Name: "S", Subjects: []string{"s"}, Sealed: true, DenyDelete: true, DenyPurge: true}, nil); e != nil {
		t.Fatal(e)
	}
	if a := h.pub("s", "x"); a.Error == nil || a.Error.ErrCode != 10109 {
		t.Fatalf("sealed accepted: %+v", a)
	}
}

func TestConcurrentPublishersContiguous(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "C", Subjects: []string{"c.*"}})
	const writers, each = 8, 200
	var wg sync.WaitGroup
	seqs := make(chan uint64, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				a := h.b.publish(t, fmt.Sprintf("c.%d", w), nil, "x")
				if a.Error != nil {
					t.Error(a.Error)
					return
				}
				seqs <- a.Seq
			}
		}(w)
	}
	wg.Wait()
	close(seqs)
	seen := map[uint64]bool{}
	for s := range seqs {
		if seen[s] {
			t.Fatalf("seq %d acked twice", s)
		}
		seen[s] = true
	}
	for s := uint64(1); s <= writers*each; s++ {
		if !seen[s] {
			t.Fatalf("seq %d missing", s)
		}
	}
}

func TestPublishWithoutReplyStillStored(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "Q", Subjects: []string{"q"}})
	h.b.Publish("q", "", nil, []byte("fire and forget"))
	waitFor(t, func() bool { return h.info("Q").State.Msgs == 1 })
}

func TestHeaderValue(t *testing.T) {
	hdr := []byte("NATS/1.0\r\nA: 1\r\nnats-msg-id:  abc \r\nB:\r\n\r\n")
	if v := string(headerValue(hdr, "Nats-Msg-Id")); v != "abc" {
		t.Fatalf("got %q", v)
	}
	if v := headerValue(hdr, "B"); v == nil || len(v) != 0 {
		t.Fatalf("empty value: %q", v)
	}
	if headerValue(hdr, "C") != nil || headerValue([]byte("junk"), "A") != nil {
		t.Fatal("found a missing header")
	}
	if !strings.HasPrefix(string(directGetHeader("S", []byte("a"), 1, 1, hdr)), "NATS/1.0\r\nA: 1\r\n") {
		t.Fatal("direct get header does not keep stored headers")
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
