package io_test

import (
	"fmt"
	stdio "io"
	"log/slog"
	"os"
	"path/filepath"

	cio "github.com/chronon-db/chronon/io"
)

// A durable write: WriteFile, then Fdatasync from the write's callback.
func Example() {
	dir, _ := os.MkdirTemp("", "chronon-example")
	defer os.RemoveAll(dir)
	f, err := cio.OpenDataFile(filepath.Join(dir, "data"), cio.FileOptions{Size: 1 << 20, AllowDsync: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	loop, err := cio.New(cio.Options{Entries: 64, Logger: slog.New(slog.NewTextHandler(stdio.Discard, nil))})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer loop.Close()

	buf := cio.AlignedBuffer(cio.SectorSize)
	copy(buf, "hello, journal")
	var write, sync cio.Completion
	durable := false
	write.Callback = func(c *cio.Completion) {
		if c.Err != nil {
			fmt.Println("write:", c.Err)
			return
		}
		fmt.Println("wrote", c.Result, "bytes")
		if err := loop.Fdatasync(&sync, f.Fd); err != nil {
			fmt.Println(err)
		}
	}
	sync.Callback = func(c *cio.Completion) {
		durable = c.Err == nil
	}
	if err := loop.WriteFile(&write, f, buf, 0); err != nil {
		fmt.Println(err)
		return
	}
	for write.InFlight() || sync.InFlight() {
		if _, err := loop.Wait(10e6); err != nil {
			fmt.Println(err)
			return
		}
	}
	fmt.Println("durable:", durable)
	// Output:
	// wrote 4096 bytes
	// durable: true
}

// A durable write as one operation: the callback runs once the data is on
// stable storage.
func ExampleIO_WriteDurable() {
	dir, _ := os.MkdirTemp("", "chronon-example")
	defer os.RemoveAll(dir)
	f, err := cio.OpenDataFile(filepath.Join(dir, "data"), cio.FileOptions{Size: 1 << 20, AllowDsync: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	loop, err := cio.New(cio.Options{Entries: 64, Logger: slog.New(slog.NewTextHandler(stdio.Discard, nil))})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer loop.Close()

	buf := cio.AlignedBuffer(cio.SectorSize)
	copy(buf, "hello, journal")
	var write cio.Completion
	write.Callback = func(c *cio.Completion) {
		if c.Err != nil {
			fmt.Println("write:", c.Err)
			return
		}
		fmt.Println("durable:", c.Result, "bytes")
	}
	if err := loop.WriteDurable(&write, f, buf, 0); err != nil {
		fmt.Println(err)
		return
	}
	for write.InFlight() {
		if _, err := loop.Wait(10e6); err != nil {
			fmt.Println(err)
			return
		}
	}
	// Output:
	// durable: 4096 bytes
}
