package mqtt

import (
	"errors"
	"slices"
	"strings"
	"sync"
)

// session is a client's subscriptions and the QoS 1 messages it has in
// flight. A persistent session's subscriptions are also stored
// (sessionRecord), with the consumers that keep its QoS 1 messages while
// it is away.
type session struct {
	c *conn

	mu     sync.Mutex
	subs   map[string]*subState // by filter as the client sent it
	closed bool
	opened bool // openSession succeeded: this connection owns the stored session
	// inflight maps a packet id to the acknowledgement subject of the
	// stream message it carries ("" for a retained message), and byMsg
	// the other way, so a redelivery reuses its packet id.
	inflight map[uint16]inflightMsg
	byMsg    map[msgKey]uint16
	nextID   uint16
}

// msgKey names a message a session delivers: a consumer and a stream
// sequence, read in place from the acknowledgement subject so that
// naming a delivery allocates nothing beyond that subject.
type msgKey struct {
	consumer string
	seq      string
}

type inflightMsg struct {
	ack string
	key msgKey
	// released is set for a QoS 2 message once the client's PUBREC came:
	// the stream message is acknowledged and PUBCOMP is awaited.
	released bool
}

// subState is one subscription: a filter, its subjects, and what
// receives its messages.
type subState struct {
	filter     string // as the client sent it, $share prefix included
	qos        byte   // granted
	group      string // shared subscription group, "" for none
	subjects   []string
	skipDollar bool   // a filter starting with a wildcard: no $ topics
	consumer   string // durable holding its QoS 1 messages; "" at QoS 0
	cancels    []func()
}

// errSubscribeRefused marks a filter refused with SUBACK 0x80.
var errSubscribeRefused = errors.New("mqtt: subscription refused")

func newSession(c *conn) *session {
	return &session{c: c, subs: map[string]*subState{}, inflight: map[uint16]inflightMsg{}, byMsg: map[msgKey]uint16{}}
}

// openSession sets up the client's session: a persistent one is loaded
// (session present) or created; a clean one replaces whatever was stored.
func (c *conn) openSession() (present bool, err error) {
	rec, err := c.acc.loadSession(c.clientID)
	if err != nil {
		return false, err
	}
	c.sess.mu.Lock()
	c.sess.opened = true
	c.sess.mu.Unlock()
	if c.clean {
		if rec != nil {
			c.dropStored(rec)
		}
		// QoS 2 messages of an earlier session that never got PUBREL.
		if err := c.acc.dropQoS2(c.clientID); err != nil {
			return false, err
		}
		return false, nil
	}
	if rec == nil {
		return false, c.acc.saveSession(&sessionRecord{ClientID: c.clientID})
	}
	for _, f := range rec.Subs {
		st, err := c.newSub(f.Filter, f.QoS)
		if err != nil {
			c.svc.log.Warn("mqtt stored subscription not restored", "client", c.clientID, "filter", f.Filter, "err", err)
			continue
		}
		if f.Consumer != "" && st.group == "" {
			st.consumer = f.Consumer
		}
		c.sess.subs[f.Filter] = st
	}
	return true, nil
}

// resume starts the restored subscriptions once CONNACK is queued.
func (s *session) resume() {
	s.mu.Lock()
	subs := make([]*subState, 0, len(s.subs))
	for _, st := range s.subs {
		subs = append(subs, st)
	}
	s.mu.Unlock()
	for _, st := range subs {
		if err := s.c.startSub(st); err != nil {
			s.c.svc.log.Warn("mqtt stored subscription not restored", "client", s.c.clientID, "filter", st.filter, "err", err)
		}
	}
}

// dropStored deletes a stored session and its consumers.
func (c *conn) dropStored(rec *sessionRecord) {
	for _, f := range rec.Subs {
		if f.Consumer != "" && !strings.HasPrefix(f.Filter, sharePrefix) {
			_ = c.acc.deleteConsumer(f.Consumer)
		}
	}
	if err := c.acc.deleteSession(c.clientID); err != nil {
		c.svc.log.Warn("mqtt stored session not deleted", "client", c.clientID, "err", err)
	}
}

// close stops every subscription. A clean session's consumers and record
// go too; a persistent one's stay for the next connection.
func (s *session) close() {
	s.mu.Lock()
	s.closed = true
	subs := s.subs
	opened := s.opened
	s.mu.Unlock()
	if !opened {
		return // refused before it took the client id over
	}
	for _, st := range subs {
		st.stop()
		if s.c.clean && st.consumer != "" && st.group == "" {
			_ = s.c.acc.deleteConsumer(st.consumer)
		}
	}
	if s.c.clean {
		_ = s.c.acc.dropQoS2(s.c.clientID)
	}
}

func (st *subState) stop() {
	for _, cancel := range st.cancels {
		cancel()
	}
	st.cancels = nil
}

// subjects lists the subjects subscribed, for monitoring.
func (s *session) subjects() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, st := range s.subs {
		out = append(out, st.subjects...)
	}
	slices.Sort(out)
	return out
}

const sharePrefix = "$share/"

