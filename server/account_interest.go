package server

import "time"

// HasInterest reports whether any subscription in the broker's account
// matches subject. The stream layer uses it to pause a push consumer with
// no subscriber on its deliver subject, to remove an idle ephemeral one,
// and to drop pull requests whose inbox went away.
func (b *AccountBroker) HasInterest(subject string) bool {
	return b.acc.hasInterest([]byte(subject))
}

// hasInterest reports whether a message published in a on subject would
// reach a subscriber: one of a's own, or, for the one-off reply subject of
// a request that came through a service import, the requester's (a pull
// request made through another account's import of this JetStream API).
func (a *account) hasInterest(subject []byte) bool {
	if a.isResponse(subject) {
		a.respMu.Lock()
		route := a.resp[string(subject)]
		a.respMu.Unlock()
		if route == nil || time.Now().After(route.expires) {
			return false
		}
		r := route.to.sl.Match([]byte(route.reply))
		return len(r.Plain) > 0 || len(r.Groups) > 0
	}
	r := a.sl.Match(subject)
	return len(r.Plain) > 0 || len(r.Groups) > 0
}
