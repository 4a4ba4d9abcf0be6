package conf

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/wisp-mq/wisp/server"
)

// fileConfig mirrors the TOML file. Key names follow nats-server where the
// two overlap. Every field is a pointer so that absent keys leave the
// defaults (and earlier layers) alone; every leaf is one of the value types in
// values.go so that bad values are reported with their line.
type fileConfig struct {
	Host             *stringValue            `toml:"host"`
	Listen           *stringValue            `toml:"listen"` // "host:port"
	Port             *intValue               `toml:"port"`
	ServerName       *stringValue            `toml:"server_name"`
	HTTPPort         *intValue               `toml:"http_port"`
	HTTP             *fileHTTP               `toml:"http"`
	ProfPort         *intValue               `toml:"prof_port"`
	Authorization    *fileAuth               `toml:"authorization"`
	MaxPayload       *sizeValue              `toml:"max_payload"`
	MaxControlLine   *sizeValue              `toml:"max_control_line"`
	MaxPending       *sizeValue              `toml:"max_pending"`
	MaxConnections   *intValue               `toml:"max_connections"`
	MaxSubscriptions *intValue               `toml:"max_subscriptions"`
	WriteDeadline    *durationValue          `toml:"write_deadline"`
	PingInterval     *durationValue          `toml:"ping_interval"`
	PingMax          *intValue               `toml:"ping_max"`
	AuthTimeout      *durationValue          `toml:"auth_timeout"`
	Debug            *boolValue              `toml:"debug"`
	Trace            *boolValue              `toml:"trace"`
	JetStreamRaw     toml.Primitive          `toml:"jetstream"` // a table or true/false: see decodeJetStream
	JetStream        *fileJetStream          `toml:"-"`
	TLS              *fileTLS                `toml:"tls"`
	Cluster          *fileCluster            `toml:"cluster"`
	Websocket        *fileWebsocket          `toml:"websocket"`
	MQTT             *fileMQTT               `toml:"mqtt"`
	Accounts         map[string]*fileAccount `toml:"accounts"`
	SystemAccount    *stringValue            `toml:"system_account"`
	Mappings         map[string]*fileMapping `toml:"mappings"`
	PidFile          *stringValue            `toml:"pid_file"`
	LameDuckDuration *durationValue          `toml:"lame_duck_duration"`
	LameDuckGrace    *durationValue          `toml:"lame_duck_grace_period"`
}

type fileTLS struct {
	CertFile       *stringValue         `toml:"cert_file"`
	KeyFile        *stringValue         `toml:"key_file"`
	CAFile         *stringValue         `toml:"ca_file"`
	Verify         *boolValue           `toml:"verify"`
	VerifyAndMap   *boolValue           `toml:"verify_and_map"`
	Timeout        *durationValue       `toml:"timeout"`
	HandshakeFirst *handshakeFirstValue `toml:"handshake_first"`
}

type fileAuth struct {
	Token              *stringValue `toml:"token"`
	User               *stringValue `toml:"user"`
	Password           *stringValue `toml:"password"`
	Users              []fileUser   `toml:"users"`
	DefaultPermissions *filePerms   `toml:"default_permissions"`
}

type fileUser struct {
	User        *stringValue `toml:"user"`
	Password    *stringValue `toml:"password"`
	Permissions *filePerms   `toml:"permissions"`
}

type fileJetStream struct {
	Enabled      *boolValue     `toml:"enabled"`
	StoreDir     *stringValue   `toml:"store_dir"`
	Sync         *stringValue   `toml:"sync"`
	SyncInterval *durationValue `toml:"sync_interval"`
	OnDamage     *stringValue   `toml:"on_damage"`
	MaxFile      *sizeValue     `toml:"max_file_store"`
	MaxMemory    *sizeValue     `toml:"max_memory_store"`
}

