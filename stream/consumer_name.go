package stream

import "math/rand/v2"

// serverNameLen is the length of the names Wisp gives consumers created
// without one, as nats-server's: short enough to read in `nats consumer
// ls`, and 62^8 (about 2e14) names make a collision on one stream
// vanishingly rare.
const serverNameLen = 8

// nameAlphabet is nuid's: letters and digits, so a generated name is a
// valid consumer name and a single subject token.
const nameAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// drawConsumerName draws a server-made name; a variable so that a test
// can make two draws collide.
var drawConsumerName = newConsumerName

// newConsumerName returns a random name for a consumer created without
// one. Every call draws afresh: a prefix of nuid.Next() would not do, as
// nuid's first characters are the same for the whole process.
func newConsumerName() string {
	var b [serverNameLen]byte
	for i := range b {
		b[i] = nameAlphabet[rand.IntN(len(nameAlphabet))]
	}
	return string(b[:])
}
