package gofer_test

import (
	"testing"

	"github.com/runsc-cri/runsc-cri/gofer"
	"golang.org/x/sys/unix"
)

// BenchmarkStat is one protocol round trip.
func BenchmarkStat(b *testing.B) {
	dir := b.TempDir()
	writeFile(b, dir+"/f", "x")
	c := serve(b, dir, gofer.Options{})
	f, _ := walk1(b, root(b, c), "f")
	for b.Loop() {
		if _, err := f.Stat(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStatParallel measures requests in flight from many goroutines.
func BenchmarkStatParallel(b *testing.B) {
	dir := b.TempDir()
	writeFile(b, dir+"/f", "x")
	c := serve(b, dir, gofer.Options{})
	f, _ := walk1(b, root(b, c), "f")
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.Stat(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkOpenAt is the one-round-trip walk+open of open(2), with the
// close of the handle and the fd.
func BenchmarkOpenAt(b *testing.B) {
	dir := b.TempDir()
	writeFile(b, dir+"/f", "x")
	c := serve(b, dir, gofer.Options{})
	r := root(b, c)
	for b.Loop() {
		f, _, fd, err := r.OpenAt("f", unix.O_RDONLY)
		if err != nil {
			b.Fatal(err)
		}
		unix.Close(fd)
		f.Close()
	}
}

// BenchmarkNativeOpen is the same work done directly, for comparison.
func BenchmarkNativeOpen(b *testing.B) {
	dir := b.TempDir()
	writeFile(b, dir+"/f", "x")
	d, _ := unix.Open(dir, unix.O_PATH, 0)
	defer unix.Close(d)
	var st unix.Stat_t
	for b.Loop() {
		fd, err := unix.Openat(d, "f", unix.O_RDONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		unix.Fstat(fd, &st)
		unix.Close(fd)
	}
}
