package notify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"

	"github.com/idsync/idsync/server/store"
)

// message is one delivery as sent: its counts, and its first notices.
type message struct {
	Channel  string
	Delivery int64
	// Notices are the first MessageNotices notices; Counts count them
	// all.
	Notices []*store.Notice
	Counts  []store.NoticeCount
	At      time.Time
}

// total is how many notices the message carries.
func (m *message) total() int64 {
	var n int64
	for _, c := range m.Counts {
		n += c.Count
	}
	return n
}

// kindNames say what a notice kind is, for people.
var kindNames = map[string][2]string{
	store.NoticeTaskOpened:   {"manual deprovision task opened", "manual deprovision tasks opened"},
	store.NoticeImportPaused: {"import paused by the safeguard", "imports paused by the safeguard"},
	store.NoticeImportFailed: {"full import failed", "full imports failed"},
	store.NoticePushDead:     {"push dead-lettered", "pushes dead-lettered"},
	store.NoticeAgentOffline: {"agent offline", "agents offline"},
	store.NoticeCertExpiring: {"agent certificate expiring", "agent certificates expiring"},
	store.NoticeAppPaused:    {"app paused", "apps paused"},
	store.NoticeChannelTest:  {"test message", "test messages"},
}

func kindName(kind string, n int64) string {
	names, ok := kindNames[kind]
	if !ok {
		return kind
	}
	if n == 1 {
		return names[0]
	}
	return names[1]
}

// whatToDo is the command that handles a notice of a kind.
var whatToDo = map[string]string{
	store.NoticeTaskOpened: "idsyncctl task list, then idsyncctl task resolve ID once done",
	store.NoticePushDead:   "idsyncctl push list --failed, then idsyncctl push retry",
	store.NoticeAgentOffline: "idsyncctl agent list; check the agent's service and its network path to the hub " +
		"(an agent enrolled again has a new id: idsyncctl agent revoke OLD-ID ends the old one's notices)",
	store.NoticeImportFailed: "idsyncctl import show RUN for the whole message; the hub tries again within minutes, " +
		"and idsyncctl import start --directory NAME --full --wait once it is mended",
	store.NoticeCertExpiring: "idsyncctl agent list; an agent renews its certificate while connected: start it, or enrol it again",
	store.NoticeAppPaused:    "give the app working credentials with idsyncctl app update NAME, which resumes it",
}

// Subject is the message's one-line summary: counts by kind.
func (m *message) Subject() string {
	byKind := map[string]int64{}
	var kinds []string
	for _, c := range m.Counts {
		if _, ok := byKind[c.Kind]; !ok {
			kinds = append(kinds, c.Kind)
		}
		byKind[c.Kind] += c.Count
	}
	parts := make([]string, 0, len(kinds))
	for _, k := range orderKinds(kinds) {
		parts = append(parts, fmt.Sprintf("%d %s", byKind[k], kindName(k, byKind[k])))
	}
	return "[idsync] " + strings.Join(parts, ", ")
}

// orderKinds puts kinds in the order of store.NoticeKinds.
func orderKinds(kinds []string) []string {
	var out []string
	for _, k := range append(store.NoticeKinds, store.NoticeChannelTest) {
		for _, have := range kinds {
			if have == k {
				out = append(out, k)
			}
		}
	}
	return out
}

