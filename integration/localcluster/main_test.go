package localcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the program under test for the crash and
// RunTests tests: TestMain switches on these variables.
const (
	modeEnv  = "KNS_LOCALCLUSTER_TEST_MODE" // "up-and-hang" or "runtests"
	dirEnv   = "KNS_LOCALCLUSTER_TEST_DIR"
	probeEnv = "KNS_LOCALCLUSTER_TEST_PROBE" // file TestSharedClusterProbe writes
	panicEnv = "KNS_LOCALCLUSTER_TEST_PANIC"
	hangEnv  = "KNS_LOCALCLUSTER_TEST_HANG"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "registry" {
		// A stand-in for a program with the registry subcommand, for
		// TestRegistryIsOurs; it must not take the registry's port.
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	switch os.Getenv(modeEnv) {
	case "up-and-hang":
		// A test binary that starts a cluster and is then SIGKILLed.
		c, err := Up(context.Background(), Options{Nodes: 1, Dir: os.Getenv(dirEnv), Log: os.Stderr})
		if err != nil {
			fmt.Fprintln(os.Stderr, "Up:", err)
			os.Exit(1)
		}
		fmt.Println("UP", c.StateDir())
		time.Sleep(time.Hour)
		os.Exit(1)
	case "runtests":
		os.Exit(RunTests(m, Options{Nodes: 1, Dir: os.Getenv(dirEnv)}))
	}
	os.Exit(m.Run())
}

// TestKilledRun: a test binary SIGKILLed with its cluster running leaves it
// behind; the next Up tears it down first. So does an Up in a process that
// dropped its own cluster without Down.
func TestKilledRun(t *testing.T) {
	requireRealCluster(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir1 := clusterDir(t)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), modeEnv+"=up-and-hang", dirEnv+"="+dir1)
	cmd.Stderr = testWriter{t}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "UP ") {
				line <- strings.TrimPrefix(sc.Text(), "UP ")
			}
		}
		close(line)
	}()
	var state1 string
	select {
	case s, ok := <-line:
		if !ok {
			cmd.Wait()
			t.Fatal("the child exited without starting its cluster")
		}
		state1 = s
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatal("the child did not start its cluster in 2 minutes")
	}
	cmd.Process.Kill()
	cmd.Wait()
	if len(ourPIDs(state1)) == 0 {
		t.Fatal("killing the owner took the cluster down; the test simulates nothing")
	}

	c2, took := up(t, 1)
	t.Logf("up after a killed run (includes tearing it down): %s", took.Round(time.Millisecond))
	if pids := ourPIDs(state1); len(pids) > 0 {
		t.Errorf("processes of the killed run's cluster still run: %v", pids)
	}
	for _, d := range []string{state1, dir1} {
		if _, err := os.Lstat(d); err == nil {
			t.Errorf("%s of the killed run is still there", d)
		}
	}
	cs, _ := c2.Clientset()
	createPod(context.Background(), t, cs, privilegedPod("shell", c2.NodeNames()[0], BusyboxImage), "Ready", podReady)

	// Drop c2 without Down, as a crashing test helper would; the next Up in
	// this same process tears it down.
	c3, err := Up(context.Background(), Options{Nodes: 1, Dir: clusterDir(t), Log: testWriter{t}})
	if err != nil {
		t.Fatalf("Up over a dropped cluster: %v", err)
	}
	if _, err := os.Lstat(c2.StateDir()); err == nil || len(ourPIDs(c2.StateDir())) > 0 {
		t.Errorf("the dropped cluster %s was not torn down", c2.StateDir())
	}
	if err := c2.Down(context.Background()); err != nil {
		t.Errorf("Down of a cluster already torn down: %v", err)
	}
	cs3, _ := c3.Clientset()
	createPod(context.Background(), t, cs3, privilegedPod("shell", c3.NodeNames()[0], BusyboxImage), "Ready", podReady)
	downAndCheck(t, c3)
}

// TestRunTests runs this test binary under RunTests, as a test package's
// TestMain would: the shared cluster is there for the tests, and is torn
// down afterwards even when a test panics or the run gets SIGTERM.
func TestRunTests(t *testing.T) {
	requireRealCluster(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		env     string // panicEnv or hangEnv for the probe
		wantErr bool
	}{{"pass", "", false}, {"panic", panicEnv, true}, {"sigterm", hangEnv, true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := clusterDir(t)
			probe := t.TempDir()
			cmd := exec.Command(exe, "-test.run=^TestSharedClusterProbe$", "-test.v")
			cmd.Env = append(os.Environ(), modeEnv+"=runtests", dirEnv+"="+dir, probeEnv+"="+probe)
			if tc.env != "" {
				cmd.Env = append(cmd.Env, tc.env+"=1")
			}
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if tc.env == hangEnv {
				// SIGTERM to RunTests' process only, as a CI runner
				// canceling the job would send, once the tests run.
				for deadline := time.Now().Add(2 * time.Minute); !fileExists(filepath.Join(probe, "state")); {
					if time.Now().After(deadline) {
						cmd.Process.Kill()
						t.Fatal("the probe test did not start")
					}
					time.Sleep(50 * time.Millisecond)
				}
				cmd.Process.Signal(syscall.SIGTERM)
			}
			err := cmd.Wait()
			t.Logf("output:\n%s", out.String())
			var exit *exec.ExitError
			switch {
			case tc.wantErr && !errors.As(err, &exit):
				t.Errorf("%v, want a non-zero exit", err)
			case tc.wantErr && !strings.Contains(out.String(), "tails of the cluster's logs"):
				t.Error("no log dump after the failure")
			case !tc.wantErr && err != nil:
				t.Errorf("tests under RunTests: %v", err)
			}
			state, err := os.ReadFile(filepath.Join(probe, "state"))
			if err != nil {
				t.Fatalf("the probe test did not run: %v", err)
			}
			unlock := lockForChecks(t)
			defer unlock()
			checkTornDown(t, string(state), dir, readSaved(t, probe))
		})
	}
}

// TestSharedClusterProbe is run by TestRunTests, under RunTests.
func TestSharedClusterProbe(t *testing.T) {
	if os.Getenv(modeEnv) != "runtests" {
		t.Log("does something only when run by TestRunTests")
		return
	}
	c := Require(t)
	if os.Getenv(childEnv) != c.StateDir() {
		t.Errorf("tests run in a process without %s=%s", childEnv, c.StateDir())
	}
	cs, err := c.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := nodesReady(cs, c.NodeNames())(context.Background()); !ok {
		t.Errorf("nodes not Ready: %v", err)
	}
	// What TestRunTests needs to check the teardown: where the cluster
	// was, and what Up saved of the machine.
	probe := os.Getenv(probeEnv)
	if err := os.MkdirAll(filepath.Join(probe, "saved"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"sysctl", "host-paths"} {
		data, err := os.ReadFile(filepath.Join(c.StateDir(), "saved", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(probe, "saved", f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(probe, "state"), []byte(c.StateDir()), 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Getenv(hangEnv) != "" {
		time.Sleep(10 * time.Minute) // until TestRunTests sends SIGTERM
	}
	if os.Getenv(panicEnv) != "" {
		panic("deliberate panic: RunTests must still tear the cluster down")
	}
}
