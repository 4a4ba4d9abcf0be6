package sublist

import "errors"

// Sentinel errors. Insert and Remove wrap them with the offending subject or
// queue, so callers test with errors.Is.
var (
	// ErrInvalidSubject: the subject is empty, has an empty token or
	// whitespace, or has '>' anywhere but as the last token.
	ErrInvalidSubject = errors.New("sublist: invalid subject")
	// ErrInvalidQueue: the queue name is not "" and fails ValidQueueName.
	ErrInvalidQueue = errors.New("sublist: invalid queue name")
	// ErrNotFound: Remove was asked for a subscription the list does not hold.
	ErrNotFound = errors.New("sublist: subscription not found")
)
