package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnrollToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "enroll.token")
	if err := os.WriteFile(file, []byte("  tok-abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("IDSYNC_ENROLL_TOKEN", "")
	for _, tc := range []struct {
		name, path, stdin, env string
		want, wantErr          string
	}{
		{"file", file, "", "", "tok-abc", ""},
		{"stdin", "-", "tok-in\n", "", "tok-in", ""},
		{"environment", "", "", "tok-env", "tok-env", ""},
		{"file wins over the environment", file, "", "tok-env", "tok-abc", ""},
		{"nothing", "", "", "", "", "--token-file: required"},
		{"empty stdin", "-", "\n", "", "", "--token-file -: empty"},
		{"missing file", filepath.Join(dir, "nope"), "", "", "", "--token-file: open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("IDSYNC_ENROLL_TOKEN", tc.env)
			got, err := enrollToken(tc.path, strings.NewReader(tc.stdin))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("enrollToken = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestEnrollRefusesTokenFlag: a token given as a flag's value is refused
// before anything else happens.
func TestEnrollRefusesTokenFlag(t *testing.T) {
	if code := run([]string{"enroll", "--config", filepath.Join(t.TempDir(), "agent.yaml"), "--token", "tok-on-the-command-line"}); code != 2 {
		t.Errorf("enroll --token: exit %d, want 2", code)
	}
}