// decodeJetStream reads the jetstream key, which is either the table
// ([jetstream] enabled = true, store_dir = ...) or the shorthand
// jetstream = true / false, meaning enabled with every other setting at its
// default, exactly as -js. The key is decoded late, through a Primitive,
// because the toml package cannot decode one key into either shape.
func (p *parsedFile) decodeJetStream() error {
	if !p.md.IsDefined("jetstream") {
		return nil
	}
	js := new(fileJetStream)
	var err error
	switch typ := p.md.Type("jetstream"); typ {
	case "Bool":
		js.Enabled = new(boolValue)
		err = p.md.PrimitiveDecode(p.cfg.JetStreamRaw, js.Enabled)
	case "Hash":
		err = p.md.PrimitiveDecode(p.cfg.JetStreamRaw, js)
	case "ArrayHash":
		return p.keyError("jetstream", errors.New("expected a table or true/false, got an array of tables (write [jetstream], not [[jetstream]])"))
	default:
		return p.keyError("jetstream", fmt.Errorf("expected a table or true/false, got %s", tomlTypeWord(strings.ToLower(typ))))
	}
	if err != nil {
		return p.decodeError(err)
	}
	p.cfg.JetStream = js
	return nil
}

// fileAccountJetStream is an account's [accounts.NAME.jetstream] table.
type fileAccountJetStream struct {
	MaxFile   *sizeValue `toml:"max_file_store"`
	MaxMemory *sizeValue `toml:"max_memory_store"`
}

// FileError is a problem with one key of a config file. Its text reads
// "wisp.conf:12: unknown key "max_paylod"" or
// "wisp.conf:7: write_deadline: invalid duration "soon": ...", the
// file:line form that editors and terminals can jump to.
type FileError struct {
	File string
	Line int    // 1-based; 0 when the position is not known
	Key  string // dotted key path, e.g. "authorization.users.password"; may be empty
	Err  error
}

func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *FileError) Unwrap() error { return e.Err }

// ErrUnknownKey is wrapped by the FileError reported for a key that Wisp
// does not know (usually a typo).
var ErrUnknownKey = errors.New("unknown key")

// unknownKeyError keeps the "unknown key "x"" wording while letting callers
// test errors.Is(err, ErrUnknownKey).
type unknownKeyError struct{ key string }

func (e unknownKeyError) Error() string        { return fmt.Sprintf("unknown key %q", e.key) }
func (e unknownKeyError) Is(target error) bool { return target == ErrUnknownKey }

// parsedFile is a decoded config file, kept so that errors found later (by
// Options.Validate) can still be traced to a line.
type parsedFile struct {
	name string
	text string
	md   toml.MetaData
	cfg  fileConfig
}

// parseFile decodes TOML text. name is only used in error messages.
func parseFile(name string, data []byte) (*parsedFile, error) {
	p := &parsedFile{name: name, text: string(data)}
	md, err := toml.Decode(p.text, &p.cfg)
	if err != nil {
		return nil, p.decodeError(err)
	}
	p.md = md
	if err := p.decodeJetStream(); err != nil {
		return nil, err
	}
	var errs []error
	var reported []toml.Key
	for _, k := range md.Undecoded() {
		// An unknown table hides its contents: report the table, not each key.
		// A mapping's destinations were checked by its own decoder.
		if hasPrefix(k, reported) || inMapping(k) {
			continue
		}
		reported = append(reported, k)
		errs = append(errs, &FileError{File: name, Line: p.line(k), Err: unknownKeyError{k.String()}})
	}
	return p, errors.Join(errs...)
}

func hasPrefix(k toml.Key, prefixes []toml.Key) bool {
	for _, p := range prefixes {
		if len(p) <= len(k) && slices.Equal(p, k[:len(p)]) {
			return true
		}
	}
	return false
}

