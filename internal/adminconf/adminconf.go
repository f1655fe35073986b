package adminconf

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/idsync/idsync/internal/atomicfile"
)

// Conf is what idsyncctl needs to reach the hub: its address, the CA to
// trust, and an admin token. The hub writes it (0600) on its first start.
type Conf struct {
	Version int    `yaml:"version"`
	Hub     string `yaml:"hub"`
	CA      string `yaml:"ca"`
	Token   string `yaml:"token"`
}

// Write writes c to path atomically with mode 0600.
func Write(path string, c Conf) error {
	data, err := encode(c, false)
	// yaml.v3 writes some strings as block scalars it cannot read back (a
	// line that starts with a tab, say): such a file is written with every
	// string double-quoted instead, which escapes whatever it must.
	if back, perr := parse(data); err == nil && (perr != nil || back != c) {
		data, err = encode(c, true)
	}
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// encode renders c as the file's text, its strings double-quoted when
// quoted is true.
func encode(c Conf, quoted bool) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# idsyncctl configuration: keep it secret, it holds an admin token.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	var v any = c
	if quoted {
		// Built by hand: yaml.Node.Encode reads its own output back, and
		// fails on the very strings that need quoting.
		str := func(s string) *yaml.Node {
			if !utf8.ValidString(s) {
				return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!binary", Value: base64.StdEncoding.EncodeToString([]byte(s))}
			}
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.DoubleQuotedStyle, Value: s}
		}
		doc := &yaml.Node{Kind: yaml.MappingNode}
		for _, kv := range []struct {
			key   string
			value *yaml.Node
		}{
			{"version", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(c.Version)}},
			{"hub", str(c.Hub)}, {"ca", str(c.CA)}, {"token", str(c.Token)},
		} {
			doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: kv.key}, kv.value)
		}
		v = doc
	}
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Read reads and checks an admin.conf. Errors name the file and
// the field.
func Read(path string) (*Conf, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading admin config: %w", err)
	}
	c, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// parse decodes and checks the file's text; errors name the field.
func parse(data []byte) (Conf, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Conf
	if err := dec.Decode(&c); err != nil {
		return Conf{}, err
	}
	switch {
	case c.Version != 1:
		return Conf{}, fmt.Errorf("version: must be 1, got %d", c.Version)
	case c.Hub == "":
		return Conf{}, errors.New("hub: required")
	case c.CA == "":
		return Conf{}, errors.New("ca: required")
	}
	return c, nil
}
