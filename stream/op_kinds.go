package stream

// The operation kinds (op.go). Times are unix nanoseconds, decided by the
// proposer; a zero time means none.

// opPublish stores one message. Now is when it was received: the
// message's time is Now, raised to keep times in sequence order, and the
// duplicate window is measured from it.
//
// From says where a mirror or a source copied it from (copier.go): a
// mirror's origin sequence, which the message keeps, and a source's
// progress, stored with it. Zero for a message published here.
type opPublish struct {
	Now                   int64
	From                  copied
	Subject, Header, Data []byte
}

// opDeleteMsg removes one message.
type opDeleteMsg struct{ Seq uint64 }

// opPurge removes what a purge request selects.
type opPurge struct {
	Filter    string
	Seq, Keep uint64
}

// opExpire removes the messages older than max_age at Now.
type opExpire struct{ Now int64 }

// opStreamCreate defines a stream. Config is its JSON, as stored.
type opStreamCreate struct {
	Created int64
	Config  []byte
}

// opStreamUpdate replaces the stream's config (JSON) and trims it to its
// limits, with Now as the age cut-off's time.
type opStreamUpdate struct {
	Now    int64
	Config []byte
}

// opStreamDelete deletes the stream with its messages and consumers.
type opStreamDelete struct{}

// opConsumerCreate defines a consumer at its start position: Next, and
// the last-per-subject sequences to deliver first (LPS), both decided
// from the stream when it was proposed.
type opConsumerCreate struct {
	Created int64
	Config  []byte
	Next    uint64
	LPS     []uint64
}

// opConsumerUpdate replaces a consumer's config (JSON).
type opConsumerUpdate struct{ Config []byte }

// opConsumerRemove deletes a consumer and its stored state.
type opConsumerRemove struct{}

// opConsumerPause sets pause_until (Until; 0 for none), looked at Now.
type opConsumerPause struct{ Until, Now int64 }

// opConsumerReset restarts delivery at Seq (resolved: never 0) with fresh
// delivery state.
type opConsumerReset struct{ Seq uint64 }

// opAck acknowledges Seq (and, under ack all, everything below it).
type opAck struct {
	Seq uint64
	Now int64
}

// opNak asks for Seq again: at Deadline, or at once when it is 0. At
// max_deliver the message is passed over instead.
type opNak struct {
	Seq           uint64
	Now, Deadline int64
}

// opTerm stops redelivering Seq: it counts as acknowledged.
type opTerm struct {
	Seq uint64
	Now int64
}

// opProgress (+WPI) moves Seq's redelivery deadline to Deadline.
type opProgress struct {
	Seq      uint64
	Deadline int64
}

// opDeliver records a delivery of Seq at Now, redelivered or first, due
// to be redelivered at Deadline (0 under ack none).
type opDeliver struct {
	Seq        uint64
	Redelivery bool
	Now        int64
	Deadline   int64
}

// opRedeliverDue queues every delivery whose deadline is not after Now
// for redelivery, and passes over those delivered max_deliver times.
type opRedeliverDue struct{ Now int64 }

// opForget drops pending Seq, which left the stream before it could be
// redelivered: it is as good as acknowledged.
type opForget struct{ Seq uint64 }

// opConsumerFlush writes the consumer's changed state and removes the
// messages its acks released from a workqueue or interest stream.
type opConsumerFlush struct{}

// opRemoveUnheld removes those of Seqs that no consumer of an interest
// stream holds any more.
type opRemoveUnheld struct{ Seqs []uint64 }

func (*opPublish) kind() opKind        { return kindPublish }
func (*opDeleteMsg) kind() opKind      { return kindDeleteMsg }
func (*opPurge) kind() opKind          { return kindPurge }
func (*opExpire) kind() opKind         { return kindExpire }
func (*opStreamCreate) kind() opKind   { return kindStreamCreate }
func (*opStreamUpdate) kind() opKind   { return kindStreamUpdate }
func (*opStreamDelete) kind() opKind   { return kindStreamDelete }
func (*opConsumerCreate) kind() opKind { return kindConsumerCreate }
func (*opConsumerUpdate) kind() opKind { return kindConsumerUpdate }
func (*opConsumerRemove) kind() opKind { return kindConsumerRemove }
func (*opConsumerPause) kind() opKind  { return kindConsumerPause }
func (*opConsumerReset) kind() opKind  { return kindConsumerReset }
func (*opAck) kind() opKind            { return kindAck }
func (*opNak) kind() opKind            { return kindNak }
func (*opTerm) kind() opKind           { return kindTerm }
func (*opProgress) kind() opKind       { return kindProgress }
func (*opDeliver) kind() opKind        { return kindDeliver }
func (*opRedeliverDue) kind() opKind   { return kindRedeliverDue }
func (*opForget) kind() opKind         { return kindForget }
func (*opConsumerFlush) kind() opKind  { return kindConsumerFlush }
func (*opRemoveUnheld) kind() opKind   { return kindRemoveUnheld }

