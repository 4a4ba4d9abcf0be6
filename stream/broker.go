package stream

// Broker is what the stream layer needs from the message server.
type Broker interface {
	// Publish sends a message as if a client published it. hdr is a full NATS header block ("NATS/1.0\r\n...\r\n\r\n") or nil. Safe for concurrent use.
	Publish(subject, reply string, hdr, data []byte) error
	// Subscribe registers an internal subscription (queue "" for none). fn runs synchronously on the publishing connection's goroutine; its slices are valid only during the call (copy what you keep) and it must not block for long. cancel removes the subscription.
	Subscribe(subject, queue string, fn func(subject, reply, hdr, data []byte)) (cancel func(), err error)
}
