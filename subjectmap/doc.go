// Package subjectmap rewrites subjects: it holds the transforms behind
// subject mappings in the server configuration and behind a stream's
// subject_transform, republish and per-source transforms.
//
// A Transform takes a source pattern ("orders.*.>") and a destination
// template ("eu.{{wildcard(1)}}.{{partition(4,1)}}.>"). A subject that
// matches the source is rewritten by walking the template: literal tokens
// are copied, each "{{function(args)}}" token is computed from the
// subject's tokens, and a trailing ">" copies the tokens the source's ">"
// matched. The functions and their results are those of nats-server, so a
// deployment moved from one to the other partitions messages the same way:
//
//	{{wildcard(n)}} or $n          the token matched by the source's n-th '*'
//	{{partition(p,n,...)}}         FNV-1a of the named wildcard tokens (of the
//	                               whole subject when none are named) mod p
//	{{split(n,sep)}}               the n-th wildcard token cut at each sep
//	{{splitFromLeft(n,i)}}         the token cut in two, i bytes from the left
//	{{splitFromRight(n,i)}}        ... i bytes from the right
//	{{sliceFromLeft(n,s)}}         the token cut into pieces of s bytes from
//	                               the left (the last piece may be shorter)
//	{{sliceFromRight(n,s)}}        ... from the right
//	{{left(n,s)}}, {{right(n,s)}}  the first or last s bytes of the token
//	{{random(p)}}                  a random number in [0, p)
//
// A Table is a set of Mappings, each a source with one or more weighted
// destinations (canary releases, A/B splits); Table.Map picks one.
//
// The package imports nothing of Wisp's and starts nothing. A Transform and
// a Table are immutable once built and safe for concurrent use. Map and
// Append write into a buffer the caller owns and allocate nothing when the
// buffer is large enough, so they can sit on the message path: a subject
// that no mapping matches costs a map lookup and a token walk per
// wildcard source.
package subjectmap
