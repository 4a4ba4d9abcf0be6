package mqtt

import (
	"strconv"
)

// Retained messages are the last message of each topic, stored in
// $MQTT_rmsgs under $MQTT.rmsgs.<subject> (one per subject), with the
// publisher's QoS in the header. An empty payload clears a topic's.

func (a *accountState) setRetained(subject string, payload []byte, qos byte) error {
	if len(payload) == 0 {
		req := map[string]string{"filter": retainedPrefix + subject}
		return a.js.call("$JS.API.STREAM.PURGE."+retainedStream, req, nil)
	}
	return a.js.store(retainedPrefix+subject, qosHeader(qos), payload)
}

// retainedMsg is one stored retained message.
type retainedMsg struct {
	Subject string `json:"subject"`
	Seq     uint64 `json:"seq"`
	Header  []byte `json:"hdrs"`
	Data    []byte `json:"data"`
}

// maxRetainedPerSubscribe bounds the retained messages one filter sends.
const maxRetainedPerSubscribe = 10000

// retainedLastSeq is the sequence of the newest retained message stored.
// A subscription that exists before it is read gets every later retained
// message live, so the retained messages it is sent stop there.
func (a *accountState) retainedLastSeq() (uint64, error) {
	var info struct {
		State struct {
			LastSeq uint64 `json:"last_seq"`
		} `json:"state"`
	}
	if err := a.js.call("$JS.API.STREAM.INFO."+retainedStream, nil, &info); err != nil {
		return 0, err
	}
	return info.State.LastSeq, nil
}

// retainedFor walks the retained messages matching subject up to sequence
// last, in stream order, until fn returns false.
func (a *accountState) retainedFor(subject string, last uint64, fn func(m *retainedMsg) bool) error {
	seq := uint64(1)
	for n := 0; n < maxRetainedPerSubscribe && seq <= last; n++ {
		var reply struct {
			Message *retainedMsg `json:"message"`
		}
		req := map[string]any{"seq": seq, "next_by_subj": retainedPrefix + subject}
		err := a.js.call("$JS.API.STREAM.MSG.GET."+retainedStream, req, &reply)
		if isAPIError(err, errCodeNoMessage) || err == nil && reply.Message == nil {
			return nil
		}
		if err != nil {
			return err
		}
		if reply.Message.Seq > last || !fn(reply.Message) {
			return nil
		}
		seq = reply.Message.Seq + 1
	}
	return nil
}

// sendRetained delivers the retained messages a new subscription matches,
// with RETAIN set, at the lower of the stored and the granted QoS.
func (c *conn) sendRetained(st *subState, last uint64) {
	for _, s := range st.subjects {
		err := c.acc.retainedFor(s, last, func(m *retainedMsg) bool {
			subj := []byte(m.Subject[len(retainedPrefix):])
			if st.skipDollar && len(subj) > 0 && subj[0] == '$' {
				return true
			}
			qos := min(st.qos, publishedQoS(m.Header))
			if qos == 0 {
				c.sendPublish(flagRetain, subj, 0, m.Data)
				return true
			}
			// Keyed by filter too: two filters matching one retained
			// message are two deliveries with two packet ids.
			id, ok := c.sess.track("", msgKey{"retained." + st.filter, strconv.FormatUint(m.Seq, 10)})
			if !ok {
				return false
			}
			flags := flagRetain | flagQoS1
			if qos == 2 {
				flags = flagRetain | flagQoS2
			}
			c.sendPublish(flags, subj, id, m.Data)
			return true
		})
		if err != nil {
			c.svc.log.Warn("mqtt retained messages not sent", "client", c.clientID, "subject", s, "err", err)
		}
	}
}

// sendPublish queues a PUBLISH of a message on subject. A subject too long
// for an MQTT topic (65535 bytes; a topic is never longer than its
// subject) is not delivered.
func (c *conn) sendPublish(flags byte, subject []byte, id uint16, payload []byte) {
	if len(subject) > 0xffff && topicLen(subject) > 0xffff {
		return
	}
	if c.out.write(func(b []byte) []byte {
		b = appendPublishHeader(b, flags, subject, id, len(payload))
		return append(b, payload...)
	}) {
		c.out.countMsg(len(payload))
	}
}
