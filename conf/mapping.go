package conf

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/wisp-mq/wisp/server"
	"github.com/wisp-mq/wisp/subjectmap"
)

// Subject mappings, server-wide (for the global account) or per account,
// in the forms nats-server's mappings block takes:
//
//	[mappings]
//	"orders.*" = "orders.{{wildcard(1)}}.v2"           # one destination
//	"svc" = [                                         # weighted: a canary
//	  { destination = "svc.v1", weight = 90 },
//	  { destination = "svc.v2", weight = "10%" },
//	]
//
//	[accounts.A.mappings]
//	"in.>" = { destination = "a.in.>", weight = 100, cluster = "east" }
//
// Sources holding dots must be quoted, as every TOML key with a dot. A
// literal source wins over wildcard ones; among wildcard sources the first
// in the file that matches applies.

// fileMapping is one mapping's destinations.
type fileMapping struct {
	dests []subjectmap.Destination
}

func (m *fileMapping) UnmarshalTOML(data any) error {
	switch d := data.(type) {
	case string:
		m.dests = []subjectmap.Destination{{Subject: d, Weight: 100}}
		return nil
	case map[string]any:
		dest, err := mapDestination(d)
		m.dests = []subjectmap.Destination{dest}
		return err
	case []map[string]any:
		for i, e := range d {
			dest, err := mapDestination(e)
			if err != nil {
				return fmt.Errorf("destination %d: %w", i+1, err)
			}
			m.dests = append(m.dests, dest)
		}
		return nil
	case []any:
		for i, e := range d {
			t, ok := e.(map[string]any)
			if !ok {
				return fmt.Errorf("destination %d: expected a table with destination and weight, got %s", i+1, tomlKind(e))
			}
			dest, err := mapDestination(t)
			if err != nil {
				return fmt.Errorf("destination %d: %w", i+1, err)
			}
			m.dests = append(m.dests, dest)
		}
		return nil
	}
	return fmt.Errorf("expected a destination subject, a table or a list of tables, got %s", tomlKind(data))
}

// mapDestination reads { destination, weight, cluster }; the weight is
// required, as in nats-server, and may be written "10%".
func mapDestination(t map[string]any) (subjectmap.Destination, error) {
	var d subjectmap.Destination
	weighted := false
	for k, v := range t {
		switch k {
		case "destination", "dest":
			s, ok := v.(string)
			if !ok {
				return d, fmt.Errorf("%s: expected a string, got %s", k, tomlKind(v))
			}
			d.Subject = s
		case "weight":
			w, err := mapWeight(v)
			if err != nil {
				return d, err
			}
			d.Weight, weighted = w, true
		case "cluster":
			s, ok := v.(string)
			if !ok {
				return d, fmt.Errorf("cluster: expected a string, got %s", tomlKind(v))
			}
			d.Cluster = s
		default:
			return d, fmt.Errorf("unknown key %q (want destination, weight or cluster)", k)
		}
	}
	if d.Subject == "" {
		return d, errors.New("missing destination")
	}
	if !weighted {
		return d, fmt.Errorf("missing weight for destination %q", d.Subject)
	}
	return d, nil
}

func mapWeight(v any) (int, error) {
	var n int64
	switch w := v.(type) {
	case int64:
		n = w
	case string:
		var err error
		if n, err = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(w), "%"), 10, 64); err != nil {
			return 0, fmt.Errorf("weight: %q is not a whole percentage", w)
		}
	default:
		return 0, fmt.Errorf("weight: expected an integer or a string such as \"10%%\", got %s", tomlKind(v))
	}
	if n < 0 || n > 100 {
		return 0, fmt.Errorf("weight: %d is outside 0 to 100", n)
	}
	return int(n), nil
}

// inMapping reports whether k lies inside one mapping's value: the toml
// package leaves the keys of an array of tables decoded by an Unmarshaler
// marked undecoded, but mapDestination has checked every one of them.
func inMapping(k toml.Key) bool {
	return len(k) > 2 && k[0] == "mappings" ||
		len(k) > 4 && k[0] == "accounts" && k[2] == "mappings"
}

// mappings turns a mappings table into options, in the order the file
// lists the sources (the toml package's map has none), each checked on its
// own so that an error points at its line.
func (p *parsedFile) mappings(table toml.Key, byName map[string]*fileMapping) ([]subjectmap.Mapping, error) {
	var out []subjectmap.Mapping
	var errs []error
	for _, k := range p.md.Keys() {
		if len(k) != len(table)+1 || k[:len(table)].String() != table.String() {
			continue
		}
		src := k[len(table)]
		fm := byName[src]
		if fm == nil {
			continue
		}
		m := subjectmap.Mapping{Source: src, Destinations: fm.dests}
		if _, err := subjectmap.NewTable([]subjectmap.Mapping{m}, ""); err != nil {
			errs = append(errs, &FileError{File: p.name, Line: p.line(k), Key: table.String(), Err: err})
			continue
		}
		out = append(out, m)
	}
	return out, errors.Join(errs...)
}

// applyMappings copies the server-wide and per-account mappings onto o,
// whose Accounts applyAccounts has already filled in.
func (p *parsedFile) applyMappings(o *server.Options) error {
	var errs []error
	if p.cfg.Mappings != nil {
		ms, err := p.mappings(toml.Key{"mappings"}, p.cfg.Mappings)
		o.Mappings = ms
		errs = append(errs, err)
	}
	for i := range o.Accounts {
		ac := &o.Accounts[i]
		fa := p.cfg.Accounts[ac.Name]
		if fa == nil || fa.Mappings == nil {
			continue
		}
		ms, err := p.mappings(toml.Key{"accounts", ac.Name, "mappings"}, fa.Mappings)
		ac.Mappings = ms
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
