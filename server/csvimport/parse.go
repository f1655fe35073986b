package csvimport

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/transform"

	"github.com/idsync/idsync/server/refusal"
	"github.com/idsync/idsync/server/store"
)

// Encodings a file may be in, by the names an admin gives.
var encodings = map[string]*charmap.Charmap{
	"windows-1252": charmap.Windows1252, "cp1252": charmap.Windows1252,
	"iso-8859-1": charmap.ISO8859_1, "latin1": charmap.ISO8859_1, "latin-1": charmap.ISO8859_1,
	"iso-8859-15": charmap.ISO8859_15,
}

// Encodings lists the encodings a file may be in.
const Encodings = "utf-8 (the default; a BOM is tolerated), windows-1252, iso-8859-1, iso-8859-15"

// CheckFormat checks an encoding and a delimiter as an admin gives them.
func CheckFormat(encoding, delimiter string) error {
	if _, err := decoder(encoding); err != nil {
		return err
	}
	_, err := delimiterRune(delimiter)
	return err
}

func decoder(name string) (*charmap.Charmap, error) {
	switch n := strings.ToLower(strings.TrimSpace(name)); n {
	case "", "utf-8", "utf8":
		return nil, nil
	default:
		if cm := encodings[n]; cm != nil {
			return cm, nil
		}
		return nil, fmt.Errorf("encoding %q: must be one of %s", name, Encodings)
	}
}

// delimiters are the ones detected from the header, in order of preference.
var delimiters = []rune{',', ';', '\t', '|'}

func delimiterRune(s string) (rune, error) {
	switch s {
	case "":
		return 0, nil
	case `\t`, "tab", "TAB":
		return '\t', nil
	}
	r, n := utf8.DecodeRuneInString(s)
	if n != len(s) || r == utf8.RuneError || r == '"' || r == '\r' || r == '\n' {
		return 0, fmt.Errorf("delimiter %q: one character such as , ; | or tab, not a quote or a line break", s)
	}
	return r, nil
}

// detectDelimiter picks the delimiter the header line holds most of.
func detectDelimiter(header []byte) rune {
	best, count := ',', 0
	for _, d := range delimiters {
		if n := bytes.Count(header, []byte(string(d))); n > count {
			best, count = d, n
		}
	}
	return best
}

// layout is where the fields of a user are in the rows of one file.
type layout struct {
	header   []string
	id       int // column of the id
	username int
	status   int // -1: none
	active   []string
	fields   []column // profile fields
	extra    []column
}

type column struct {
	name  string // as the mapping names it
	index int
	set   func(p *store.Profile, v string)
}

// FileError is a file that cannot be imported at all: no header, or a
// mapped column missing. It is the sender's to mend: an Invalid refusal
// (InvalidArgument at the doors).
type FileError struct{ msg string }

func (e *FileError) Error() string { return e.msg }

func (e *FileError) Unwrap() error { return refusal.Invalidf("%s", e.msg) }

func fileErrorf(format string, args ...any) error {
	return &FileError{msg: fmt.Sprintf(format, args...)}
}

