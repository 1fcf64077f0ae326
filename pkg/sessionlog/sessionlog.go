// Package sessionlog is the record every session leaves on its node, written by the node
// side (the agent's supervisor, or the wrapper around a session pod's command), not by the
// client: a start line before the command runs and an end line after it, with its exit
// status or, when the client died, why the session was ended. A client killed with -9, a cut
// network or a lost laptop still leaves the whole record. It lives in Dir on the node, one
// file per session (ID.json), beside the session's TTY recording (ID.cast) when an admin
// turned recording on. The scripts and parsers here do no I/O.
package sessionlog

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/podspec"
)

// Dir is where the records are on the node: root's only (0700), kept across reboots and
// agent restarts, and removed after RetentionDays.
const Dir = "/var/log/node-shell/sessions"

// RetentionDays is how long a record and its recording stay on the node: one session start
// in 16 (its random ID begins with 0) removes the node's older ones, in the background, so
// the sweep costs the other starts nothing.
const RetentionDays = 90

// containerDir is Dir as the session's container sees the node (its / at podspec.HostMount).
const containerDir = podspec.HostMount + Dir

// Record is what the client says about a session: who, what and from where. The node
// writes it inside its own start line, so it is what the client claims (docs/security.md);
// the times and the end around it are the node's.
type Record struct {
	ID         string `json:"id,omitempty"`
	Node       string `json:"node,omitempty"`
	User       string `json:"user,omitempty"`
	Command    string `json:"command"`
	Mode       string `json:"mode,omitempty"`
	Reason     string `json:"reason,omitempty"`
	ClientHost string `json:"clientHost,omitempty"`
	Version    string `json:"version,omitempty"`
	// Agent says the session ran on the node's agent, not in a pod of its own.
	Agent bool `json:"agent,omitempty"`
	// TTY says the session had a terminal (the only kind that is recorded).
	TTY bool `json:"tty,omitempty"`
	// StartedAt is the client's clock, RFC 3339.
	StartedAt string `json:"startedAt,omitempty"`
	// HeartbeatTimeout is the timeout an agent session's supervisor enforces, a Go duration.
	HeartbeatTimeout string `json:"heartbeatTimeout,omitempty"`
}

// Encode is the record as one line (JSON has no raw newlines).
func (r Record) Encode() string {
	b, _ := json.Marshal(r) // a struct of strings and bools always marshals
	return string(b)
}

// Lib is the shell the node side shares (busybox sh): log_open ID RECORD writes the start
// line in a file that must not exist yet (an ID is never reused, and nobody can overwrite a
// record through a new session), log_end FIELDS appends the end line once, and log_run ARGV
// runs argv found on $PATH as the container runtime would have found it (a busybox sh built
// to prefer its applets would run its own "sh" or "tar" instead of the image's). Both keep going
// when the node refuses the write: the session runs, and says on stderr that it is not
// recorded. NODE_SHELL_LOG stands in for the directory in unit tests only.
var Lib = `logdir=${NODE_SHELL_LOG:-` + containerDir + `} log_f= log_pod=
log_now() { log_t=$(date -u +%Y-%m-%dT%H:%M:%SZ); }
log_open() {
  case $1 in ''|*[!0-9a-f]*) echo "node-shell: warning: session ID $1 is not hex; the session is not recorded on the node" >&2; return 0;; esac
  if (umask 077; mkdir -p "$logdir"; set -C; printf '{"event":"start","time":"%s","session":%s}\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$2" >"$logdir/$1.json") 2>/dev/null; then
    log_f=$logdir/$1.json
    [ -z "$log_pod" ] || echo "$log_f" >>"$log_pod" 2>/dev/null
    case $1 in 0*) (find "$logdir" -type f -mtime +` + strconv.Itoa(RetentionDays) + ` -exec rm -f {} + ) </dev/null >/dev/null 2>&1 & ;; esac
  else
    echo "node-shell: warning: cannot write the session's record in ` + Dir + ` on the node; the session is not recorded" >&2
  fi
}
log_run() {
  log_cmd=$1
  case $log_cmd in
  */*) ;;
  *)
    log_ifs=$IFS IFS=:
    for log_d in ${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}; do
      if [ -f "${log_d:-.}/$1" ] && [ -x "${log_d:-.}/$1" ]; then log_cmd=${log_d:-.}/$1; break; fi
    done
    IFS=$log_ifs
    ;;
  esac
  shift
  "$log_cmd" "$@"
}
log_end() {
  [ -n "$log_f" ] || return 0
  log_now
  printf '{"event":"end","time":"%s",%s}\n' "$log_t" "$1" >>"$log_f" 2>/dev/null
  log_f=
}
`

