package server

// HasInterest reports whether any subscription in the broker's account
// matches subject. The stream layer uses it to pause a push consumer with
// no subscriber on its deliver subject, to remove an idle ephemeral one,
// and to drop pull requests whose inbox went away.
func (b *AccountBroker) HasInterest(subject string) bool {
	r := b.acc.sl.Match([]byte(subject))
	return len(r.Plain) > 0 || len(r.Groups) > 0
}
