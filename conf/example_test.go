package conf

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

const examplePath = "../wisp.conf.example"

// The example config parses, and every value in it is the default, so the
// file documents what Wisp does when the key is left out.
func TestExampleConfig(t *testing.T) {
	c, err := Load([]string{"-c", examplePath})
	if err != nil {
		t.Fatal(err)
	}
	want := defaults(t)
	want.File = examplePath
	if !reflect.DeepEqual(c, want) {
		t.Errorf("example config is not all defaults\n got %+v\nwant %+v", c, want)
	}
}

// Every key the file format knows appears in the example, set or in a comment.
func TestExampleMentionsEveryKey(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range fileKeys(reflect.TypeFor[fileConfig]()) {
		re := regexp.MustCompile(`(?m)(^[#\s]*|\{ )` + regexp.QuoteMeta(key) + ` *=|^[#\s]*\[` + regexp.QuoteMeta(key) + `\]`)
		if !re.Match(data) {
			t.Errorf("%s does not show key %q", filepath.Base(examplePath), key)
		}
	}
}

// fileKeys lists the TOML key names of a file struct, recursively.
func fileKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		// A field tagged "-" holds the decoded form of another key
		// (fileConfig.JetStream): its own keys count, its name does not.
		if tag := f.Tag.Get("toml"); tag != "-" {
			keys = append(keys, tag)
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice || ft.Kind() == reflect.Map {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			keys = append(keys, fileKeys(ft)...)
		}
	}
	return keys
}

// The console's Streams page, with streams off, shows a config snippet to
// turn them on; it must be one the config reader accepts, and turn them on.
func TestConsoleStreamsHintLoads(t *testing.T) {
	html, err := os.ReadFile("../server/console/index.html")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)<code data-config>(.*?)</code>`).FindSubmatch(html)
	if m == nil {
		t.Fatal("index.html has no <code data-config> snippet")
	}
	snippet := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`, "&amp;", "&").Replace(string(m[1]))
	c, err := LoadFile("console-hint.conf", []byte(snippet))
	if err != nil {
		t.Fatalf("the console's hint %q does not load: %v", snippet, err)
	}
	if !c.JetStream {
		t.Errorf("the console's hint %q leaves streams off", snippet)
	}
}
