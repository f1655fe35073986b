package installer

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"

	"github.com/kardianos/service"
)

// Logger returns the logger for the agent that Run runs: one writing to the
// Windows event log when the service control manager started this process
// (its stderr goes nowhere), stderrLog otherwise (systemd sends stderr to the
// journal). If the event log cannot be opened it says so on stderrLog and
// returns stderrLog.
func Logger(cfg *service.Config, stderrLog *slog.Logger, level slog.Leveler) *slog.Logger {
	if !useSystemLog || service.Interactive() {
		return stderrLog
	}
	s, err := service.New(NewProgram(nil), cfg)
	var l service.Logger
	if err == nil {
		l, err = s.SystemLogger(nil)
	}
	if err != nil {
		stderrLog.Warn("cannot open the system log; logging to stderr", "service", cfg.Name, "err", err)
		return stderrLog
	}
	return slog.New(NewLogHandler(l, level))
}

// NewLogHandler returns a slog.Handler that writes each record at level or
// above to l as one line: the message, then the attributes as key=value.
// Errors go to l.Error, warnings to l.Warning, the rest to l.Info; the
// system log records the time and level itself.
func NewLogHandler(l service.Logger, level slog.Leveler) slog.Handler {
	s := &logSink{l: l}
	// The text handler does the attribute and group work; Handle turns its
	// output into one call on l.
	text := slog.NewTextHandler(&s.buf, &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
			return slog.Attr{}
		}
		return a
	}})
	return &logHandler{text: text, sink: s}
}

type logSink struct {
	l   service.Logger
	mu  sync.Mutex // guards buf from Handle's write to its read
	buf bytes.Buffer
}

type logHandler struct {
	text slog.Handler
	sink *logSink
}

var _ slog.Handler = (*logHandler)(nil)

func (h *logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.text.Enabled(ctx, level)
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	h.sink.mu.Lock()
	defer h.sink.mu.Unlock()
	h.sink.buf.Reset()
	if err := h.text.Handle(ctx, r); err != nil {
		return err
	}
	line := r.Message
	if attrs := strings.TrimSpace(h.sink.buf.String()); attrs != "" {
		line += " " + attrs
	}
	switch {
	case r.Level >= slog.LevelError:
		return h.sink.l.Error(line)
	case r.Level >= slog.LevelWarn:
		return h.sink.l.Warning(line)
	}
	return h.sink.l.Info(line)
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &logHandler{text: h.text.WithAttrs(as), sink: h.sink}
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{text: h.text.WithGroup(name), sink: h.sink}
}
