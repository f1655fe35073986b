package scimin

import (
	"strings"
	"testing"

	"github.com/scim2/filter-parser/v2"

	"github.com/idsync/idsync/server/store"
)

// BenchmarkFilterAtLimits parses and evaluates the costliest filters the
// bounds let through: each must cost a source milliseconds, not seconds.
func BenchmarkFilterAtLimits(b *testing.B) {
	nested := strings.Repeat("(", maxFilterDepth) + `userName eq "ann"` + strings.Repeat(")", maxFilterDepth)
	nots := strings.Repeat("not (", maxFilterDepth) + `userName eq "ann"` + strings.Repeat(")", maxFilterDepth)
	// 64 terms, each as long as 4 KiB allows.
	long := strings.Repeat("a", maxFilterBytes/maxFilterTerms-len(`userName co "" or `))
	terms := strings.Repeat(`userName co "`+long+`" or `, maxFilterTerms-1) + `userName co "` + long + `"`
	// Every term of a chain nested as deep as allowed.
	deepTerms := strings.Repeat("(", maxFilterDepth) + strings.Repeat(`userName eq "x" or `, maxFilterTerms-1) +
		`userName eq "ann"` + strings.Repeat(")", maxFilterDepth)
	str := `userName eq "` + strings.Repeat("a", maxFilterBytes-len(`userName eq ""`)) + `"`
	rt := userType(&store.Directory{})
	res := map[string]any{"username": "ann", "emails": []any{map[string]any{"value": "ann@example.org"}}}
	for _, bc := range []struct{ name, filter string }{
		{"nested", nested}, {"not", nots}, {"terms", terms}, {"nested terms", deepTerms}, {"string", str},
	} {
		if err := checkFilter(bc.filter); err != nil {
			b.Fatalf("%s: %v; the benchmark wants a filter at the bounds", bc.name, err)
		}
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if err := checkFilter(bc.filter); err != nil {
					b.Fatal(err)
				}
				f, err := filter.ParseFilter([]byte(bc.filter))
				if err != nil {
					b.Fatal(err)
				}
				rt.matches(f, res)
			}
		})
	}
}
