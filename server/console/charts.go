package console

import (
	"fmt"
	"html"
	"html/template"
	"strconv"
	"strings"
	"time"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// The charts are SVG drawn here, on the server: bars of numbers and
// escaped labels, no script, so that they read without JavaScript and
// pass the CSP.

// series is one set of bars of a chart, stacked on the ones before.
type series struct {
	name   string
	class  string
	values []float64
}

// barChart draws stacked bars, one per label, with a title on each bar
// (the figures as text, for a tooltip and a screen reader) and a line
// under the chart saying what it shows.
func barChart(title, unit string, labels []string, ss []series) template.HTML {
	const w, h, pad, top = 600.0, 140.0, 24.0, 8.0
	n := len(labels)
	if n == 0 {
		return template.HTML(`<p class="muted">Nothing to show yet.</p>`)
	}
	var peak float64
	for i := range n {
		var sum float64
		for _, s := range ss {
			sum += s.values[i]
		}
		peak = max(peak, sum)
	}
	if peak == 0 {
		peak = 1
	}
	bw := (w - pad) / float64(n)
	var b strings.Builder
	fmt.Fprintf(&b, `<figure class="chart"><svg viewBox="0 0 %.0f %.0f" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`,
		w, h+pad, html.EscapeString(title))
	fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="0" y="12" class="axis">%s</text>`, html.EscapeString(num(peak)+" "+unit))
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" class="base"/>`, pad, h, w, h)
	for i, l := range labels {
		x := pad + float64(i)*bw
		y := h
		var parts []string
		for _, s := range ss {
			v := s.values[i]
			parts = append(parts, s.name+" "+num(v))
			bh := v / peak * (h - top - 12)
			if bh <= 0 {
				continue
			}
			y -= bh
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" class="%s"><title>%s: %s</title></rect>`,
				x+1, y, max(bw-2, 1), bh, s.class, html.EscapeString(l), html.EscapeString(strings.Join(parts, ", ")))
		}
		if n <= 30 && (i%max(n/6, 1) == 0 || i == n-1) {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" class="axis">%s</text>`, x, h+pad-6, html.EscapeString(l))
		}
	}
	b.WriteString(`</svg><figcaption>`)
	var legend []string
	for _, s := range ss {
		legend = append(legend, `<span class="key `+s.class+`"></span>`+html.EscapeString(s.name))
	}
	b.WriteString(html.EscapeString(title) + ". " + strings.Join(legend, " "))
	b.WriteString(`</figcaption></figure>`)
	return template.HTML(b.String()) // #nosec: every text above is escaped, every number formatted
}

func num(v float64) string {
	if v == float64(int64(v)) {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// activityCharts draws changes applied per hour, and pushes succeeded and
// failed per hour.
func activityCharts(hours []*idsyncv1.ActivityHour) (changes, pushes template.HTML) {
	labels := make([]string, len(hours))
	ch := series{name: "changes", class: "s1", values: make([]float64, len(hours))}
	ok := series{name: "succeeded", class: "s1", values: make([]float64, len(hours))}
	bad := series{name: "failed", class: "s3", values: make([]float64, len(hours))}
	for i, h := range hours {
		labels[i] = h.GetStart().AsTime().Local().Format("15:04")
		ch.values[i] = float64(h.GetChanges())
		ok.values[i] = float64(h.GetPushesSucceeded())
		bad.values[i] = float64(h.GetPushesFailed())
	}
	return barChart("Changes applied per hour, last 24 hours", "changes", labels, []series{ch}),
		barChart("Pushes per hour, last 24 hours", "pushes", labels, []series{ok, bad})
}

// durationChart draws how long the last full imports took, oldest first.
func durationChart(runs []*idsyncv1.ImportRun) template.HTML {
	labels := make([]string, len(runs))
	d := series{name: "seconds", class: "s2", values: make([]float64, len(runs))}
	for i, r := range runs {
		j := len(runs) - 1 - i
		labels[j] = r.GetDirectory() + " #" + r.GetId()
		d.values[j] = r.GetFinishedAt().AsTime().Sub(r.GetStartedAt().AsTime()).Round(time.Millisecond).Seconds()
	}
	return barChart(fmt.Sprintf("Duration of the last %d full imports", len(runs)), "s", labels, []series{d})
}

// reportChart draws a report where a chart reads better than the table:
// users per status per directory.
func reportChart(r *idsyncv1.GetReportResponse) template.HTML {
	if r.GetName() != "users" {
		return ""
	}
	var labels []string
	ss := []series{{name: "active", class: "s1"}, {name: "suspended", class: "s2"}, {name: "deprovisioned", class: "s3"}}
	for _, row := range r.GetRows() {
		cells := row.GetCells()
		if len(cells) < 4 {
			continue
		}
		labels = append(labels, cells[0])
		for i := range ss {
			v, _ := strconv.ParseFloat(cells[i+1], 64)
			ss[i].values = append(ss[i].values, v)
		}
	}
	return barChart("Users per directory by status", "users", labels, ss)
}
