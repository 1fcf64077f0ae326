package cmd

import (
	"errors"
	"io"
	"os"
	"testing"

	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/klog/v2"
)

// TestClientLogsAreSilenced: what client-go logs when a stream is cut never reaches stderr.
func TestClientLogsAreSilenced(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	silenceClientLogs()
	utilruntime.HandleError(errors.New("next reader: websocket: close 1006 (abnormal closure)"))
	klog.Errorf("Websocket Ping failed")
	klog.Flush()
	os.Stderr = saved
	w.Close()
	if out, _ := io.ReadAll(r); len(out) != 0 {
		t.Errorf("client-go logged to stderr: %q", out)
	}
}
