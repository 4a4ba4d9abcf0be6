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
	subject := string(subj)
	if c.login.CanPublish != nil && !c.login.CanPublish(subject) {
		c.svc.log.Warn("mqtt publish violation", "client", c.clientID, "subject", subject)
		// As nats-server: QoS 0 is dropped, QoS 1/2 still acknowledged so
		// the client does not resend forever.
		c.ackPublish(p.qos, p.id)
		return nil
	}
	if p.qos == 2 {
		// Held until PUBREL, then routed once (qos2.go).
		err = c.acc.holdQoS2(c.clientID, p.id, subject, p.payload, p.retain)
	} else {
		err = c.route(subject, p.payload, p.qos, p.retain)
	}
	if err != nil {
		c.svc.log.Warn("mqtt publish not stored", "client", c.clientID, "subject", subject, "err", err)
		return nil // no PUBACK or PUBREC: the client sends it again
	}
	c.ackPublish(p.qos, p.id)
	return nil
}

func (c *conn) ackPublish(qos byte, id uint16) {
	switch qos {
	case 1:
		c.out.write(func(b []byte) []byte { return appendAck(b, pktPuback, id) })
	case 2:
		c.out.write(func(b []byte) []byte { return appendAck(b, pktPubrec, id) })
	}
}

// route delivers a message to NATS and MQTT subscribers, keeps QoS 1 and
// 2 messages in the stream for MQTT subscriptions at QoS 1, and updates
// the topic's retained message.
func (c *conn) route(subject string, payload []byte, qos byte, retain bool) error {
	a := c.acc
	if retain {
		if err := a.setRetained(subject, payload, qos); err != nil {
			return err
		}
	}
	hdr := qosHeader(qos)
	if err := a.b.Publish(subject, "", hdr, payload); err != nil {
		return err
	}
	if qos > 0 {
		return a.js.store(msgsPrefix+subject, hdr, payload)
	}
	return nil
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
	if err := c.route(w.subject, w.payload, w.qos, w.retain); err != nil {
		c.svc.log.Warn("mqtt will not published", "client", c.clientID, "err", err)
	}
}
