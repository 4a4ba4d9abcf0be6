package conf

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The leaf value types below implement toml.Unmarshaler. Decoding every
// scalar through them, rather than through plain Go types, has two effects:
// each bad value comes back from the toml package as a toml.ParseError that
// carries the key and its line, and the messages speak of TOML ("expected an
// integer, got a string") instead of Go types.
//
// Fields of these types are pointers in fileConfig, so nil means "not in the
// file" and only keys actually present override the defaults.

// stringValue is a TOML string.
type stringValue string

func (v *stringValue) UnmarshalTOML(data any) error {
	s, ok := data.(string)
	if !ok {
		return fmt.Errorf("expected a string, got %s", tomlKind(data))
	}
	*v = stringValue(s)
	return nil
}

// boolValue is a TOML boolean.
type boolValue bool

func (v *boolValue) UnmarshalTOML(data any) error {
	b, ok := data.(bool)
	if !ok {
		return fmt.Errorf("expected true or false, got %s", tomlKind(data))
	}
	*v = boolValue(b)
	return nil
}

// intValue is a TOML integer that fits a Go int.
type intValue int

func (v *intValue) UnmarshalTOML(data any) error {
	n, ok := data.(int64)
	if !ok {
		return fmt.Errorf("expected an integer, got %s", tomlKind(data))
	}
	if n < math.MinInt || n > math.MaxInt {
		return fmt.Errorf("%d is out of range", n)
	}
	*v = intValue(n)
	return nil
}

// sizeValue is a byte count: an integer, or a string with a unit such as
// "1MB" or "64MiB" (see parseSize).
type sizeValue int64

func (v *sizeValue) UnmarshalTOML(data any) error {
	switch d := data.(type) {
	case int64:
		*v = sizeValue(d)
		return nil
	case string:
		n, err := parseSize(d)
		if err != nil {
			return err
		}
		*v = sizeValue(n)
		return nil
	}
	return fmt.Errorf("expected a size (an integer or a string such as \"1MB\"), got %s", tomlKind(data))
}

// durationValue is a string such as "10s" or "2m", or an integer number of
// seconds as nats-server reads it.
type durationValue time.Duration

func (v *durationValue) UnmarshalTOML(data any) error {
	switch d := data.(type) {
	case int64:
		if d > math.MaxInt64/int64(time.Second) || d < math.MinInt64/int64(time.Second) {
			return fmt.Errorf("%d seconds is out of range", d)
		}
		*v = durationValue(time.Duration(d) * time.Second)
		return nil
	case string:
		t, err := parseDuration(d)
		if err != nil {
			return err
		}
		*v = durationValue(t)
		return nil
	}
	return fmt.Errorf("expected a duration (a string such as \"10s\"), got %s", tomlKind(data))
}

// tomlKind names the TOML type of a decoded value for error messages.
func tomlKind(data any) string {
	switch data.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case map[string]any:
		return "a table"
	case []map[string]any, []any:
		return "an array"
	case time.Time:
		return "a date"
	}
	return fmt.Sprintf("a %T", data)
}

// sizeUnits follows nats-server: a bare K, M, G or T is decimal, while KB, KiB,
// MB, MiB (and so on) are binary, so "1MB" is 1048576 bytes as it is there.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1000, "kb": 1 << 10, "ki": 1 << 10, "kib": 1 << 10,
	"m": 1000 * 1000, "mb": 1 << 20, "mi": 1 << 20, "mib": 1 << 20,
	"g": 1000 * 1000 * 1000, "gb": 1 << 30, "gi": 1 << 30, "gib": 1 << 30,
	"t": 1000 * 1000 * 1000 * 1000, "tb": 1 << 40, "ti": 1 << 40, "tib": 1 << 40,
}

var errSizeSyntax = errors.New(`use a whole number of bytes, optionally with a unit: "512KB", "1MB", "64MiB"`)

// parseSize reads "1048576", "1MB", "64 MiB" or "-1" (negative numbers pass
// through so that Options.Validate can name the limit they break).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	if i < len(t) && (t[i] == '-' || t[i] == '+') {
		i++
	}
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	n, err := strconv.ParseInt(num, 10, 64)
	mult, ok := sizeUnits[unit]
	if err != nil || !ok {
		return 0, fmt.Errorf("invalid size %q: %w", s, errSizeSyntax)
	}
	if n > math.MaxInt64/mult || n < math.MinInt64/mult {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return n * mult, nil
}

// parseDuration reads Go durations ("10s", "1m30s") and, like nats-server,
// a bare integer as seconds.
func parseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
			return 0, fmt.Errorf("invalid duration %q: too large", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use a number with a unit, such as \"10s\", \"2m\" or \"1h30m\"", s)
	}
	return d, nil
}

// parsePort reads a TCP port for flags and "listen"; Options.Validate checks
// the range so that file and flag values get the same message.
func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("invalid port %q: not a number", s)
	}
	return n, nil
}