// newSub parses a filter (with an optional $share/<group>/ prefix) and
// checks it against the user's permissions.
func (c *conn) newSub(filter string, qos byte) (*subState, error) {
	st := &subState{filter: filter, qos: min(qos, 2)}
	if c.svc.opts.DowngradeQoS2Subscribe {
		st.qos = min(qos, 1)
	}
	f := filter
	if strings.HasPrefix(f, sharePrefix) {
		rest := f[len(sharePrefix):]
		i := strings.IndexByte(rest, '/')
		if i <= 0 || i == len(rest)-1 || strings.ContainsAny(rest[:i], "+#") {
			return nil, errBadFilter
		}
		st.group, f = rest[:i], rest[i+1:]
	}
	subjects, err := filterToSubjects([]byte(f))
	if err != nil {
		return nil, err
	}
	st.subjects = subjects
	st.skipDollar = f[0] == '+' || f[0] == '#'
	if can := c.login.CanSubscribe; can != nil {
		// The filter's own subject decides; the parent level that "a/#"
		// adds is only subscribed to when the user may.
		if !can(subjects[len(subjects)-1], st.group) {
			return nil, errSubscribeRefused
		}
		if len(subjects) == 2 && !can(subjects[0], st.group) {
			st.subjects = subjects[1:]
		}
	}
	return st, nil
}

// startSub subscribes: plain subscriptions for messages published at QoS 0
// (and by NATS clients), and at QoS 1 the consumer's deliver subject.
func (c *conn) startSub(st *subState) error {
	b := c.acc.b
	for _, s := range st.subjects {
		cancel, err := b.Subscribe(s, st.group, c.plainHandler(st))
		if err != nil {
			st.stop()
			return err
		}
		st.cancels = append(st.cancels, cancel)
	}
	if st.qos == 0 {
		return nil
	}
	if st.consumer == "" {
		if st.group != "" {
			st.consumer = sharedConsumerName(st.group, st.filter)
		} else {
			st.consumer = newConsumerName(c.clientID)
		}
	}
	if err := c.acc.ensureConsumer(st.consumer, st.group, st.subjects); err != nil {
		st.stop()
		return err
	}
	cancel, err := b.Subscribe(deliverPrefix+st.consumer, st.group, c.streamHandler(st))
	if err != nil {
		st.stop()
		return err
	}
	st.cancels = append(st.cancels, cancel)
	return nil
}

// plainHandler delivers core messages at QoS 0.
func (c *conn) plainHandler(st *subState) func(subject, reply, hdr, data []byte) {
	return func(subject, _, hdr, data []byte) {
		if st.skipDollar && len(subject) > 0 && subject[0] == '$' {
			return
		}
		if st.qos > 0 && publishedQoS(hdr) > 0 {
			return // the stream delivers it, at QoS 1
		}
		c.sendPublish(0, subject, 0, data)
	}
}

// streamHandler delivers the consumer's messages at the lower of the
// published and the granted QoS (1 or 2), keeping the acknowledgement
// subject until the client's PUBACK (or PUBREC, at QoS 2).
func (c *conn) streamHandler(st *subState) func(subject, reply, hdr, data []byte) {
	return func(subject, reply, hdr, data []byte) {
		if len(subject) <= len(msgsPrefix) || len(reply) == 0 {
			return
		}
		subj := subject[len(msgsPrefix):]
		if st.skipDollar && subj[0] == '$' {
			return
		}
		ack := string(reply)
		key, redelivered := ackKey(ack)
		id, ok := c.sess.track(ack, key)
		if !ok {
			return // no packet id free: the stream sends it again later
		}
		flags := flagQoS1
		if min(st.qos, publishedQoS(hdr)) == 2 {
			flags = flagQoS2
		}
		if redelivered {
			flags |= flagDup
		}
		c.sendPublish(flags, subj, id, data)
	}
}

// ackKey names a stream message by consumer and stream sequence from its
// acknowledgement subject ($JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.
// ...), and says whether it was delivered before. It reads the tokens in
// place, allocating nothing.
func ackKey(ack string) (key msgKey, redelivered bool) {
	n := strings.Count(ack, ".") + 1
	if n < 9 {
		return msgKey{consumer: ack}, false
	}
	i := n - 9 // newer forms add a domain and account hash
	if n >= 12 {
		i = n - 12 + 2
	}
	consumer, delivered, sseq := token(ack, i+3), token(ack, i+4), token(ack, i+5)
	return msgKey{consumer: consumer, seq: sseq}, delivered != "1"
}

// token returns the k-th (from 0) dot-separated token of s.
func token(s string, k int) string {
	for ; k > 0; k-- {
		dot := strings.IndexByte(s, '.')
		if dot < 0 {
			return ""
		}
		s = s[dot+1:]
	}
	if dot := strings.IndexByte(s, '.'); dot >= 0 {
		return s[:dot]
	}
	return s
}

