package main

import (
	"bytes"
	"encoding/csv"
	"reflect"
	"strings"
	"testing"
)

func TestTerminalSafe(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "admin token not recognised", "admin token not recognised"},
		{"non-ASCII kept", "Zoë Çelik, 山田, ａlice, \uFFFD", "Zoë Çelik, 山田, ａlice, \uFFFD"},
		{"newline cannot forge a line", "ok\n42  2026-11-01T00:00:00Z  admin:alice", `ok\n42  2026-11-01T00:00:00Z  admin:alice`},
		{"carriage return cannot overwrite", "refused\rok     ", `refused\rok     `},
		{"tab cannot shift columns", "a\tb", `a\tb`},
		{"ANSI colour", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"other C0 and DEL", "\x00\x07\x08\x7f", `\x00\x07\x08\x7f`},
		{"C1 control sequence introducer", "\u009b31m", `\u009b31m`},
		{"bidi override", "user:\u202eexe.txt", `user:\u202eexe.txt`},
		{"bidi isolates and marks", "\u2066a\u2069\u200f\u061c", `\u2066a\u2069\u200f\u061c`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"bytes that are not UTF-8", "a\xff\xfeb", `a\xff\xfeb`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := terminalSafe(tt.in); got != tt.want {
				t.Errorf("terminalSafe(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCSVSafe(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "admin:alice", "admin:alice"},
		{"empty", "", ""},
		{"formula", "=HYPERLINK(\"http://evil\",\"x\")", "'=HYPERLINK(\"http://evil\",\"x\")"},
		{"plus", "+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"},
		{"minus", "-2+3", "'-2+3"},
		{"at", "@SUM(A1)", "'@SUM(A1)"},
		{"tab", "\t=1", "'\t=1"},
		{"carriage return", "\r=1", "'\r=1"},
		{"inside is no formula", "a=b+c", "a=b+c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := csvSafe(tt.in); got != tt.want {
				t.Errorf("csvSafe(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestTableAndFields: a hostile cell stays on its row and draws nothing.
func TestTableAndFields(t *testing.T) {
	hostile := "x\n99  2026-01-01T00:00:00Z  admin:alice  app.delete  app:crm  ok\x1b[2K\u202e"
	var b bytes.Buffer
	if err := table(&b, []string{"ID", "DETAIL"}, [][]string{{"1", hostile}, {"2", "fine"}}); err != nil {
		t.Fatal(err)
	}
	if err := fields(&b, [][2]string{{"detail", hostile}}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if lines := strings.Count(out, "\n"); lines != 4 {
		t.Errorf("table and fields wrote %d lines, want 4:\n%s", lines, out)
	}
	if strings.ContainsAny(out, "\x1b\u202e") {
		t.Errorf("output holds an escape or a bidi override: %q", out)
	}
	if !strings.Contains(out, `x\n99  2026`) {
		t.Errorf("output %q does not show the newline escaped", out)
	}
}

// TestWriteCSV: formula cells are neutralised; everything else, control
// characters included, is exact CSV.
func TestWriteCSV(t *testing.T) {
	rows := [][]string{
		{"1", "=cmd|'/C calc'!A0", "line one\nline two"},
		{"2", "@import", "\x1b[31m"},
	}
	var b bytes.Buffer
	if err := writeCSV(&b, []string{"ID", "ACTOR", "DETAIL"}, rows); err != nil {
		t.Fatal(err)
	}
	got, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatalf("reading the CSV back: %v", err)
	}
	want := [][]string{
		{"ID", "ACTOR", "DETAIL"},
		{"1", "'=cmd|'/C calc'!A0", "line one\nline two"},
		{"2", "'@import", "\x1b[31m"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("CSV read back\n%q\nwant\n%q", got, want)
	}
}