// newLayout finds d's mapped columns in a header row.
func newLayout(d *store.Directory, header []string) (*layout, error) {
	index := map[string]int{}
	for i, h := range header {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		k := strings.ToLower(h)
		if _, dup := index[k]; dup {
			return nil, fileErrorf("the header names column %q twice", h)
		}
		index[k] = i
	}
	find := func(name string) int {
		if i, ok := index[strings.ToLower(name)]; ok {
			return i
		}
		return -1
	}
	m, c := d.Mapping, d.CSV
	if c == nil {
		c = &store.CSVLayout{}
	}
	l := &layout{header: header, status: -1}
	var missing []string
	need := func(field, name string) int {
		i := find(name)
		if i < 0 {
			missing = append(missing, fmt.Sprintf("%q (%s)", name, field))
		}
		return i
	}
	l.username = need("username", m.Username)
	l.id = l.username
	if c.IDColumn != "" {
		l.id = need("id", c.IDColumn)
	}
	if c.StatusColumn != "" {
		l.status = need("status", c.StatusColumn)
		for _, v := range c.ActiveValues {
			l.active = append(l.active, strings.ToLower(strings.TrimSpace(v)))
		}
	}
	for _, f := range []struct {
		field, name string
		set         func(p *store.Profile, v string)
	}{
		{"email", m.Email, func(p *store.Profile, v string) { p.Email = v }},
		{"given_name", m.GivenName, func(p *store.Profile, v string) { p.GivenName = v }},
		{"family_name", m.FamilyName, func(p *store.Profile, v string) { p.FamilyName = v }},
		{"display_name", m.DisplayName, func(p *store.Profile, v string) { p.DisplayName = v }},
		{"employee_number", m.EmployeeNumber, func(p *store.Profile, v string) { p.EmployeeNumber = v }},
		{"department", m.Department, func(p *store.Profile, v string) { p.Department = v }},
		{"title", m.Title, func(p *store.Profile, v string) { p.Title = v }},
		{"manager", m.Manager, func(p *store.Profile, v string) { p.Manager = v }},
	} {
		if f.name != "" {
			l.fields = append(l.fields, column{name: f.name, index: need(f.field, f.name), set: f.set})
		}
	}
	for _, e := range m.Extra {
		l.extra = append(l.extra, column{name: e, index: need("extra", e)})
	}
	if len(missing) > 0 {
		var found []string
		for _, h := range header {
			found = append(found, fmt.Sprintf("%q", strings.TrimSpace(h)))
		}
		return nil, fileErrorf("the header has no column %s: is the first line the header, and the file the right export? "+
			"its columns: %s", strings.Join(missing, ", "), strings.Join(found, ", "))
	}
	return l, nil
}

// row is one data row of a file: its user, or why it is bad.
type row struct {
	line int
	id   string // "" when it could not be read
	obj  *store.Object
	err  string
}

// user maps a record into a user object, or says why it cannot.
func (l *layout) user(rec []string, decoded bool) (id string, o *store.Object, problem string) {
	valid := func(s string) bool {
		// A single-byte encoding decodes every byte; U+FFFD stands for
		// one the encoding does not define.
		return utf8.ValidString(s) && !(decoded && strings.ContainsRune(s, utf8.RuneError))
	}
	id = strings.TrimSpace(rec[l.id])
	if !valid(id) {
		return "", nil, fmt.Sprintf("column %q is not valid text in the file's encoding", l.header[l.id])
	}
	for i, v := range rec {
		if !valid(v) {
			return id, nil, fmt.Sprintf("column %q is not valid text in the file's encoding (give --encoding?)", strings.TrimSpace(l.header[i]))
		}
	}
	if id == "" {
		return "", nil, fmt.Sprintf("no id: column %q is empty", strings.TrimSpace(l.header[l.id]))
	}
	o = &store.Object{Kind: store.ObjectUser, ExternalID: id, Status: store.StatusActive}
	p := &o.Profile
	p.Username = strings.TrimSpace(rec[l.username])
	if p.Username == "" {
		return id, nil, fmt.Sprintf("no username: column %q is empty", strings.TrimSpace(l.header[l.username]))
	}
	for _, f := range l.fields {
		f.set(p, strings.TrimSpace(rec[f.index]))
	}
	for _, e := range l.extra {
		if v := strings.TrimSpace(rec[e.index]); v != "" {
			if p.Extra == nil {
				p.Extra = map[string][]string{}
			}
			p.Extra[e.name] = []string{v}
		}
	}
	if l.status >= 0 && !slices.Contains(l.active, strings.ToLower(strings.TrimSpace(rec[l.status]))) {
		o.Status = store.StatusSuspended
	}
	return id, o, ""
}

// maxLineBytes bounds one record: a runaway quote must not make one field
// of the whole file.
const maxLineBytes = 1 << 20

// format is how a file is written.
type format struct {
	encoding  string
	delimiter string
}

// parser reads the rows of one file.
type parser struct {
	cr      *csv.Reader
	layout  *layout
	decoded bool
	rows    int
	// close releases the file read (nil: nothing to release).
	close func()
}