// track gives a message a packet id (its old one when the stream sends it
// again). ok is false when every id is in use.
func (s *session) track(ack string, key msgKey) (id uint16, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, false
	}
	if id, ok := s.byMsg[key]; ok {
		s.inflight[id] = inflightMsg{ack: ack, key: key}
		return id, true
	}
	if len(s.inflight) >= MaxAckPendingLimit {
		return 0, false
	}
	for {
		s.nextID++
		if s.nextID == 0 {
			s.nextID = 1
		}
		if _, used := s.inflight[s.nextID]; !used {
			break
		}
	}
	s.inflight[s.nextID] = inflightMsg{ack: ack, key: key}
	s.byMsg[key] = s.nextID
	return s.nextID, true
}

// acked handles a PUBACK (or a PUBCOMP, which ends a QoS 2 delivery):
// the stream message is acknowledged, if it was not already.
func (s *session) acked(id uint16) {
	s.mu.Lock()
	m, ok := s.inflight[id]
	delete(s.inflight, id)
	if ok {
		delete(s.byMsg, m.key)
	}
	s.mu.Unlock()
	if ok && m.ack != "" && !m.released {
		_ = s.c.acc.b.Publish(m.ack, "", nil, nil)
	}
}

// received handles a PUBREC for a QoS 2 delivery: the client has the
// message, so the stream message is acknowledged (it will not be sent
// again), and the id stays taken until PUBCOMP.
func (s *session) received(id uint16) {
	s.mu.Lock()
	m, ok := s.inflight[id]
	first := ok && !m.released
	if first {
		m.released = true
		s.inflight[id] = m
		delete(s.byMsg, m.key)
	}
	s.mu.Unlock()
	if first && m.ack != "" {
		_ = s.c.acc.b.Publish(m.ack, "", nil, nil)
	}
}

// record is the session as stored.
func (s *session) record() *sessionRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := &sessionRecord{ClientID: s.c.clientID}
	for _, st := range s.subs {
		rec.Subs = append(rec.Subs, storedFilter{Filter: st.filter, QoS: st.qos, Consumer: st.consumer})
	}
	slices.SortFunc(rec.Subs, func(a, b storedFilter) int { return strings.Compare(a.Filter, b.Filter) })
	return rec
}

// handleSubscribe subscribes to each filter, answers SUBACK, stores a
// persistent session, then sends the retained messages.
func (c *conn) handleSubscribe(id uint16, filters []topicFilter) error {
	codes := c.codes[:0]
	var started []*subState
	for _, f := range filters {
		st, err := c.subscribe(string(f.filter), f.qos)
		if err != nil {
			c.svc.log.Info("mqtt subscription refused", "client", c.clientID, "filter", string(f.filter), "err", err)
			codes = append(codes, subackFailure)
			continue
		}
		codes = append(codes, st.qos)
		started = append(started, st)
	}
	c.codes = codes
	if !c.clean {
		if err := c.acc.saveSession(c.sess.record()); err != nil {
			c.svc.log.Warn("mqtt session not stored", "client", c.clientID, "err", err)
		}
	}
	c.out.write(func(b []byte) []byte { return appendSuback(b, id, codes) })
	if len(started) == 0 {
		return nil
	}
	// Read after the subscriptions started: newer retained messages reach
	// them live, and must not come twice.
	last, err := c.acc.retainedLastSeq()
	if err != nil {
		c.svc.log.Warn("mqtt retained messages not sent", "client", c.clientID, "err", err)
		return nil
	}
	for _, st := range started {
		if st.group == "" {
			c.sendRetained(st, last)
		}
	}
	return nil
}

// subscribe adds or replaces the subscription to one filter.
func (c *conn) subscribe(filter string, qos byte) (*subState, error) {
	st, err := c.newSub(filter, qos)
	if err != nil {
		return nil, err
	}
	s := c.sess
	s.mu.Lock()
	old := s.subs[filter]
	s.mu.Unlock()
	if old != nil {
		old.stop()
		if old.qos > 0 && st.qos > 0 {
			st.consumer = old.consumer // keep its pending messages
		} else if old.consumer != "" && old.group == "" {
			_ = c.acc.deleteConsumer(old.consumer)
		}
	}
	if err := c.startSub(st); err != nil {
		s.mu.Lock()
		delete(s.subs, filter)
		s.mu.Unlock()
		return nil, err
	}
	s.mu.Lock()
	s.subs[filter] = st
	s.mu.Unlock()
	return st, nil
}

// handleUnsubscribe removes filters and answers UNSUBACK.
func (c *conn) handleUnsubscribe(id uint16, filters []topicFilter) {
	s := c.sess
	for _, f := range filters {
		s.mu.Lock()
		st := s.subs[string(f.filter)]
		delete(s.subs, string(f.filter))
		s.mu.Unlock()
		if st == nil {
			continue
		}
		st.stop()
		if st.consumer != "" && st.group == "" {
			_ = c.acc.deleteConsumer(st.consumer)
		}
	}
	if !c.clean {
		if err := c.acc.saveSession(s.record()); err != nil {
			c.svc.log.Warn("mqtt session not stored", "client", c.clientID, "err", err)
		}
	}
	c.out.write(func(b []byte) []byte { return appendAck(b, pktUnsuback, id) })
}
