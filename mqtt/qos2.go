package mqtt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// A QoS 2 PUBLISH is handled as nats-server handles it: the message is
// stored in $MQTT_qos2in under the client and packet id and answered with
// PUBREC; only PUBREL routes it, once, and deletes it. A PUBLISH resent
// with the same id before PUBREL replaces the stored copy, so it is not
// routed twice, across a reconnect or a restart as well.

// qos2Subject is where a client's QoS 2 message with packet id id waits.
func qos2Subject(clientID string, id uint16) string {
	return qos2Prefix + clientHash(clientID) + "." + strconv.Itoa(int(id))
}

// The stored message's header carries what routing it needs.
var (
	hdrSubject = []byte("Nmqtt-Subject: ")
	hdrRetain  = []byte("Nmqtt-Retain: 1")
)

// holdQoS2 stores a QoS 2 message until its PUBREL.
func (a *accountState) holdQoS2(clientID string, id uint16, subject string, payload []byte, retain bool) error {
	hdr := make([]byte, 0, 64+len(subject))
	hdr = append(hdr, "NATS/1.0\r\nNmqtt-Pub: 2\r\n"...)
	hdr = append(append(append(hdr, hdrSubject...), subject...), "\r\n"...)
	if retain {
		hdr = append(append(hdr, hdrRetain...), "\r\n"...)
	}
	hdr = append(hdr, "\r\n"...)
	return a.js.store(qos2Subject(clientID, id), hdr, payload)
}

// releaseQoS2 routes the QoS 2 message held under id, if any, and deletes
// it. An id with nothing held (released before) is no error.
func (c *conn) releaseQoS2(id uint16) error {
	a := c.acc
	subj := qos2Subject(c.clientID, id)
	var reply struct {
		Message *struct {
			Header []byte `json:"hdrs"`
			Data   []byte `json:"data"`
		} `json:"message"`
	}
	err := a.js.call("$JS.API.STREAM.MSG.GET."+qos2Stream, map[string]string{"last_by_subj": subj}, &reply)
	if isAPIError(err, errCodeNoMessage) || err == nil && reply.Message == nil {
		return nil
	}
	if err != nil {
		return err
	}
	m := reply.Message
	subject := headerValue(m.Header, hdrSubject)
	if subject == "" {
		return fmt.Errorf("mqtt: held QoS 2 message %s has no subject", subj)
	}
	if err := c.routeWait(subject, m.Data, 2, bytes.Contains(m.Header, hdrRetain)); err != nil {
		return err
	}
	return a.js.call("$JS.API.STREAM.PURGE."+qos2Stream, map[string]string{"filter": subj}, nil)
}

// dropQoS2 deletes a client's held QoS 2 messages (a clean session).
func (a *accountState) dropQoS2(clientID string) error {
	req := map[string]string{"filter": qos2Prefix + clientHash(clientID) + ".>"}
	var reply json.RawMessage
	if err := a.js.call("$JS.API.STREAM.PURGE."+qos2Stream, req, &reply); err != nil {
		return fmt.Errorf("mqtt: dropping held QoS 2 messages of %q: %w", clientID, err)
	}
	return nil
}

// headerValue returns the value of the header line starting with name.
func headerValue(hdr, name []byte) string {
	i := bytes.Index(hdr, name)
	if i < 0 {
		return ""
	}
	v := hdr[i+len(name):]
	if j := bytes.Index(v, []byte("\r\n")); j >= 0 {
		v = v[:j]
	}
	return string(v)
}
