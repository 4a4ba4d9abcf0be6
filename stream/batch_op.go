package stream

// opBatch stores the messages of one atomic batch (batch.go) together or
// not at all: it is checked whole against the stream's rules before
// anything is written, then every message is stored in the same store
// batch. Now is when the commit arrived; every message's time derives
// from it as a publish's does. ID is the batch's id, for the PubAck.
type opBatch struct {
	Now  int64
	ID   string
	Msgs []batchMsg
}

// batchMsg is one message of a batch, its subject already transformed.
type batchMsg struct {
	Subject, Header, Data []byte
}

func (*opBatch) kind() opKind { return kindBatch }

func (o *opBatch) encodeFields(w *opWriter) {
	w.i(o.Now)
	w.str(o.ID)
	w.u(uint64(len(o.Msgs)))
	for i := range o.Msgs {
		m := &o.Msgs[i]
		w.bytes(m.Subject)
		w.bytes(m.Header)
		w.bytes(m.Data)
	}
}

func (o *opBatch) decodeFields(r *opReader) {
	o.Now = r.i()
	o.ID = r.str()
	n := r.u()
	if r.err == nil && (n == 0 || n > uint64(len(r.b))/3) { // each message takes at least three bytes
		r.fail("batch size")
		return
	}
	o.Msgs = make([]batchMsg, 0, n)
	for range n {
		m := batchMsg{Subject: r.bytes(), Header: r.bytes(), Data: r.bytes()}
		if r.err != nil {
			return
		}
		if len(m.Subject) == 0 {
			r.fail("subject")
			return
		}
		if len(m.Header) == 0 {
			m.Header = nil
		}
		o.Msgs = append(o.Msgs, m)
	}
	if r.err == nil && o.ID == "" {
		r.fail("batch id")
	}
}
