package mqtt

import (
	"errors"
	"time"
)

// Broker publishes and subscribes inside one account. Its semantics are
// the stream layer's Broker's: Subscribe's fn runs on the publisher's
// goroutine with slices valid only during the call.
type Broker interface {
	Publish(subject, reply string, hdr, data []byte) error
	Subscribe(subject, queue string, fn func(subject, reply, hdr, data []byte)) (cancel func(), err error)
}

// MsgPublisher is a Broker that can also publish from the caller's own
// buffers: the subject as bytes, and the header block and data joined in
// msg (the header its first hdrLen bytes). When the host's broker has it,
// a PUBLISH packet is routed without allocating.
type MsgPublisher interface {
	PublishMsg(subject []byte, reply string, msg []byte, hdrLen int) error
}

// Host is what the MQTT layer needs from the server around it.
type Host interface {
	// Login checks an MQTT client's credentials against the server's
	// users. user is "" when the client sent none (the host may then
	// apply a no-auth user). It returns the account's broker and names.
	Login(user, password string) (Login, error)
	// Register counts a client of account against the server's
	// connection limits and lists it in monitoring (/connz) until the
	// returned function is called, giving it a connection id. An error
	// means a limit is reached: the client is refused.
	Register(account string, info func() ClientInfo) (cid uint64, unregister func(), err error)
}

// Login is an authenticated MQTT client's place in the server.
type Login struct {
	Account string // account name; "$G" for the global one
	User    string // user name, "" when authentication is off
	Broker  Broker
	// CanPublish and CanSubscribe check the user's permissions on a
	// subject; nil allows everything.
	CanPublish   func(subject string) bool
	CanSubscribe func(subject, queue string) bool
}

// ErrNotAuthorized is what Host.Login returns for bad credentials.
var ErrNotAuthorized = errors.New("mqtt: not authorized")

// ClientInfo describes one MQTT client for monitoring.
type ClientInfo struct {
	ClientID string
	IP       string
	Port     int
	Start    time.Time
	User     string
	Account  string
	TLS      bool
	InMsgs   int64
	InBytes  int64
	OutMsgs  int64
	OutBytes int64
	Pending  int64
	Subs     []string // NATS subjects of the client's subscriptions
}
