package stream

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	remotecommandconsts "k8s.io/apimachinery/pkg/util/remotecommand"
)

type fakeStream struct {
	io.Reader
	headers http.Header
}

func (s *fakeStream) Write(p []byte) (int, error) { return len(p), nil }
func (s *fakeStream) Close() error                { return nil }
func (s *fakeStream) Reset() error                { return nil }
func (s *fakeStream) Headers() http.Header        { return s.headers }
func (s *fakeStream) Identifier() uint32          { return 0 }

type fakeConn struct{ errorStream string }

func (c fakeConn) CreateStream(h http.Header) (httpstream.Stream, error) {
	return &fakeStream{Reader: bytes.NewBufferString(c.errorStream), headers: h}, nil
}
func (fakeConn) Close() error                       { return nil }
func (fakeConn) CloseChan() <-chan bool             { return nil }
func (fakeConn) SetIdleTimeout(time.Duration)       {}
func (fakeConn) RemoveStreams(...httpstream.Stream) {}

type fakeUpgrader struct{ conn fakeConn }

func (u fakeUpgrader) NewConnection(*http.Response) (httpstream.Connection, error) {
	return u.conn, nil
}

// An error stream that ends empty is a cut stream under v4; a status, or an older
// protocol (which sends nothing on success), reads as it is.
func TestStatusRequired(t *testing.T) {
	streamHeaders := func(typ string) http.Header {
		h := http.Header{}
		h.Set(corev1.StreamType, typ) // as client-go does: canonical key
		return h
	}
	errorHeaders := streamHeaders(corev1.StreamTypeError)
	for _, tc := range []struct {
		name, protocol, data string
		headers              http.Header
		want                 error
	}{
		{"v4 empty error stream", remotecommandconsts.StreamProtocolV4Name, "", errorHeaders, ErrNoStatus},
		{"v4 status", remotecommandconsts.StreamProtocolV4Name, `{"status":"Success"}`, errorHeaders, nil},
		{"v4 stdout may be empty", remotecommandconsts.StreamProtocolV4Name, "", streamHeaders(corev1.StreamTypeStdout), nil},
		{"v3 empty error stream", remotecommandconsts.StreamProtocolV3Name, "", errorHeaders, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{Header: http.Header{httpstream.HeaderProtocolVersion: {tc.protocol}}}
			conn, err := statusRequired{fakeUpgrader{fakeConn{tc.data}}}.NewConnection(resp)
			if err != nil {
				t.Fatal(err)
			}
			s, err := conn.CreateStream(tc.headers)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(s)
			if !errors.Is(err, tc.want) || string(got) != tc.data {
				t.Errorf("read %q, %v; want %q, %v", got, err, tc.data, tc.want)
			}
		})
	}
}