// The toml package reports structural type mismatches (a scalar where a table
// belongs, say) as plain errors in this form rather than as ParseErrors.
var (
	tomlPlainErr = regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key "((?:[^"\\]|\\.)*)"\): (.*)$`)
	typeMismatch = regexp.MustCompile(`^type mismatch for .*: expected (\w+) but found (\[\]any|\w+)$`)
	incompatible = regexp.MustCompile(`^incompatible types: TOML value has type (\w+); destination has type (\w+)$`)
)

// decodeError turns whatever toml.Decode returned into a FileError, keeping
// the line toml found.
func (p *parsedFile) decodeError(err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		line := pe.Position.Line
		if line == 0 {
			line = pe.Line
		}
		return &FileError{File: p.name, Line: line, Key: pe.LastKey, Err: errors.New(pe.Message)}
	}
	if m := tomlPlainErr.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &FileError{File: p.name, Line: line, Key: m[2], Err: errors.New(plainMessage(m[3]))}
	}
	return &FileError{File: p.name, Err: err}
}

// plainMessage rewords the toml package's structural mismatches, which name
// Go types, in TOML terms.
func plainMessage(msg string) string {
	if m := typeMismatch.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("expected a %s, got %s", m[1], tomlTypeWord(m[2]))
	}
	if m := incompatible.FindStringSubmatch(msg); m != nil {
		want := m[2]
		if want == "slice" || want == "array" {
			want = "an array"
		} else {
			want = "a " + want
		}
		return fmt.Sprintf("expected %s, got %s", want, tomlTypeWord(m[1]))
	}
	return msg
}

func tomlTypeWord(t string) string {
	switch t {
	case "bool":
		return "a boolean"
	case "int64", "integer":
		return "an integer"
	case "float64", "float":
		return "a float"
	case "array", "slice", "[]any":
		return "an array"
	}
	return "a " + t
}

// probe is a value that refuses to decode. Decoding the file into a struct
// whose only field is a probe at a chosen key makes the toml package report
// that key's line, which MetaData does not expose directly.
type probe struct{}

var errProbe = errors.New("probe")

func (*probe) UnmarshalTOML(any) error { return errProbe }

// line returns the line on which key k is defined, or 0 if it cannot tell.
func (p *parsedFile) line(k toml.Key) int {
	t := reflect.TypeFor[probe]()
	for i := len(k) - 1; i >= 0; i-- {
		name := k[i]
		if strings.ContainsAny(name, ",") {
			return 0 // a comma would end the tag's name
		}
		field := reflect.StructField{
			Name: "F",
			Type: t,
			Tag:  reflect.StructTag(`toml:` + strconv.Quote(name)),
		}
		t = reflect.StructOf([]reflect.StructField{field})
		// Keys inside an array of tables ([[authorization.users]] or an
		// inline array of tables) need a slice at that level.
		if typ := p.md.Type(k[:i]...); i > 0 && (typ == "ArrayHash" || typ == "Array") {
			t = reflect.SliceOf(t)
		}
	}
	_, err := toml.Decode(p.text, reflect.New(t).Interface())
	var pe toml.ParseError
	if errors.As(err, &pe) && pe.Message == errProbe.Error() {
		return pe.Position.Line
	}
	return 0
}

