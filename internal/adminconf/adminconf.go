package adminconf

import (
	"bytes"
	"fmt"
	"os"

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
	var buf bytes.Buffer
	buf.WriteString("# idsyncctl configuration: keep it secret, it holds an admin token.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// Read reads and checks an admin.conf. Errors name the file and
// the field.
func Read(path string) (*Conf, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading admin config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Conf
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch {
	case c.Version != 1:
		return nil, fmt.Errorf("%s: version: must be 1, got %d", path, c.Version)
	case c.Hub == "":
		return nil, fmt.Errorf("%s: hub: required", path)
	case c.CA == "":
		return nil, fmt.Errorf("%s: ca: required", path)
	}
	return &c, nil
}