func (o *opPublish) encodeFields(w *opWriter) {
	w.i(o.Now)
	w.u(o.From.at)
	w.str(o.From.key)
	w.u(o.From.seq)
	w.bytes(o.Subject)
	w.bytes(o.Header)
	*w = append(*w, o.Data...)
}

func (o *opPublish) decodeFields(r *opReader) {
	o.Now = r.i()
	o.From.at = r.u()
	if key := r.bytes(); len(key) > 0 {
		o.From.key = string(key)
	}
	o.From.seq = r.u()
	o.Subject = r.bytes()
	if o.Header = r.bytes(); len(o.Header) == 0 {
		o.Header = nil
	}
	o.Data = r.rest()
	if r.err == nil && len(o.Subject) == 0 {
		r.fail("subject")
	}
}

func (o *opDeleteMsg) encodeFields(w *opWriter) { w.u(o.Seq) }
func (o *opDeleteMsg) decodeFields(r *opReader) { o.Seq = r.u() }

func (o *opPurge) encodeFields(w *opWriter) { w.str(o.Filter); w.u(o.Seq); w.u(o.Keep) }
func (o *opPurge) decodeFields(r *opReader) { o.Filter = r.str(); o.Seq = r.u(); o.Keep = r.u() }

func (o *opExpire) encodeFields(w *opWriter) { w.i(o.Now) }
func (o *opExpire) decodeFields(r *opReader) { o.Now = r.i() }

func (o *opStreamCreate) encodeFields(w *opWriter) { w.i(o.Created); w.bytes(o.Config) }
func (o *opStreamCreate) decodeFields(r *opReader) { o.Created = r.i(); o.Config = r.bytes() }

func (o *opStreamUpdate) encodeFields(w *opWriter) { w.i(o.Now); w.bytes(o.Config) }
func (o *opStreamUpdate) decodeFields(r *opReader) { o.Now = r.i(); o.Config = r.bytes() }

func (o *opStreamDelete) encodeFields(*opWriter) {}
func (o *opStreamDelete) decodeFields(*opReader) {}

func (o *opConsumerCreate) encodeFields(w *opWriter) {
	w.i(o.Created)
	w.bytes(o.Config)
	w.u(o.Next)
	w.seqs(o.LPS)
}

func (o *opConsumerCreate) decodeFields(r *opReader) {
	o.Created = r.i()
	o.Config = r.bytes()
	o.Next = r.u()
	if o.LPS = r.seqs(); len(o.LPS) == 0 {
		o.LPS = nil
	}
}

func (o *opConsumerUpdate) encodeFields(w *opWriter) { w.bytes(o.Config) }
func (o *opConsumerUpdate) decodeFields(r *opReader) { o.Config = r.bytes() }

func (o *opConsumerRemove) encodeFields(*opWriter) {}
func (o *opConsumerRemove) decodeFields(*opReader) {}

func (o *opConsumerPause) encodeFields(w *opWriter) { w.i(o.Until); w.i(o.Now) }
func (o *opConsumerPause) decodeFields(r *opReader) { o.Until = r.i(); o.Now = r.i() }

func (o *opConsumerReset) encodeFields(w *opWriter) { w.u(o.Seq) }
func (o *opConsumerReset) decodeFields(r *opReader) {
	if o.Seq = r.u(); r.err == nil && o.Seq == 0 {
		r.fail("reset sequence")
	}
}

func (o *opAck) encodeFields(w *opWriter) { w.u(o.Seq); w.i(o.Now) }
func (o *opAck) decodeFields(r *opReader) { o.Seq = r.u(); o.Now = r.i() }

func (o *opNak) encodeFields(w *opWriter) { w.u(o.Seq); w.i(o.Now); w.i(o.Deadline) }
func (o *opNak) decodeFields(r *opReader) { o.Seq = r.u(); o.Now = r.i(); o.Deadline = r.i() }

func (o *opTerm) encodeFields(w *opWriter) { w.u(o.Seq); w.i(o.Now) }
func (o *opTerm) decodeFields(r *opReader) { o.Seq = r.u(); o.Now = r.i() }

func (o *opProgress) encodeFields(w *opWriter) { w.u(o.Seq); w.i(o.Deadline) }
func (o *opProgress) decodeFields(r *opReader) { o.Seq = r.u(); o.Deadline = r.i() }

func (o *opDeliver) encodeFields(w *opWriter) {
	w.u(o.Seq)
	w.flag(o.Redelivery)
	w.i(o.Now)
	w.i(o.Deadline)
}

