package obstest

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// Get fetches url and returns its status and body; a failed request fails
// t.
func Get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// Scrape reads base's /metrics into a map from series, as exposed (name and
// labels, e.g. `idsync_hub_pushes_total{app="crm",outcome="dead"}`), to
// value.
func Scrape(t testing.TB, base string) map[string]float64 {
	t.Helper()
	code, body := Get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET %s/metrics = %d %q", base, code, body)
	}
	m := map[string]float64{}
	for line := range strings.Lines(body) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("%s/metrics: cannot read line %q", base, line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("%s/metrics: cannot read line %q: %v", base, line, err)
		}
		m[line[:i]] = v
	}
	return m
}
