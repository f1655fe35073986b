package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestNewest: the file a watched folder sends is the newest settled
// regular file; uploads in progress (hidden or partial names, or changed
// within the settle time) and folders are passed over.
func TestNewest(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	put := func(name string, age time.Duration) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(name), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	f := FileConfig{Path: dir, settle: time.Minute}
	if _, ok, err := newest(f, now); ok || err != nil {
		t.Fatalf("an empty folder: ok %v, %v; want nothing", ok, err)
	}
	put("export-1.csv", 3*time.Hour)
	put("export-2.csv", 2*time.Hour)
	put(".export-3.csv", time.Hour)
	put("export-4.csv.part", time.Hour)
	put("export-5.CSV.filepart", time.Hour)
	put("export-6.tmp", time.Hour)
	put("export-7.csv", 10*time.Second) // still being written, maybe
	if err := os.Mkdir(filepath.Join(dir, "archive"), 0o700); err != nil {
		t.Fatal(err)
	}
	k, ok, err := newest(f, now)
	if err != nil || !ok || k.name != "export-2.csv" || k.size != int64(len("export-2.csv")) {
		t.Errorf("newest = %+v, %v, %v; want export-2.csv", k, ok, err)
	}
	f.settle = 0
	if k, _, _ := newest(f, now); k.name != "export-7.csv" {
		t.Errorf("with settle 0, newest = %s, want export-7.csv", k.name)
	}
	put("export-8.csv", 10*time.Second) // same time: the greater name
	if k, _, _ := newest(f, now); k.name != "export-8.csv" {
		t.Errorf("of two files of the same time, newest = %s, want export-8.csv", k.name)
	}
	if _, _, err := newest(FileConfig{Path: filepath.Join(dir, "gone")}, now); err == nil {
		t.Error("a folder that is gone: no error")
	}
}
