package consensus

// quietPebble drops Pebble's informational chatter; errors still reach
// the caller through Pebble's return values.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic("pebble: fatal: " + format)
}
