package installer_test

import (
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"github.com/idsync/idsync/installer"
)

// recorder is a service.Logger that keeps what it is given.
type recorder struct{ lines []string }

func (r *recorder) add(kind string, v ...any) error {
	r.lines = append(r.lines, kind+": "+fmt.Sprint(v...))
	return nil
}
func (r *recorder) Error(v ...any) error   { return r.add("error", v...) }
func (r *recorder) Warning(v ...any) error { return r.add("warning", v...) }
func (r *recorder) Info(v ...any) error    { return r.add("info", v...) }
func (r *recorder) Errorf(f string, a ...any) error {
	return r.add("error", fmt.Sprintf(f, a...))
}
func (r *recorder) Warningf(f string, a ...any) error {
	return r.add("warning", fmt.Sprintf(f, a...))
}
func (r *recorder) Infof(f string, a ...any) error { return r.add("info", fmt.Sprintf(f, a...)) }

func TestLogHandler(t *testing.T) {
	tests := []struct {
		name string
		log  func(l *slog.Logger)
		want []string
	}{
		{"levels", func(l *slog.Logger) {
			l.Debug("hidden")
			l.Info("connected")
			l.Warn("reconnecting")
			l.Error("refused")
		}, []string{"info: connected", "warning: reconnecting", "error: refused"}},
		{"attributes and groups", func(l *slog.Logger) {
			l.With("component", "agent").WithGroup("run").Info("import done", "id", 7, "dn", "cn=a b")
		}, []string{`info: import done component=agent run.id=7 run.dn="cn=a b"`}},
		{"message alone", func(l *slog.Logger) { l.Info("starting") }, []string{"info: starting"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			tt.log(slog.New(installer.NewLogHandler(&r, slog.LevelInfo)))
			if !slices.Equal(r.lines, tt.want) {
				t.Errorf("logged %q, want %q", r.lines, tt.want)
			}
		})
	}
}
