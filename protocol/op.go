package protocol

// Kind names one protocol operation.
type Kind uint8

// The operations a Parser reports. Client→server ops are parsed by a
// parser made with ServerSide; server→client ops by one made with ClientSide.
const (
	OpConnect Kind = iota + 1 // CONNECT {json}
	OpPub                     // PUB <subject> [reply] <size>
	OpHPub                    // HPUB <subject> [reply] <hdr_size> <total_size>
	OpSub                     // SUB <subject> [queue] <sid>
	OpUnsub                   // UNSUB <sid> [max]
	OpPing                    // PING
	OpPong                    // PONG
	OpInfo                    // INFO {json}
	OpMsg                     // MSG <subject> <sid> [reply] <size>
	OpHMsg                    // HMSG <subject> <sid> [reply] <hdr_size> <total_size>
	OpOK                      // +OK
	OpErr                     // -ERR '<text>'

	// Route ops, between Wisp servers of one cluster (RouteSide).
	OpRSub   // RS+ <account> <subject> [<queue> <weight>]
	OpRUnsub // RS- <account> <subject> [<queue>]
	OpRMsg   // RMSG <account> <subject> [<reply> | + <reply> <queue>... | "|" <queue>...] <size>
	OpHRMsg  // HRMSG <account> <subject> [as RMSG] <hdr_size> <total_size>
)

// Op is one parsed operation. Every slice points into the buffer passed to
// Parser.Parse or into the parser's own scratch buffer, and is valid only
// until the handler returns: a handler that keeps any of it must copy.
type Op struct {
	Kind    Kind
	Subject []byte // PUB, HPUB, SUB, MSG, HMSG
	Reply   []byte // PUB, HPUB, MSG, HMSG; nil when absent
	Queue   []byte // SUB; nil when absent
	Sid     []byte // SUB, UNSUB, MSG, HMSG
	Max     int64  // UNSUB: the max count, 0 when absent
	// Data is the message as it travels: header block followed by payload,
	// contiguous. HdrLen is 0 for PUB and MSG.
	Data   []byte
	HdrLen int
	// Args holds the JSON of CONNECT and INFO, and the text of -ERR without
	// its quotes.
	Args []byte

	// Route ops only. Account names the account of RS+, RS- and RMSG.
	// Queues lists the queue groups an RMSG is for, separated by blanks
	// (walk them with NextField); nil when the message is for plain
	// subscribers only. Weight is an RS+'s count of queue members.
	Account []byte
	Queues  []byte
	Weight  int64
}

// Header returns the header block of an HPUB or HMSG (empty for PUB/MSG).
func (o *Op) Header() []byte { return o.Data[:o.HdrLen] }

// Payload returns the message body without headers.
func (o *Op) Payload() []byte { return o.Data[o.HdrLen:] }

// Handler receives each operation as soon as it is complete. A non-nil
// error stops parsing and is returned by Parse unchanged.
type Handler interface {
	HandleOp(op *Op) error
}