// apply copies the settings present in the file onto c.
func (p *parsedFile) apply(c *Config) error {
	f := &p.cfg
	o := &c.Server
	setString(&o.Host, f.Host)
	setInt(&o.Port, f.Port)
	if f.Listen != nil {
		if f.Host != nil || f.Port != nil {
			return p.keyError("listen", errors.New(`set either "listen" or "host"/"port", not both`))
		}
		host, port, err := net.SplitHostPort(string(*f.Listen))
		if err != nil {
			return p.keyError("listen", fmt.Errorf("expected \"host:port\": %v", err))
		}
		if o.Port, err = parsePort(port); err != nil {
			return p.keyError("listen", err)
		}
		o.Host = host
	}
	setString(&o.ServerName, f.ServerName)
	setString(&o.SystemAccount, f.SystemAccount)
	setInt(&o.HTTPPort, f.HTTPPort)
	setInt(&o.ProfPort, f.ProfPort)
	if f.HTTP != nil {
		f.HTTP.apply(o)
	}
	if a := f.Authorization; a != nil {
		setString(&o.AuthToken, a.Token)
		setString(&o.Username, a.User)
		setString(&o.Password, a.Password)
		for _, u := range a.Users {
			o.Users = append(o.Users, u.options())
		}
		setDefaultPermissions(o, server.GlobalAccount, a.DefaultPermissions)
	}
	if f.MaxPayload != nil {
		o.MaxPayload = int(*f.MaxPayload)
	}
	if f.MaxControlLine != nil {
		o.MaxControlLine = int(*f.MaxControlLine)
	}
	if f.MaxPending != nil {
		o.MaxPending = int64(*f.MaxPending)
	}
	setInt(&o.MaxConnections, f.MaxConnections)
	setInt(&o.MaxSubscriptions, f.MaxSubscriptions)
	setDuration(&o.WriteDeadline, f.WriteDeadline)
	setDuration(&o.PingInterval, f.PingInterval)
	setInt(&o.MaxPingsOut, f.PingMax)
	setDuration(&o.AuthTimeout, f.AuthTimeout)
	setBool(&o.Debug, f.Debug)
	setBool(&o.Trace, f.Trace)
	setString(&c.PidFile, f.PidFile)
	setDuration(&o.LameDuckDuration, f.LameDuckDuration)
	setDuration(&o.LameDuckGracePeriod, f.LameDuckGrace)
	if f.Accounts != nil {
		applyAccounts(o, f.Accounts)
	}
	if err := p.applyMappings(o); err != nil {
		return err
	}
	if t := f.TLS; t != nil {
		o.TLS = t.options()
	}
	if f.Cluster != nil {
		if err := p.applyCluster(&o.Cluster); err != nil {
			return err
		}
	}
	if f.Websocket != nil {
		if err := p.applyWebsocket(&o.Websocket); err != nil {
			return err
		}
	}
	if f.MQTT != nil {
		if err := p.applyMQTT(c); err != nil {
			return err
		}
	}
	if js := f.JetStream; js != nil {
		setBool(&c.JetStream, js.Enabled)
		setString(&c.StoreDir, js.StoreDir)
		setString(&c.Sync, js.Sync)
		setDuration(&c.SyncInterval, js.SyncInterval)
		setString(&c.OnDamage, js.OnDamage)
		setSize(&c.MaxFileStore, js.MaxFile)
		setSize(&c.MaxMemoryStore, js.MaxMemory)
	}
	for name, fa := range f.Accounts {
		if fa == nil || fa.JetStream == nil {
			continue
		}
		var l StoreLimits
		setSize(&l.MaxFileStore, fa.JetStream.MaxFile)
		setSize(&l.MaxMemoryStore, fa.JetStream.MaxMemory)
		if c.AccountStoreLimits == nil {
			c.AccountStoreLimits = map[string]StoreLimits{}
		}
		c.AccountStoreLimits[name] = l
	}
	return nil
}

// keyError attributes err to a dotted key of the file.
func (p *parsedFile) keyError(key string, err error) error {
	k := toml.Key(strings.Split(key, "."))
	return &FileError{File: p.name, Line: p.line(k), Key: key, Err: err}
}

func setSize(dst *int64, v *sizeValue) {
	if v != nil {
		*dst = int64(*v)
	}
}

func setString(dst *string, v *stringValue) {
	if v != nil {
		*dst = string(*v)
	}
}

func setInt(dst *int, v *intValue) {
	if v != nil {
		*dst = int(*v)
	}
}

func setBool(dst *bool, v *boolValue) {
	if v != nil {
		*dst = bool(*v)
	}
}

func setDuration(dst *time.Duration, v *durationValue) {
	if v != nil {
		*dst = time.Duration(*v)
	}
}
