package stream

import "github.com/wisp-mq/wisp/server"

// The optional Broker methods consumers rely on (ack.go, push.go): without
// Deliver a delivered message would show its inbox as its subject; without
// HasInterest push consumers could not pause and idle ephemerals would
// never be removed. Both brokers cmd/wisp uses must keep them.
var (
	_ deliverer       = (*server.Server)(nil)
	_ interestChecker = (*server.Server)(nil)
	_ deliverer       = (*server.AccountBroker)(nil)
	_ interestChecker = (*server.AccountBroker)(nil)
)
