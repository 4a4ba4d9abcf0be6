package mqtt

// CONNACK return codes (section 3.2.2.3).
const (
	connAccepted          byte = 0x00
	connBadProtocol       byte = 0x01
	connIdentifierRefused byte = 0x02
	connUnavailable       byte = 0x03
	connBadCredentials    byte = 0x04
	connNotAuthorized     byte = 0x05
)

// subackFailure is a SUBACK's return code for a refused filter.
const subackFailure byte = 0x80

func appendConnack(b []byte, sessionPresent bool, code byte) []byte {
	sp := byte(0)
	if sessionPresent {
		sp = 1
	}
	return append(b, pktConnack<<4, 2, sp, code)
}

// appendAck encodes PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK.
func appendAck(b []byte, typ byte, id uint16) []byte {
	flags := byte(0)
	if typ == pktPubrel {
		flags = 0x02
	}
	return append(b, typ<<4|flags, 2, byte(id>>8), byte(id))
}

func appendSuback(b []byte, id uint16, codes []byte) []byte {
	b = append(b, pktSuback<<4)
	b = appendRemainingLength(b, 2+len(codes))
	b = append(b, byte(id>>8), byte(id))
	return append(b, codes...)
}

func appendPingresp(b []byte) []byte { return append(b, pktPingresp<<4, 0) }

// appendPublishHeader writes a PUBLISH up to its payload: fixed header,
// the topic taken from subject (topicFromSubject's rules) and, for QoS 1
// and 2, the packet id. The caller appends the payload of length n.
func appendPublishHeader(b []byte, flags byte, subject []byte, id uint16, n int) []byte {
	tl := topicLen(subject)
	rl := 2 + tl + n
	if flags&(flagQoS1|flagQoS2) != 0 {
		rl += 2
	}
	b = append(b, pktPublish<<4|flags)
	b = appendRemainingLength(b, rl)
	b = append(b, byte(tl>>8), byte(tl))
	b = appendTopic(b, subject)
	if flags&(flagQoS1|flagQoS2) != 0 {
		b = append(b, byte(id>>8), byte(id))
	}
	return b
}
