package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// fileChunk is how much of a file one stream message carries.
const fileChunk = 256 << 10

// fileKey is one version of a file in a watched folder.
type fileKey struct {
	name    string
	size    int64
	modTime time.Time
}

// folders remembers, for each watched folder, the file the hub last took
// (imported, or refused for what it holds) and the uploads it has not
// answered yet. Kept in memory: after a restart the newest file is sent
// once more, which imports nothing new.
type folders struct {
	mu      sync.Mutex
	taken   map[string]fileKey // by folder path
	pending map[string]pendingFile
}

type pendingFile struct {
	folder string
	key    fileKey
}

// watch sends the newest file of folder f to the hub now and on every
// schedule, unless the hub took that very file already, until ctx ends
// (the stream is gone: the next stream watches anew).
func (a *Agent) watch(ctx context.Context, st *stream, f FileConfig) {
	t := time.NewTicker(f.Every())
	defer t.Stop()
	for {
		if err := a.sendNewest(ctx, st, f); err != nil && ctx.Err() == nil {
			a.log.Warn("watched folder", "directory", f.Directory, "path", f.Path, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// partial says whether a file name is one still being written.
func partial(name string) bool {
	if strings.HasPrefix(name, ".") {
		return true
	}
	for _, ext := range []string{".part", ".tmp", ".filepart", ".partial"} {
		if strings.HasSuffix(strings.ToLower(name), ext) {
			return true
		}
	}
	return false
}

// newest returns the newest settled file of folder f, if any.
func newest(f FileConfig, now time.Time) (fileKey, bool, error) {
	entries, err := os.ReadDir(f.Path)
	if err != nil {
		return fileKey{}, false, err
	}
	var best fileKey
	found := false
	for _, e := range entries {
		if !e.Type().IsRegular() || partial(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // gone meanwhile
		}
		k := fileKey{name: e.Name(), size: info.Size(), modTime: info.ModTime()}
		if now.Sub(k.modTime) < f.SettleFor() {
			continue // still being written, maybe
		}
		if !found || k.modTime.After(best.modTime) || (k.modTime.Equal(best.modTime) && k.name > best.name) {
			best, found = k, true
		}
	}
	return best, found, nil
}

func (a *Agent) sendNewest(ctx context.Context, st *stream, f FileConfig) error {
	k, ok, err := newest(f, time.Now())
	if err != nil || !ok {
		return err
	}
	fs := &a.folders
	fs.mu.Lock()
	if fs.taken == nil {
		fs.taken, fs.pending = map[string]fileKey{}, map[string]pendingFile{}
	}
	taken := fs.taken[f.Path] == k
	for id, p := range fs.pending {
		if p.folder == f.Path {
			delete(fs.pending, id) // an upload the last stream never answered: sent again
		}
	}
	fs.mu.Unlock()
	if taken {
		a.log.Debug("the newest file of a watched folder was taken already", "directory", f.Directory, "file", k.name)
		return nil
	}
	id, err := uploadID()
	if err != nil {
		return err
	}
	fs.mu.Lock()
	fs.pending[id] = pendingFile{folder: f.Path, key: k}
	fs.mu.Unlock()
	a.log.Info("sending a file of a watched folder", "directory", f.Directory, "file", k.name, "bytes", k.size, "upload", id)
	return a.upload(ctx, st, f, k, id)
}

func uploadID() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// upload sends file k of folder f over the stream in chunks; the first
// says what it is, the last asks for the import.
func (a *Agent) upload(ctx context.Context, st *stream, f FileConfig, k fileKey, id string) error {
	file, err := os.Open(filepath.Join(f.Path, k.name))
	if err != nil {
		return err
	}
	defer file.Close()
	buf := make([]byte, fileChunk)
	first := true
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		n, rerr := io.ReadFull(file, buf)
		last := errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF)
		if rerr != nil && !last {
			return fmt.Errorf("reading %s: %w", k.name, rerr)
		}
		c := &idsyncv1.FileChunk{UploadId: id, Data: buf[:n], Last: last}
		if first {
			c.Import = &idsyncv1.FileImport{Directory: f.Directory, FileName: k.name, Full: f.Full,
				Encoding: f.Encoding, Delimiter: f.Delimiter}
			first = false
		}
		if err := st.send(&idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_FileChunk{FileChunk: c}}); err != nil {
			return fmt.Errorf("sending %s: %w", k.name, err)
		}
		if last {
			return nil
		}
	}
}

// fileImported records the hub's answer to an upload. A file that made a
// run is taken (imported, or failed for what it holds, which sending it
// again would not change) and is not sent again, nor one the hub will
// never take as it is (final: too large, say); one refused for a while (a
// run of the directory open) is sent again on the next schedule.
func (a *Agent) fileImported(r *idsyncv1.FileImported) {
	fs := &a.folders
	fs.mu.Lock()
	p, ok := fs.pending[r.GetUploadId()]
	if ok {
		delete(fs.pending, r.GetUploadId())
		if r.GetRunId() != "" || r.GetFinal() {
			fs.taken[p.folder] = p.key
		}
	}
	fs.mu.Unlock()
	if !ok {
		return
	}
	if r.GetError() != "" {
		a.log.Warn("the hub did not import a file of a watched folder", "file", p.key.name, "run", r.GetRunId(), "error", r.GetError())
		return
	}
	a.log.Info("the hub is importing a file of a watched folder", "file", p.key.name, "run", r.GetRunId())
}