// wrapperScript runs a session pod's command between its start and end lines: "$1" is the
// session ID, "$2" its record, the rest the entry's argv. It lists the record in the pod's
// podspec.PodSessionsFile, for the pod's watchdog to end it if the client dies. Signals that end a command (Ctrl-C,
// the terminal's hangup) have a handler here, so the wrapper outlives them and records the
// command's status; handled signals are reset in the child, so the command sees them as usual.
var wrapperScript = Lib + `id=$1 rec=$2 log_pod=${NODE_SHELL_POD_SESSIONS:-` + podspec.PodSessionsFile + `}
shift 2
trap : INT QUIT HUP TERM
log_open "$id" "$rec"
log_run "$@"
rc=$?
log_end "\"exitStatus\":$rc"
exit $rc`

// WrappedArgv is a session pod's argv (the entry's) between the start and end lines of
// session id's record on the node. An agent session's supervisor writes them itself.
func WrappedArgv(id string, rec Record, argv []string) []string {
	return append([]string{"/bin/sh", "-c", wrapperScript, "node-shell-session", id, rec.Encode()}, argv...)
}

// Unwrap is the entry's argv inside WrappedArgv's, and the record; ok is false for any other argv.
func Unwrap(argv []string) (inner []string, rec Record, ok bool) {
	if len(argv) < 6 || argv[0] != "/bin/sh" || argv[1] != "-c" || argv[2] != wrapperScript || argv[3] != "node-shell-session" {
		return nil, Record{}, false
	}
	if err := json.Unmarshal([]byte(argv[5]), &rec); err != nil || rec.ID != argv[4] {
		return nil, Record{}, false
	}
	return argv[6:], rec, true
}

// listScript prints every record on the node: a line "=ID CAST-BYTES" (-1: no recording),
// then the record's lines.
var listScript = Lib + `for f in "$logdir"/*.json; do
  [ -f "$f" ] || continue
  id=${f##*/}; id=${id%.json}; n=-1
  [ -f "$logdir/$id.cast" ] && n=$(wc -c <"$logdir/$id.cast")
  printf '=%s %s\n' "$id" "$n"
  cat "$f"
  echo
done`

// ListArgv prints the node's records (see ParseList).
func ListArgv() []string {
	return []string{"/bin/sh", "-c", listScript, "node-shell-sessions"}
}

// exitNoRecording is castScript's status when the session has no recording on the node.
const exitNoRecording = 3

// castScript prints session "$1"'s recording.
var castScript = Lib + `case $1 in ''|*[!0-9a-f]*) exit 2;; esac
[ -f "$logdir/$1.cast" ] || exit 3
exec cat "$logdir/$1.cast"`

// CastArgv prints session id's recording; it exits with IsNoRecording's status when there is none.
func CastArgv(id string) []string {
	return []string{"/bin/sh", "-c", castScript, "node-shell-replay", id}
}

// IsNoRecording reports whether CastArgv's exit status says the session has no recording.
func IsNoRecording(status int) bool { return status == exitNoRecording }

// recordScript writes its stdin, a part of a session's asciicast recording, to ID.cast:
// the first part ("$2" = new) to a new file only (set -C), root's only, so no session can
// overwrite another's recording; each later part is appended to that file, which must exist.
// It prints the file's size after, by which the client knows the part arrived whole.
var recordScript = Lib + `case $1 in ''|*[!0-9a-f]*) exit 2;; esac
umask 077
f=$logdir/$1.cast
if [ "$2" = new ]; then
  mkdir -p "$logdir" || exit 1
  (set -C; cat >"$f") || exit 1
else
  [ -f "$f" ] || exit 3
  cat >>"$f" || exit 1
fi
wc -c <"$f"`

