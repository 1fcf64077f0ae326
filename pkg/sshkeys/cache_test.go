package sshkeys

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCacheRoundTripIsPrivate(t *testing.T) {
	c := Cache{Dir: filepath.Join(t.TempDir(), "a", "cache")}
	if _, err := c.Read(); !errors.Is(err, ErrNoCache) {
		t.Fatalf("Read of nothing = %v; want ErrNoCache", err)
	}
	want := Snapshot{Node: "n1", Fetched: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), Keys: map[string]string{KeyPrefix + "a": "v"}}
	if err := c.Write(want); err != nil {
		t.Fatal(err)
	}
	got, err := c.Read()
	if err != nil || got.Node != want.Node || !got.Fetched.Equal(want.Fetched) || got.Keys[KeyPrefix+"a"] != "v" {
		t.Fatalf("Read = %+v, %v", got, err)
	}
	if m := mode(t, c.Dir); m != 0o700 {
		t.Errorf("cache dir mode %04o; want 0700", m)
	}
	if m := mode(t, filepath.Join(c.Dir, cacheFile)); m != 0o600 {
		t.Errorf("cache file mode %04o; want 0600", m)
	}
	entries, _ := os.ReadDir(c.Dir)
	if len(entries) != 1 {
		t.Errorf("cache dir holds %d entries; want only %s (no temporary file left)", len(entries), cacheFile)
	}
}

func TestCacheRefusesWhatOthersCouldHaveWritten(t *testing.T) {
	write := func(t *testing.T) Cache {
		c := Cache{Dir: filepath.Join(t.TempDir(), "cache")}
		if err := c.Write(Snapshot{Node: "n1", Keys: map[string]string{}}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Run("group-readable file", func(t *testing.T) {
		c := write(t)
		os.Chmod(filepath.Join(c.Dir, cacheFile), 0o640)
		if _, err := c.Read(); err == nil || !strings.Contains(err.Error(), "private") {
			t.Fatalf("Read = %v", err)
		}
	})
	t.Run("world-writable dir", func(t *testing.T) {
		c := write(t)
		os.Chmod(c.Dir, 0o777)
		if _, err := c.Read(); err == nil || !strings.Contains(err.Error(), "private") {
			t.Fatalf("Read = %v", err)
		}
		if err := c.Write(Snapshot{}); err == nil {
			t.Fatal("Write into a world-writable dir succeeded")
		}
	})
	t.Run("symlinked file", func(t *testing.T) {
		c := write(t)
		other := filepath.Join(t.TempDir(), "other.json")
		os.WriteFile(other, []byte(`{"node":"n1"}`), 0o600)
		os.Remove(filepath.Join(c.Dir, cacheFile))
		os.Symlink(other, filepath.Join(c.Dir, cacheFile))
		if _, err := c.Read(); err == nil || !strings.Contains(err.Error(), "symlink") {
			t.Fatalf("Read = %v", err)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		c := write(t)
		os.WriteFile(filepath.Join(c.Dir, cacheFile), []byte("{"), 0o600)
		if _, err := c.Read(); err == nil {
			t.Fatal("Read of garbage succeeded")
		}
	})
}

func TestCacheConcurrentWritersLeaveOneWholeFile(t *testing.T) {
	c := Cache{Dir: filepath.Join(t.TempDir(), "cache")}
	big := strings.Repeat("x", 64*1024)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			errs <- c.Write(Snapshot{Node: "n1", Keys: map[string]string{KeyPrefix + "a": big, "i": string(rune('a' + i))}})
		}()
		go func() {
			defer wg.Done()
			if _, err := c.Read(); err != nil && !errors.Is(err, ErrNoCache) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if s, err := c.Read(); err != nil || s.Keys[KeyPrefix+"a"] != big {
		t.Fatalf("final Read = %v", err)
	}
	if entries, _ := os.ReadDir(c.Dir); len(entries) != 1 {
		t.Fatalf("%d entries left; want 1", len(entries))
	}
}
