package mqtt

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"
)

// connectPacket is a decoded CONNECT. Its slices point into the packet
// body and are valid only as long as it.
type connectPacket struct {
	level       byte
	cleanSess   bool
	keepAlive   uint16
	clientID    []byte
	willFlag    bool
	willQoS     byte
	willRetain  bool
	willTopic   []byte
	willMessage []byte
	hasUser     bool
	user        []byte
	hasPassword bool
	password    []byte
}

// errBadProtocolLevel is what decodeConnect returns for a well-formed
// CONNECT of a protocol level Wisp does not speak: it is answered with
// CONNACK 0x01 rather than a bare close.
var errBadProtocolLevel = malformed("unsupported protocol level")

// decodeConnect decodes a CONNECT body (MQTT 3.1.1, section 3.1).
func decodeConnect(flags byte, body []byte) (connectPacket, error) {
	var c connectPacket
	if flags != 0 {
		return c, malformed("CONNECT flags %#x", flags)
	}
	d := decoder{b: body}
	name := d.bytes()
	c.level = d.byte()
	cf := d.byte()
	c.keepAlive = d.uint16()
	if d.err != nil {
		return c, d.err
	}
	if string(name) != "MQTT" {
		if string(name) == "MQIsdp" {
			return c, errBadProtocolLevel // MQTT 3.1
		}
		return c, malformed("protocol name %q", name)
	}
	if c.level != 4 {
		return c, errBadProtocolLevel
	}
	if cf&0x01 != 0 {
		return c, malformed("CONNECT reserved flag set")
	}
	c.cleanSess = cf&0x02 != 0
	c.willFlag = cf&0x04 != 0
	c.willQoS = (cf >> 3) & 0x03
	c.willRetain = cf&0x20 != 0
	c.hasPassword = cf&0x40 != 0
	c.hasUser = cf&0x80 != 0
	if !c.willFlag && (c.willQoS != 0 || c.willRetain) {
		return c, malformed("will QoS or retain without a will")
	}
	if c.willQoS > 2 {
		return c, malformed("will QoS 3")
	}
	if c.hasPassword && !c.hasUser {
		return c, malformed("password without a user name")
	}
	c.clientID = d.text()
	if c.willFlag {
		c.willTopic = d.text()
		c.willMessage = d.bytes()
	}
	if c.hasUser {
		c.user = d.text()
	}
	if c.hasPassword {
		c.password = d.bytes()
	}
	if d.err == nil && len(d.b) != 0 {
		return c, malformed("%d bytes after CONNECT payload", len(d.b))
	}
	return c, d.err
}

// publishPacket is a decoded PUBLISH; slices point into the body.
type publishPacket struct {
	qos     byte
	dup     bool
	retain  bool
	topic   []byte
	id      uint16 // 0 for QoS 0
	payload []byte
}

// decodePublish decodes a PUBLISH (section 3.3) with its fixed-header flags.
func decodePublish(flags byte, body []byte) (publishPacket, error) {
	p := publishPacket{qos: (flags >> 1) & 0x03, dup: flags&flagDup != 0, retain: flags&flagRetain != 0}
	if p.qos == 3 {
		return p, malformed("PUBLISH QoS 3")
	}
	if p.qos == 0 && p.dup {
		return p, malformed("PUBLISH QoS 0 with DUP")
	}
	d := decoder{b: body}
	p.topic = d.text()
	if p.qos > 0 {
		p.id = d.uint16()
		if d.err == nil && p.id == 0 {
			return p, malformed("PUBLISH packet identifier 0")
		}
	}
	if d.err != nil {
		return p, d.err
	}
	p.payload = d.b
	return p, nil
}

// decodePacketID decodes the body of PUBACK, PUBREC, PUBREL and PUBCOMP.
// PUBREL must carry flags 0b0010, the others 0.
func decodePacketID(typ, flags byte, body []byte) (uint16, error) {
	want := byte(0)
	if typ == pktPubrel {
		want = 0x02
	}
	if flags != want {
		return 0, malformed("packet type %d flags %#x", typ, flags)
	}
	if len(body) != 2 {
		return 0, malformed("packet type %d length %d", typ, len(body))
	}
	id := binary.BigEndian.Uint16(body)
	if id == 0 {
		return 0, malformed("packet identifier 0")
	}
	return id, nil
}

// topicFilter is one entry of a SUBSCRIBE or UNSUBSCRIBE.
type topicFilter struct {
	filter []byte
	qos    byte
}

// decodeSubscribe decodes a SUBSCRIBE (section 3.8), appending its
// filters to dst (which the caller reuses).
func decodeSubscribe(flags byte, body []byte, dst []topicFilter) (uint16, []topicFilter, error) {
	return decodeFilters(pktSubscribe, flags, body, dst)
}

// decodeUnsubscribe decodes an UNSUBSCRIBE (section 3.10).
func decodeUnsubscribe(flags byte, body []byte, dst []topicFilter) (uint16, []topicFilter, error) {
	return decodeFilters(pktUnsubscribe, flags, body, dst)
}

func decodeFilters(typ, flags byte, body []byte, dst []topicFilter) (uint16, []topicFilter, error) {
	if flags != 0x02 {
		return 0, dst, malformed("packet type %d flags %#x", typ, flags)
	}
	d := decoder{b: body}
	id := d.uint16()
	if d.err == nil && id == 0 {
		return 0, dst, malformed("packet identifier 0")
	}
	for d.err == nil && len(d.b) > 0 {
		f := topicFilter{filter: d.text()}
		if typ == pktSubscribe {
			f.qos = d.byte()
			if d.err == nil && f.qos > 2 {
				return 0, dst, malformed("requested QoS %d", f.qos)
			}
		}
		if d.err == nil && len(f.filter) == 0 {
			return 0, dst, malformed("empty topic filter")
		}
		dst = append(dst, f)
	}
	if d.err != nil {
		return 0, dst, d.err
	}
	if len(dst) == 0 {
		return 0, dst, malformed("packet type %d without topic filters", typ)
	}
	return id, dst, nil
}

// decodeEmpty checks PINGREQ and DISCONNECT: no flags, no body.
func decodeEmpty(typ, flags byte, body []byte) error {
	if flags != 0 || len(body) != 0 {
		return malformed("packet type %d with flags %#x and %d body bytes", typ, flags, len(body))
	}
	return nil
}

// decoder walks a packet body; the first error sticks and later reads
// return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.err = malformed("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uint16() uint16 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 2 {
		d.err = malformed("truncated")
		return 0
	}
	v := binary.BigEndian.Uint16(d.b)
	d.b = d.b[2:]
	return v
}

// bytes reads a two-byte length and that many bytes.
func (d *decoder) bytes() []byte {
	n := int(d.uint16())
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.err = malformed("truncated")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// text reads a UTF-8 string: well-formed and without U+0000 (section 1.5.3).
func (d *decoder) text() []byte {
	v := d.bytes()
	if d.err == nil && (!utf8.Valid(v) || bytes.IndexByte(v, 0) >= 0) {
		d.err = malformed("string is not valid UTF-8")
		return nil
	}
	return v
}
