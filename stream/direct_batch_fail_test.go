package stream

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/wisp-mq/wisp/stream/store"
)

// failingReader fails the reads of one sequence with an I/O error.
type failingReader struct {
	store.Reader
	seq uint64
}

var errDiskRead = errors.New("disk read failed")

func (f failingReader) Msg(id uint32, seq uint64) (*store.Msg, error) {
	if seq == f.seq {
		return nil, errDiskRead
	}
	return f.Reader.Msg(id, seq)
}

func (f failingReader) Next(id uint32, from uint64) (*store.Msg, error) {
	if from == f.seq {
		return nil, errDiskRead
	}
	return f.Reader.Next(id, from)
}

func (f failingReader) Msgs(id uint32, seqs []uint64, fn func(*store.Msg) bool) error {
	err := f.Reader.Msgs(id, seqs, func(m *store.Msg) bool {
		return m.Seq < f.seq && fn(m)
	})
	if err != nil {
		return err
	}
	for _, s := range seqs {
		if s >= f.seq {
			return errDiskRead
		}
	}
	return nil
}

// TestDirectBatchReadErrorIsNotEndOfBatch: a store read that fails in the
// middle of a batched direct get ends the reply with an error status, not
// with the end-of-batch a complete reply ends with, in each of its forms
// (from a sequence, on a subject, multi_last).
func TestDirectBatchReadErrorIsNotEndOfBatch(t *testing.T) {
	h := newHarness(t)
	h.create(Config{Name: "D", Subjects: []string{"d.>"}, AllowDirect: true})
	for _, subj := range []string{"d.a", "d.b", "d.c"} {
		if a := h.pub(subj, "x"); a.Error != nil {
			t.Fatal(a.Error)
		}
	}
	h.svc.directReads = func(r store.Reader) directReader { return failingReader{Reader: r, seq: 2} }
	for _, body := range []string{`{"seq":1,"batch":3}`, `{"seq":1,"batch":3,"next_by_subj":"d.>"}`, `{"multi_last":["d.>"]}`} {
		var mu sync.Mutex
		var got []string
		cancel, err := h.b.Subscribe("_INBOX.direct", "", func(_, _, hdr, _ []byte) {
			mu.Lock()
			got = append(got, strings.SplitN(string(hdr), "\r\n", 2)[0])
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		h.svc.directGet("D", "_INBOX.direct", []byte(body))
		cancel()
		mu.Lock()
		last := got[len(got)-1]
		n := len(got)
		mu.Unlock()
		if n != 2 || last != "NATS/1.0 500 Internal Server Error" {
			t.Errorf("%s: replies %q, want the first message then a 500 status", body, got)
		}
	}
}
