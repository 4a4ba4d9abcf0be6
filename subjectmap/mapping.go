package subjectmap

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
)

// Mapping sends messages published on Source to one of its Destinations.
// Source may hold wildcards; the first mapping whose source matches a
// subject applies, a literal source before any wildcard one.
type Mapping struct {
	Source       string
	Destinations []Destination
}

// Destination is one weighted target of a mapping.
type Destination struct {
	// Subject is the destination template (see the package comment).
	Subject string
	// Weight is the percentage of messages sent here, 0 to 100. The
	// weights of a mapping (per cluster) add up to at most 100; what is
	// left goes to the source subject unchanged, unless the source is
	// itself a destination, in which case it is dropped.
	Weight int
	// Cluster, when set, limits this destination to servers of that
	// cluster; a server whose cluster has no destinations of its own uses
	// those without a cluster.
	Cluster string
}

// Outcome says what Map did with a subject.
type Outcome uint8

const (
	Unmapped Outcome = iota // no mapping applies (or it picked the source itself): keep the subject
	Mapped                  // the mapped subject was appended to dst
	Dropped                 // the mapping's weights sent the message nowhere
)

// Table is a set of mappings as one server applies them.
type Table struct {
	literal map[string]*choice
	wild    []*choice
	intn    func(int) int
}

// choice is a mapping's destinations for this server, with cumulative
// weights: a draw w in [0,100) picks the first whose upto exceeds w.
type choice struct {
	src   pattern
	dests []weighted
}

type weighted struct {
	tr   *Transform // nil: keep the subject as it is
	upto int
}

// NewTable checks and builds mappings for a server in cluster (empty when
// not clustered). The error names every bad mapping and wraps ErrInvalid.
func NewTable(mappings []Mapping, cluster string) (*Table, error) {
	return newTable(mappings, cluster, rand.IntN)
}

// NewSeededTable is NewTable drawing weights and random() from r instead of
// the process's random source; r must not be shared between goroutines.
// Tests use it to check the distribution reproducibly.
func NewSeededTable(mappings []Mapping, cluster string, r *rand.Rand) (*Table, error) {
	return newTable(mappings, cluster, r.IntN)
}

func newTable(mappings []Mapping, cluster string, intn func(int) int) (*Table, error) {
	t := &Table{literal: map[string]*choice{}, intn: intn}
	seen := map[string]bool{}
	for _, m := range mappings {
		if seen[m.Source] {
			return nil, errorf(m.Source, "mapped twice")
		}
		seen[m.Source] = true
		c, err := newChoice(m, cluster)
		if err != nil {
			return nil, err
		}
		if c.src.wild {
			t.wild = append(t.wild, c)
		} else {
			t.literal[m.Source] = c
		}
	}
	return t, nil
}

// Len is the number of mappings in the table.
func (t *Table) Len() int { return len(t.literal) + len(t.wild) }

func newChoice(m Mapping, cluster string) (*choice, error) {
	src, err := parsePattern(m.Source)
	if err != nil {
		return nil, err
	}
	if len(m.Destinations) == 0 {
		return nil, errorf(m.Source, "no destination")
	}
	var all, local []Destination
	totals := map[string]int{}
	seen := map[string]bool{}
	for _, d := range m.Destinations {
		key := d.Cluster + "\x00" + d.Subject
		if seen[key] {
			return nil, errorf(m.Source, "destination %q listed twice", d.Subject)
		}
		seen[key] = true
		if d.Weight < 0 || d.Weight > 100 {
			return nil, errorf(m.Source, "weight %d of %q is outside 0 to 100", d.Weight, d.Subject)
		}
		if totals[d.Cluster] += d.Weight; totals[d.Cluster] > 100 {
			return nil, errorf(m.Source, "weights add up to %d, more than 100", totals[d.Cluster])
		}
		if _, err := NewTransform(m.Source, d.Subject); err != nil {
			return nil, fmt.Errorf("mapping %q: %w", m.Source, err)
		}
		switch d.Cluster {
		case "":
			all = append(all, d)
		case cluster:
			local = append(local, d)
		}
	}
	if local == nil {
		local = all
	}
	c := &choice{src: src}
	return c, c.weigh(local)
}

// weigh fills in the cumulative weights, adding the source itself for
// what the weights leave over unless the source is listed (then the rest
// is dropped, as nats-server does).
func (c *choice) weigh(dests []Destination) error {
	total, listed := 0, false
	for _, d := range dests {
		total += d.Weight
		listed = listed || d.Subject == c.src.text
	}
	type entry struct {
		tr     *Transform
		weight int
	}
	var entries []entry
	for _, d := range dests {
		tr, err := NewTransform(c.src.text, d.Subject)
		if err != nil {
			return err
		}
		if d.Subject == c.src.text && !c.src.wild {
			tr = nil // mapping to itself: keep the subject
		}
		entries = append(entries, entry{tr, d.Weight})
	}
	if total < 100 && !listed {
		entries = append(entries, entry{nil, 100 - total})
	}
	slices.SortStableFunc(entries, func(a, b entry) int { return cmp.Compare(a.weight, b.weight) })
	upto := 0
	for _, e := range entries {
		upto += e.weight
		c.dests = append(c.dests, weighted{tr: e.tr, upto: upto})
	}
	return nil
}

// Map looks subject up and, when a mapping applies, appends the subject
// it maps to onto dst. It allocates nothing when no mapping matches, nor
// when one does and dst has room.
func (t *Table) Map(dst, subject []byte) ([]byte, Outcome) {
	c := t.literal[string(subject)]
	if c == nil {
		for _, w := range t.wild {
			if matches(w.src.tokens, subject) {
				c = w
				break
			}
		}
		if c == nil {
			return dst, Unmapped
		}
	}
	d := &c.dests[0]
	if len(c.dests) > 1 || d.upto != 100 {
		draw := t.intn(100)
		d = nil
		for i := range c.dests {
			if draw < c.dests[i].upto {
				d = &c.dests[i]
				break
			}
		}
		if d == nil {
			return dst, Dropped
		}
	}
	if d.tr == nil {
		return dst, Unmapped
	}
	return d.tr.appendWith(dst, subject, t.intn), Mapped
}
