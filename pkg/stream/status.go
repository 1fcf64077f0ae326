package stream

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	remotecommandconsts "k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/transport/spdy"
	streamhttp "k8s.io/streaming/pkg/httpstream"
)

// ErrNoStatus is a stream that ended without the command's exit status.
var ErrNoStatus = errors.New("the exec stream ended without the command's exit status: its output may be cut short")

// statusRequired makes an error stream that ends without a byte an error, where client-go
// takes it for success (remotecommand's watchErrorStream: an empty error stream is a nil
// error, kubernetes/kubernetes#124571): from protocol v4 on, the server always sends a
// status, Success included, so an empty one means the connection was cut. Only the SPDY
// executor can be wrapped this way: the WebSocket one hides its streams.
type statusRequired struct{ spdy.Upgrader }

// NewConnection implements spdy.Upgrader.
// A refused upgrade becomes an UpgradeFailureError, the executor's cue to fall back to
// WebSocket (client-go's SPDY upgrader returns a plain error).
func (u statusRequired) NewConnection(resp *http.Response) (httpstream.Connection, error) {
	conn, err := u.Upgrader.NewConnection(resp)
	if err != nil {
		return nil, &streamhttp.UpgradeFailureError{Cause: err}
	}
	if resp.Header.Get(httpstream.HeaderProtocolVersion) != remotecommandconsts.StreamProtocolV4Name {
		return conn, nil // v1 to v3 send nothing on success
	}
	return statusConn{conn}, nil
}

type statusConn struct{ httpstream.Connection }

func (c statusConn) CreateStream(headers http.Header) (httpstream.Stream, error) {
	s, err := c.Connection.CreateStream(headers)
	if err != nil || headers.Get(corev1.StreamType) != corev1.StreamTypeError {
		return s, err
	}
	return &statusStream{Stream: s}, nil
}

// statusStream is the error stream: io.EOF before any byte is ErrNoStatus.
type statusStream struct {
	httpstream.Stream
	seen atomic.Int64
}

func (s *statusStream) Read(p []byte) (int, error) {
	n, err := s.Stream.Read(p)
	if s.seen.Add(int64(n)) == 0 && errors.Is(err, io.EOF) {
		return n, ErrNoStatus
	}
	return n, err
}
