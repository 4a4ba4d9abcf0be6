package subjectmap

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every error NewTransform and NewTable return, so
// callers can tell a bad mapping from other failures.
var ErrInvalid = errors.New("invalid subject mapping")

// Error names the subject or template token at fault and why.
type Error struct {
	Subject string // the source, destination or token concerned
	Reason  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %q: %s", ErrInvalid, e.Subject, e.Reason)
}

func (e *Error) Unwrap() error { return ErrInvalid }

func errorf(subject, format string, args ...any) *Error {
	return &Error{Subject: subject, Reason: fmt.Sprintf(format, args...)}
}
