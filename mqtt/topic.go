package mqtt

import (
	"bytes"
	"errors"

	"github.com/wisp-mq/wisp/sublist"
)

// Topics and subjects, converted as nats-server converts them, so that an
// MQTT client and a NATS client meet on the same names:
//
//	a/b      a.b      a level separator becomes a dot
//	/a       /.a      a leading separator becomes "/."
//	a/       a./      a trailing one becomes "./"
//	a//b     a./.b    an empty level in between becomes "/" as a token
//	a.b      a//b     a dot inside a level becomes "//"
//
// A space has no encoding and is refused. In filters "+" becomes "*" and
// "#" becomes ">"; a filter ending in "/#" also matches its parent level,
// so it maps to two subjects ("a/#" to "a" and "a.>").

var (
	errTopicSpace    = errors.New("topic contains a space")
	errTopicEmpty    = errors.New("topic is empty")
	errTopicWildcard = errors.New("topic name contains a wildcard")
	errBadFilter     = errors.New("invalid topic filter")
	errBadSubject    = errors.New("topic does not map to a valid subject")
)

// topicToSubject appends the subject of an MQTT topic name (no wildcards).
func topicToSubject(dst, topic []byte) ([]byte, error) {
	if len(topic) == 0 {
		return dst, errTopicEmpty
	}
	if bytes.ContainsAny(topic, "+#") {
		return dst, errTopicWildcard
	}
	start := len(dst)
	dst, err := convertLevels(dst, topic)
	if err != nil {
		return dst, err
	}
	if !sublist.ValidPublishSubject(dst[start:]) {
		return dst, errBadSubject
	}
	return dst, nil
}

// convertLevels applies the separator and dot rules.
func convertLevels(dst, topic []byte) ([]byte, error) {
	start := len(dst)
	for i, c := range topic {
		switch c {
		case '/':
			switch {
			case i == 0 || dst[len(dst)-1] == '.':
				dst = append(dst, '/', '.')
			case i == len(topic)-1 || topic[i+1] == '/':
				dst = append(dst, '.', '/')
			default:
				dst = append(dst, '.')
			}
		case '.':
			dst = append(dst, '/', '/')
		case ' ':
			return dst[:start], errTopicSpace
		default:
			dst = append(dst, c)
		}
	}
	return dst, nil
}

// filterToSubjects converts a topic filter into the one or two subjects it
// covers ("a/#" covers "a" and "a.>").
func filterToSubjects(filter []byte) ([]string, error) {
	if len(filter) == 0 {
		return nil, errTopicEmpty
	}
	// Wildcards must fill a whole level, and "#" must be the last one.
	for i, c := range filter {
		if c != '+' && c != '#' {
			continue
		}
		if i > 0 && filter[i-1] != '/' || i < len(filter)-1 && filter[i+1] != '/' {
			return nil, errBadFilter
		}
		if c == '#' && i != len(filter)-1 {
			return nil, errBadFilter
		}
	}
	// "+" and "#" only ever fill a whole level (checked above), so after
	// the separator rules they are whole tokens, and become "*" and ">".
	subj, err := convertLevels(make([]byte, 0, len(filter)+4), filter)
	if err != nil {
		return nil, err
	}
	for i, c := range subj {
		switch c {
		case '+':
			subj[i] = '*'
		case '#':
			subj[i] = '>'
		}
	}
	s := string(subj)
	if !sublist.ValidSubscribeSubject(s) {
		return nil, errBadSubject
	}
	if s == ">" || len(s) < 2 || s[len(s)-2:] != ".>" {
		return []string{s}, nil
	}
	parent := s[:len(s)-2]
	return []string{parent, s}, nil
}

// topicLen is the length of the topic topicFromSubject gives for subject.
func topicLen(subject []byte) int {
	n := 0
	forTopic(subject, func(b []byte) { n += len(b) })
	return n
}

// appendTopic appends the MQTT topic of a subject: tokens "/" are empty
// levels, "//" inside a token is a dot, and dots separate levels.
func appendTopic(dst, subject []byte) []byte {
	forTopic(subject, func(b []byte) { dst = append(dst, b...) })
	return dst
}

var (
	slash = []byte{'/'}
	dot   = []byte{'.'}
)

// forTopic calls emit with the pieces of subject's topic, in order.
func forTopic(subject []byte, emit func([]byte)) {
	first := true
	for len(subject) > 0 {
		tok := subject
		rest := []byte(nil)
		if i := bytes.IndexByte(subject, '.'); i >= 0 {
			tok, rest = subject[:i], subject[i+1:]
			if len(rest) == 0 {
				rest = nil
			}
		}
		if !first {
			emit(slash)
		}
		first = false
		if !(len(tok) == 1 && tok[0] == '/') {
			for len(tok) > 0 {
				i := bytes.Index(tok, slash2)
				if i < 0 {
					emit(tok)
					break
				}
				emit(tok[:i])
				emit(dot)
				tok = tok[i+2:]
			}
		}
		if rest == nil {
			break
		}
		subject = rest
	}
}

var slash2 = []byte("//")

// topicFromSubject is appendTopic for a fresh string (tests, logs).
func topicFromSubject(subject string) string {
	return string(appendTopic(nil, []byte(subject)))
}
