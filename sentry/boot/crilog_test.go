package boot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCRILogFormat checks the record format without a sandbox: F and P
// tags, the split of a long line, an unterminated tail, and reopen.
func TestCRILogFormat(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "log")
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	l := newCRILog(f)
	at := time.Date(2024, 5, 6, 7, 8, 9, 120000000, time.UTC)
	l.now = func() time.Time { return at }
	long := strings.Repeat("x", maxLogLine+5)
	l.copyStream("stdout", strings.NewReader("a\n\nb\n"+long+"\ntail"))
	ts := "2024-05-06T07:08:09.120000000Z"
	want := ts + " stdout F a\n" + ts + " stdout F \n" + ts + " stdout F b\n" +
		ts + " stdout P " + long[:maxLogLine] + "\n" + ts + " stdout F xxxxx\n" + ts + " stdout F tail\n"
	if b, _ := os.ReadFile(name); string(b) != want {
		t.Fatalf("log:\n%.300q\nwant:\n%.300q", b, want)
	}
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		t.Fatal(err)
	}
	os.Rename(name, name+".1")
	f2, _ := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	l.reopen(f2)
	l.copyStream("stderr", strings.NewReader("after\n"))
	if b, _ := os.ReadFile(name); string(b) != ts+" stderr F after\n" {
		t.Fatalf("reopened log %q", b)
	}
	l.close()
	l.copyStream("stderr", strings.NewReader("dropped\n"))
}
