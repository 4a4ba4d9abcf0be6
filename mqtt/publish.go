package mqtt

import (
	"bytes"
)

// The header that marks a message published by an MQTT client, with its
// QoS, as nats-server marks it. An MQTT subscription at QoS 1 or 2 skips
// a QoS 1 or 2 message on its plain subscription: the stream delivers it,
// with acknowledgement.
var (
	hdrQoS0 = []byte("NATS/1.0\r\nNmqtt-Pub: 0\r\n\r\n")
	hdrQoS1 = []byte("NATS/1.0\r\nNmqtt-Pub: 1\r\n\r\n")
	hdrQoS2 = []byte("NATS/1.0\r\nNmqtt-Pub: 2\r\n\r\n")
	hdrName = []byte("Nmqtt-Pub: ")
)

// publishedQoS is the QoS an MQTT publisher gave a message (0 for a NATS
// publish).
func publishedQoS(hdr []byte) byte {
	i := bytes.Index(hdr, hdrName)
	if i < 0 || i+len(hdrName) >= len(hdr) {
		return 0
	}
	switch hdr[i+len(hdrName)] {
	case '1':
		return 1
	case '2':
		return 2
	}
	return 0
}

func qosHeader(qos byte) []byte {
	switch qos {
	case 1:
		return hdrQoS1
	case 2:
		return hdrQoS2
	}
	return hdrQoS0
}

// handlePublish routes a client's PUBLISH. An error closes the client.
func (c *conn) handlePublish(p *publishPacket) error {
	c.inMsgs.Add(1)
	c.inBytes.Add(int64(len(p.payload)))
	subj, err := topicToSubject(c.subj[:0], p.topic)
	c.subj = subj
	if err != nil {
		return malformed("PUBLISH topic %q: %v", p.topic, err)
	}
	if bytes.HasPrefix(subj, []byte(reservedPrefix)) {
		return malformed("PUBLISH to reserved topic %q", p.topic)
	}
	if p.qos == 2 && c.svc.opts.RejectQoS2Publish {
		return malformed("QoS 2 publish refused (reject_qos2_publish)")
	}
	if c.login.CanPublish != nil {
		if subject := string(subj); !c.login.CanPublish(subject) {
			c.svc.log.Warn("mqtt publish violation", "client", c.clientID, "subject", subject)
			// As nats-server: QoS 0 is dropped, QoS 1/2 still acknowledged
			// so the client does not resend forever (a PUBACK in its turn).
			if p.qos == 1 {
				c.pubacks.add(p.id)(nil)
			} else {
				c.ackPublish(p.qos, p.id)
			}
			return nil
		}
	}
	switch p.qos {
	case 0:
		c.route(subj, p.payload, 0, p.retain, ignoreStored)
	case 1:
		// Stores are pipelined: the next packet is read while this one is
		// stored, and PUBACKs go out in order as stores complete.
		done := c.pubacks.add(p.id)
		c.route(subj, p.payload, 1, p.retain, done)
	case 2:
		// Held until PUBREL, then routed once (qos2.go).
		subject := string(subj)
		if err := c.acc.holdQoS2(c.clientID, p.id, subject, p.payload, p.retain); err != nil {
			c.svc.log.Warn("mqtt publish not stored", "client", c.clientID, "subject", subject, "err", err)
			return nil // no PUBREC: the client sends it again
		}
		c.ackPublish(2, p.id)
	}
	return nil
}

// ignoreStored is the outcome handler of a QoS 0 publish.
func ignoreStored(error) {}

func (c *conn) ackPublish(qos byte, id uint16) {
	switch qos {
	case 1:
		c.out.write(func(b []byte) []byte { return appendAck(b, pktPuback, id) })
	case 2:
		c.out.write(func(b []byte) []byte { return appendAck(b, pktPubrec, id) })
	}
}

// route delivers a message to NATS and MQTT subscribers, keeps QoS 1 and
// 2 messages in the stream for MQTT subscriptions at QoS 1 and 2, and
// updates the topic's retained message. done gets the outcome once the
// stream has stored the message (at once for QoS 0); it may run on
// another goroutine and must not block. It runs on the reader goroutine.
func (c *conn) route(subj, payload []byte, qos byte, retain bool, done func(error)) {
	a := c.acc
	if retain {
		if err := a.setRetained(string(subj), payload, qos); err != nil {
			done(err)
			return
		}
	}
	hdr := qosHeader(qos)
	if err := c.publish(subj, hdr, payload); err != nil {
		done(err)
		return
	}
	if qos == 0 {
		done(nil)
		return
	}
	a.js.storeAsync(msgsPrefix+string(subj), hdr, payload, done)
}

// maxKeptMsg bounds the routing buffer kept between messages: a client
// that once published a large payload does not hold its size for good.
const maxKeptMsg = 64 << 10

// publish publishes a message on subj for the account's subscribers. With
// a broker that takes the caller's buffers, the header and payload are
// joined in the reader's scratch buffer and nothing is allocated.
func (c *conn) publish(subj, hdr, payload []byte) error {
	a := c.acc
	if a.pm == nil {
		return a.b.Publish(string(subj), "", hdr, payload)
	}
	c.msg = append(append(c.msg[:0], hdr...), payload...)
	err := a.pm.PublishMsg(subj, "", c.msg, len(hdr))
	if cap(c.msg) > maxKeptMsg {
		c.msg = nil
	}
	return err
}

// routeWait is route for callers that need the outcome before going on.
func (c *conn) routeWait(subject string, payload []byte, qos byte, retain bool) error {
	ch := make(chan error, 1)
	c.route([]byte(subject), payload, qos, retain, func(err error) { ch <- err })
	return <-ch
}

// publishWill sends the will of a client that went away unannounced.
func (c *conn) publishWill() {
	if c.noWill.Load() {
		return
	}
	w := c.will
	if c.login.CanPublish != nil && !c.login.CanPublish(w.subject) {
		return
	}
	if err := c.routeWait(w.subject, w.payload, w.qos, w.retain); err != nil {
		c.svc.log.Warn("mqtt will not published", "client", c.clientID, "err", err)
	}
}