func (o *opDeliver) decodeFields(r *opReader) {
	o.Seq = r.u()
	o.Redelivery = r.flag()
	o.Now = r.i()
	o.Deadline = r.i()
}

func (o *opRedeliverDue) encodeFields(w *opWriter) { w.i(o.Now) }
func (o *opRedeliverDue) decodeFields(r *opReader) { o.Now = r.i() }

func (o *opForget) encodeFields(w *opWriter) { w.u(o.Seq) }
func (o *opForget) decodeFields(r *opReader) { o.Seq = r.u() }

func (o *opConsumerFlush) encodeFields(*opWriter) {}
func (o *opConsumerFlush) decodeFields(*opReader) {}

func (o *opRemoveUnheld) encodeFields(w *opWriter) { w.seqs(o.Seqs) }
func (o *opRemoveUnheld) decodeFields(r *opReader) {
	if o.Seqs = r.seqs(); len(o.Seqs) == 0 {
		o.Seqs = nil
	}
}

// opDeadLettered gives up on Seq, held at max_deliver until its
// dead-letter copy was stored (deadletter.go), at Now.
type opDeadLettered struct {
	Seq uint64
	Now int64
}

func (*opDeadLettered) kind() opKind               { return kindDeadLettered }
func (o *opDeadLettered) encodeFields(w *opWriter) { w.u(o.Seq); w.i(o.Now) }
func (o *opDeadLettered) decodeFields(r *opReader) { o.Seq = r.u(); o.Now = r.i() }

// opDeadLetterHold stops redelivering Seq, terminated (+TERM) on a
// consumer with a dead-letter subject, until its copy is stored and the
// term is applied (deadletter.go).
type opDeadLetterHold struct{ Seq uint64 }

func (*opDeadLetterHold) kind() opKind               { return kindDeadLetterHold }
func (o *opDeadLetterHold) encodeFields(w *opWriter) { w.u(o.Seq) }
func (o *opDeadLetterHold) decodeFields(r *opReader) { o.Seq = r.u() }

// opExpireTTL removes the messages whose own TTL (Nats-TTL) ran out by
// Now, leaving subject delete markers where the stream asks for them
// (ttl.go, markers.go).
type opExpireTTL struct{ Now int64 }

func (*opExpireTTL) kind() opKind { return kindExpireTTL }

func (o *opExpireTTL) encodeFields(w *opWriter) { w.i(o.Now) }
func (o *opExpireTTL) decodeFields(r *opReader) { o.Now = r.i() }

// opFireSchedules fires every message schedule due by Now: each stores
// the message it produces, and is removed or moved to its next firing,
// computed from Now (schedule.go).
type opFireSchedules struct{ Now int64 }

func (*opFireSchedules) kind() opKind { return kindFireSchedules }

func (o *opFireSchedules) encodeFields(w *opWriter) { w.i(o.Now) }
func (o *opFireSchedules) decodeFields(r *opReader) { o.Now = r.i() }

// opDeliverBatch records the deliveries one pass of a replicated
// consumer's driver chose, at Now, in order: a replicated consumer's
// deliveries change its state only when their entry applies, and one
// entry per pass keeps that to one proposal for many messages. Apply
// skips a redelivery of a message no longer pending (acknowledged
// meanwhile).
type opDeliverBatch struct {
	Now   int64
	Items []deliverItem
}

// deliverItem is one delivery of an opDeliverBatch.
type deliverItem struct {
	Seq        uint64
	Redelivery bool
	Deadline   int64
}

func (*opDeliverBatch) kind() opKind { return kindDeliverBatch }

func (o *opDeliverBatch) encodeFields(w *opWriter) {
	w.i(o.Now)
	w.u(uint64(len(o.Items)))
	for _, it := range o.Items {
		w.u(it.Seq)
		w.flag(it.Redelivery)
		w.i(it.Deadline)
	}
}

func (o *opDeliverBatch) decodeFields(r *opReader) {
	o.Now = r.i()
	n := r.u()
	if r.err != nil || n > uint64(len(r.b))/3 { // each item takes at least three bytes
		r.fail("delivery list")
		return
	}
	o.Items = make([]deliverItem, 0, n)
	for range n {
		o.Items = append(o.Items, deliverItem{Seq: r.u(), Redelivery: r.flag(), Deadline: r.i()})
	}
}

// opAckBatch acknowledges Seqs, in order, at Now: the acks a replicated
// consumer's leader gathered while its previous ack entry was on its
// way through the log.
type opAckBatch struct {
	Now  int64
	Seqs []uint64
}

func (*opAckBatch) kind() opKind { return kindAckBatch }

func (o *opAckBatch) encodeFields(w *opWriter) {
	w.i(o.Now)
	w.seqs(o.Seqs)
}

func (o *opAckBatch) decodeFields(r *opReader) {
	o.Now = r.i()
	o.Seqs = r.seqs()
}