// Text is the message's plain-text body.
func (m *message) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "idsync notification %s (channel %s)\n\n", m.ref(), m.Channel)
	b.WriteString("Counts:\n")
	for _, c := range m.Counts {
		app := ""
		if c.App != "" {
			app = " in " + c.App
		}
		fmt.Fprintf(&b, "  %d %s%s\n", c.Count, kindName(c.Kind, c.Count), app)
	}
	b.WriteString("\n")
	for _, n := range m.Notices {
		fmt.Fprintf(&b, "- %s %s", n.At.UTC().Format(time.RFC3339), kindName(n.Kind, 1))
		if n.App != "" {
			fmt.Fprintf(&b, ", app %s", n.App)
		}
		if n.Subject != "" {
			fmt.Fprintf(&b, ", %s", n.Subject)
		}
		if n.Ref != "" {
			fmt.Fprintf(&b, " (%s)", n.Ref)
		}
		if n.Detail != "" {
			fmt.Fprintf(&b, "\n  %s", strings.ReplaceAll(n.Detail, "\n", "\n  "))
		}
		b.WriteString("\n")
	}
	if more := m.total() - int64(len(m.Notices)); more > 0 {
		fmt.Fprintf(&b, "\n... and %d more, counted above.\n", more)
	}
	var todo []string
	for _, k := range orderKinds(m.kinds()) {
		if w, ok := whatToDo[k]; ok {
			todo = append(todo, "  "+kindName(k, 2)+": "+w)
		}
	}
	if len(todo) > 0 {
		b.WriteString("\nWhat to do:\n" + strings.Join(todo, "\n") + "\n")
	}
	return b.String()
}

func (m *message) kinds() []string {
	var out []string
	for _, c := range m.Counts {
		out = append(out, c.Kind)
	}
	return out
}

// ref names the message: its delivery, or a test.
func (m *message) ref() string {
	if m.Delivery == 0 {
		return "test"
	}
	return fmt.Sprintf("delivery %d", m.Delivery)
}

// Payload is the JSON body of a webhook request.
type Payload struct {
	// Delivery is the delivery's id (0: a test message); a repeat has the
	// same.
	Delivery int64  `json:"delivery"`
	Channel  string `json:"channel"`
	Subject  string `json:"subject"`
	// Total counts the events; Events lists the first MessageNotices.
	Total  int64           `json:"total"`
	Counts []PayloadCount  `json:"counts"`
	Events []PayloadNotice `json:"events"`
	SentAt time.Time       `json:"sent_at"`
}

// PayloadCount counts events of a kind, for an app.
type PayloadCount struct {
	Kind  string `json:"kind"`
	App   string `json:"app,omitempty"`
	Count int64  `json:"count"`
}

// PayloadNotice is one event.
type PayloadNotice struct {
	Kind    string    `json:"kind"`
	App     string    `json:"app,omitempty"`
	Subject string    `json:"subject,omitempty"`
	Ref     string    `json:"ref,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	At      time.Time `json:"at"`
}

// JSON is the webhook body.
func (m *message) JSON() ([]byte, error) {
	p := Payload{Delivery: m.Delivery, Channel: m.Channel, Subject: m.Subject(), Total: m.total(),
		Counts: []PayloadCount{}, Events: []PayloadNotice{}, SentAt: m.At.UTC()}
	for _, c := range m.Counts {
		p.Counts = append(p.Counts, PayloadCount{Kind: c.Kind, App: c.App, Count: c.Count})
	}
	for _, n := range m.Notices {
		p.Events = append(p.Events, PayloadNotice{Kind: n.Kind, App: n.App, Subject: n.Subject, Ref: n.Ref,
			Detail: n.Detail, At: n.At.UTC()})
	}
	return json.Marshal(p)
}

// Mail is the message as RFC 5322 text, quoted-printable UTF-8.
func (m *message) Mail(from string, to []string, host string) ([]byte, error) {
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", from)
	h("To", strings.Join(to, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject()))
	h("Date", m.At.Format(time.RFC1123Z))
	id := "test-" + fmt.Sprint(m.At.UnixNano())
	if m.Delivery != 0 {
		id = fmt.Sprintf("delivery-%d", m.Delivery)
	}
	h("Message-ID", fmt.Sprintf("<%s.%s@%s>", id, m.Channel, host))
	h("X-Idsync-Delivery", fmt.Sprint(m.Delivery))
	h("MIME-Version", "1.0")
	h("Content-Type", `text/plain; charset="utf-8"`)
	h("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	w := quotedprintable.NewWriter(&b)
	if _, err := w.Write([]byte(strings.ReplaceAll(m.Text(), "\n", "\r\n"))); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