// done releases the file the parser reads.
func (p *parser) done() {
	if p.close != nil {
		p.close()
	}
}

// newParser reads the header of r and finds d's columns in it.
func newParser(r io.Reader, d *store.Directory, f format) (*parser, error) {
	cm, err := decoder(f.encoding)
	if err != nil {
		return nil, err
	}
	delim, err := delimiterRune(f.delimiter)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if cm == nil {
		if b, _ := br.Peek(3); bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
			_, _ = br.Discard(3)
		} else if b, _ := br.Peek(2); bytes.Equal(b, []byte{0xFF, 0xFE}) || bytes.Equal(b, []byte{0xFE, 0xFF}) {
			return nil, fileErrorf("the file is UTF-16 (it starts with a UTF-16 byte order mark): export it as UTF-8 or Windows-1252")
		}
	}
	var in io.Reader = br
	if cm != nil {
		in = bufio.NewReaderSize(transform.NewReader(br, cm.NewDecoder()), 64<<10)
	}
	bin := in.(*bufio.Reader)
	if delim == 0 {
		first, _ := bin.Peek(64 << 10)
		if i := bytes.IndexByte(first, '\n'); i >= 0 {
			first = first[:i]
		}
		delim = detectDelimiter(first)
	}
	cr := csv.NewReader(&boundedLines{r: bin})
	cr.Comma = delim
	cr.ReuseRecord = false
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fileErrorf("the file is empty: no header line")
	}
	if err != nil {
		return nil, fileErrorf("the header line: %v", err)
	}
	l, err := newLayout(d, header)
	if err != nil {
		return nil, err
	}
	cr.FieldsPerRecord = len(header)
	return &parser{cr: cr, layout: l, decoded: cm != nil}, nil
}

// next returns the next row; io.EOF at the end. A row that is wrong is
// returned with its reason; an error is a file that cannot be read on.
func (p *parser) next() (row, error) {
	rec, err := p.cr.Read()
	if errors.Is(err, io.EOF) {
		return row{}, io.EOF
	}
	var line int
	if rec != nil {
		line, _ = p.cr.FieldPos(0)
	}
	var pe *csv.ParseError
	switch {
	case errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount):
		p.rows++
		r := row{line: pe.StartLine, err: fmt.Sprintf("%d fields, the header has %d", len(rec), len(p.layout.header))}
		if p.layout.id < len(rec) {
			if id := strings.TrimSpace(rec[p.layout.id]); utf8.ValidString(id) {
				r.id = id
			}
		}
		return r, nil
	case errors.As(err, &pe):
		if errors.Is(pe.Err, errLineTooLong) {
			return row{}, fmt.Errorf("line %d: %w", pe.StartLine, errLineTooLong)
		}
		p.rows++
		// Where encoding/csv stopped: a byte of the line (of the text as
		// decoded to UTF-8), and the line itself when a quoted field had
		// carried the record past the line it started on.
		at := fmt.Sprintf("byte %d of the line", pe.Column)
		if pe.Line != pe.StartLine {
			at = fmt.Sprintf("line %d, byte %d", pe.Line, pe.Column)
		}
		return row{line: pe.StartLine, err: fmt.Sprintf("%s: %v", at, pe.Err)}, nil
	case errors.Is(err, errLineTooLong):
		return row{}, fmt.Errorf("after line %d: %w", line, err)
	case err != nil:
		return row{}, err
	}
	p.rows++
	id, o, problem := p.layout.user(rec, p.decoded)
	return row{line: line, id: id, obj: o, err: problem}, nil
}

var errLineTooLong = fmt.Errorf("a record longer than %d bytes (an unclosed quote?)", maxLineBytes)

// boundedLines fails a read once maxLineBytes pass without a line break:
// encoding/csv would otherwise grow one record without bound.
type boundedLines struct {
	r   *bufio.Reader
	run int
}

func (b *boundedLines) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	for _, c := range p[:n] {
		if c == '\n' {
			b.run = 0
		} else if b.run++; b.run > maxLineBytes {
			return 0, errLineTooLong
		}
	}
	return n, err
}
