package server

import (
	"github.com/wisp-mq/wisp/protocol"
)

var opNames = map[protocol.Kind]string{
	protocol.OpConnect: "CONNECT", protocol.OpPub: "PUB", protocol.OpHPub: "HPUB",
	protocol.OpSub: "SUB", protocol.OpUnsub: "UNSUB", protocol.OpPing: "PING", protocol.OpPong: "PONG",
}

// trace logs one received op; only called when tracing is on (-V), since
// it allocates.
func (c *conn) trace(op *protocol.Op) {
	name := opNames[op.Kind]
	if name == "" {
		name = op.Kind.String() // route ops
	}
	args := []any{"cid", c.id, "op", name}
	if len(op.Account) > 0 {
		args = append(args, "account", string(op.Account))
	}
	if len(op.Subject) > 0 {
		args = append(args, "subject", string(op.Subject))
	}
	if len(op.Reply) > 0 {
		args = append(args, "reply", string(op.Reply))
	}
	if len(op.Queue) > 0 {
		args = append(args, "queue", string(op.Queue))
	}
	if len(op.Sid) > 0 {
		args = append(args, "sid", string(op.Sid))
	}
	if len(op.Queues) > 0 {
		args = append(args, "queues", string(op.Queues))
	}
	switch op.Kind {
	case protocol.OpPub, protocol.OpHPub, protocol.OpRMsg, protocol.OpHRMsg:
		args = append(args, "size", len(op.Data))
	}
	if op.Kind == protocol.OpConnect {
		args = append(args, "connect", redactConnect(op.Args))
	}
	c.srv.log.Debug("<<- "+name, args...)
}

// redactConnect hides credentials in a CONNECT body before it is logged.
func redactConnect(js []byte) string {
	var m map[string]any
	if err := jsonUnmarshal(js, &m); err != nil {
		return "(invalid json)"
	}
	for _, k := range []string{"pass", "auth_token", "sig", "jwt", "nkey"} {
		if _, ok := m[k]; ok {
			m[k] = "[REDACTED]"
		}
	}
	b, _ := jsonMarshal(m)
	return string(b)
}
