package gendir

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
)

// WriteLDIF streams every entry (see Each) to w as LDIF content records, as
// slapadd and ldapadd read them.
func (g *Generator) WriteLDIF(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := g.Each(func(e Entry) error { return WriteEntry(bw, e) }); err != nil {
		return fmt.Errorf("writing LDIF: %w", err)
	}
	return bw.Flush()
}

// WriteEntry writes one entry as an LDIF content record followed by a blank
// line. Values that are not safe strings (RFC 2849) are base64-encoded.
func WriteEntry(w io.Writer, e Entry) error {
	bw, buffered := w.(*bufio.Writer)
	if !buffered {
		bw = bufio.NewWriter(w)
	}
	writeLine(bw, "dn", e.DN)
	for _, a := range e.Attrs {
		for _, v := range a.Values {
			writeLine(bw, a.Name, v)
		}
	}
	// bufio.Writer errors are sticky: the last write reports any.
	if _, err := bw.WriteString("\n"); err != nil || buffered {
		return err
	}
	return bw.Flush()
}

// writeLine writes "name: value" or "name:: base64". Long lines are not
// folded: LDIF readers accept them.
func writeLine(w *bufio.Writer, name, value string) {
	w.WriteString(name)
	if safeString(value) {
		w.WriteString(": ")
		w.WriteString(value)
	} else {
		w.WriteString(":: ")
		// Encoding into the writer's spare buffer allocates nothing.
		w.Write(base64.StdEncoding.AppendEncode(w.AvailableBuffer(), []byte(value)))
	}
	w.WriteByte('\n')
}

// safeString reports whether v may be written as is (RFC 2849 SAFE-STRING,
// and no trailing space, which readers strip).
func safeString(v string) bool {
	if v == "" {
		return true
	}
	switch v[0] {
	case ' ', ':', '<':
		return false
	}
	if v[len(v)-1] == ' ' {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == 0 || c == '\n' || c == '\r' || c >= 0x80 {
			return false
		}
	}
	return true
}
