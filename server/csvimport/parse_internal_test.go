package csvimport

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idsync/idsync/server/store"
)

var testDir = &store.Directory{Name: "hr", Kind: store.KindCSV,
	Mapping: store.Mapping{Username: "Login", Title: "Title"}, CSV: &store.CSVLayout{IDColumn: "ID"}}

// readAll parses data as a file of testDir and returns its rows.
func readAll(t *testing.T, data []byte, f format) ([]row, error) {
	t.Helper()
	p, err := newParser(bytes.NewReader(data), testDir, f)
	if err != nil {
		return nil, err
	}
	var rows []row
	for {
		r, err := p.next()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		rows = append(rows, r)
	}
}

// TestFormats: delimiters detected or given, encodings, the BOM, and the
// files refused whole.
func TestFormats(t *testing.T) {
	tests := []struct {
		name      string
		data      string
		f         format
		wantTitle string // of the first row
		wantErr   string
	}{
		{name: "comma", data: "ID,Login,Title\n1,ann,Chef\n", wantTitle: "Chef"},
		{name: "semicolon detected", data: "ID;Login;Title\n1;ann;Chef, de cuisine\n", wantTitle: "Chef, de cuisine"},
		{name: "tab detected", data: "ID\tLogin\tTitle\n1\tann\tChef; Sous\n", wantTitle: "Chef; Sous"},
		{name: "pipe detected", data: "ID|Login|Title\n1|ann|A, B; C\n", wantTitle: "A, B; C"},
		{name: "tab given", data: "ID\tLogin\tTitle\n1\tann\tx\n", f: format{delimiter: `\t`}, wantTitle: "x"},
		{name: "BOM and CRLF", data: "\ufeffID,Login,Title\r\n1,ann,Chef\r\n", wantTitle: "Chef"},
		{name: "header spaces and case", data: " id , LOGIN ,title\n1,ann,Chef\n", wantTitle: "Chef"},
		{name: "windows-1252", data: "ID,Login,Title\n1,ann,Caf\xe9 \x93Chef\x94 \x80\n", f: format{encoding: "windows-1252"}, wantTitle: "Café “Chef” €"},
		{name: "iso-8859-1", data: "ID,Login,Title\n1,ann,M\xfcller \xe9\n", f: format{encoding: "ISO-8859-1"}, wantTitle: "Müller é"},
		{name: "UTF-16", data: "\xff\xfeI\x00D\x00", wantErr: "the file is UTF-16"},
		{name: "empty", data: "", wantErr: "the file is empty: no header line"},
		{name: "column twice", data: "ID,Login,login\n", wantErr: `the header names column "login" twice`},
		{name: "line without end", data: "ID,Login,Title\n1,ann,\"" + strings.Repeat("x", maxLineBytes+10), wantErr: "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := readAll(t, []byte(tc.data), tc.f)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1 || rows[0].obj == nil || rows[0].obj.Profile.Title != tc.wantTitle {
				t.Fatalf("rows %+v, want one with title %q", rows, tc.wantTitle)
			}
		})
	}
}

// TestBadRowsOfParser: a bare quote and an undefined Windows-1252 byte
// make bad rows, named by line, and the rows after them read on.
func TestBadRowsOfParser(t *testing.T) {
	data := "ID,Login,Title\n1,ann,5'10\" tall\n2,bob,ok\n"
	rows, err := readAll(t, []byte(data), format{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].err == "" || rows[0].line != 2 || rows[1].obj == nil || rows[1].line != 3 {
		t.Errorf("rows %+v, want line 2 bad (a bare quote), line 3 good", rows)
	}
	if want := `byte 11 of the line: bare " in non-quoted-field`; len(rows) > 0 && rows[0].err != want {
		t.Errorf("the bare quote's row says %q, want %q (its column)", rows[0].err, want)
	}
	rows, err = readAll(t, []byte("ID,Login,Title\n1,ann,x\x81y\n"), format{encoding: "windows-1252"})
	if err != nil || len(rows) != 1 || !strings.Contains(rows[0].err, "not valid text") || rows[0].id != "1" {
		t.Errorf("rows %+v, %v; want one bad row (0x81 is undefined in Windows-1252) that keeps its id", rows, err)
	}
}

// FuzzParse: no file panics the parser or makes it loop, and every row it
// returns is a user or says why not.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.csv"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
	}
	f.Add([]byte("ID;Login;Title\n1;a;\"x\ny\"\n"), "windows-1252")
	f.Fuzz(func(t *testing.T, data []byte, encoding string) {
		p, err := newParser(bytes.NewReader(data), testDir, format{encoding: encoding})
		if err != nil {
			return
		}
		for range len(data) + 2 {
			r, err := p.next()
			if err != nil {
				return
			}
			if (r.obj == nil) == (r.err == "") {
				t.Fatalf("row %+v: a user, or a reason, not both or neither", r)
			}
		}
		t.Fatalf("more rows than bytes in %q", data)
	})
}