// RecordArgv stores stdin as the first part (first) or the next part of session id's
// recording on the node, and prints the recording's size on the node.
func RecordArgv(id string, first bool) []string {
	part := "next"
	if first {
		part = "new"
	}
	return []string{"/bin/sh", "-c", recordScript, "node-shell-record", id, part}
}

// NewID is a fresh random session ID: 128 bits in hex, so no two sessions share one.
func NewID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// ShortID is the start of a session ID that tables and messages show.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Entry is one session as its record on the node tells it.
type Entry struct {
	ID     string
	Record Record
	// Start and End are the node's clock; End is zero when no end was recorded (the node
	// or its agent stopped first, or the session still runs).
	Start, End time.Time
	// ExitStatus is the command's, when it ended by itself.
	ExitStatus *int
	// EndedBy says why the session ended when its command did not end it by itself.
	EndedBy string
	// CastBytes is the size of its recording; -1 when it has none.
	CastBytes int64
	// Unreadable says a line of the record could not be read (written by another version,
	// or cut by a full disk).
	Unreadable bool
}

// Listed is one record as `sessions -o json|yaml` prints it: the node's files are not API
// objects, so they are printed as they are rather than through kubectl's printers.
type Listed struct {
	Node           string     `json:"node"`
	ID             string     `json:"id"`
	Session        Record     `json:"session"`
	Start          *time.Time `json:"start,omitempty"`
	End            *time.Time `json:"end,omitempty"`
	ExitStatus     *int       `json:"exitStatus,omitempty"`
	EndedBy        string     `json:"endedBy,omitempty"`
	Running        bool       `json:"running,omitempty"`
	RecordingBytes *int64     `json:"recordingBytes,omitempty"`
	Unreadable     bool       `json:"unreadable,omitempty"`
}

// ListKind is the kind of `sessions -o json|yaml`'s document, whose items are Listed.
const ListKind = "NodeShellSessionList"

// Recorded reports whether the session has a TTY recording on the node.
func (e Entry) Recorded() bool { return e.CastBytes >= 0 }

type line struct {
	Event      string          `json:"event"`
	Time       string          `json:"time"`
	Session    json.RawMessage `json:"session"`
	ExitStatus *int            `json:"exitStatus"`
	EndedBy    string          `json:"endedBy"`
}

var idPattern = regexp.MustCompile(`^[0-9a-f]{1,64}$`)

// ParseList reads listScript's output, oldest session first.
func ParseList(out string) ([]Entry, error) {
	var entries []Entry
	var cur *Entry
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		text := sc.Text()
		if strings.HasPrefix(text, "=") {
			f := strings.Fields(text[1:])
			if len(f) != 2 || !idPattern.MatchString(f[0]) {
				return nil, fmt.Errorf("session record header %q: want \"=ID BYTES\"", text)
			}
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return nil, fmt.Errorf("session record header %q: the recording's size is not a number", text)
			}
			entries = append(entries, Entry{ID: f[0], CastBytes: n})
			cur = &entries[len(entries)-1]
			continue
		}
		if cur == nil || strings.TrimSpace(text) == "" {
			continue
		}
		var l line
		if err := json.Unmarshal([]byte(text), &l); err != nil {
			cur.Unreadable = true
			continue
		}
		at, _ := time.Parse(time.RFC3339, l.Time)
		switch l.Event {
		case "start":
			cur.Start = at
			if err := json.Unmarshal(l.Session, &cur.Record); err != nil {
				cur.Unreadable = true
			}
		case "end":
			if cur.End.IsZero() { // the first end is the one that ended it
				cur.End, cur.ExitStatus, cur.EndedBy = at, l.ExitStatus, l.EndedBy
			}
		default:
			cur.Unreadable = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].Start.Before(entries[j].Start) })
	return entries, nil
}
