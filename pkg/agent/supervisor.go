package agent

import (
	"strconv"
	"time"

	"github.com/kubectl-node-shell/kubectl-node-shell/pkg/sessionlog"
)

// SessionsDir is where each agent session keeps its state on the agent's container: a
// directory per session ID holding its record, its supervisor's PID and the heartbeat the
// client refreshes. It lives in the container's own filesystem, so a restarted container
// (which has stopped every session's processes) starts with none.
const SessionsDir = "/run/node-shell/sessions"

// Exit statuses of the agent's scripts that are not a command's.
const (
	// exitNoSession: the heartbeat's session directory is gone (ended, or never started);
	// the scripts spell it 3.
	exitNoSession = 3
	// ExitRefused: the supervisor could not guarantee the session's end, so it ran nothing;
	// the script spells it 255 (node-shell's own failure).
	ExitRefused = 255
)

// stateLib is shared by the scripts: the sessions directory and a /proc/PID/stat reader
// that is not fooled by a process name with spaces or parentheses (the name is the only
// field that can hold them, and it ends at the last ")"). The scripts that write the node's
// session log add sessionlog.Lib. NODE_SHELL_SESSIONS stands in for SessionsDir in unit
// tests only.
const stateLib = `base=${NODE_SHELL_SESSIONS:-` + SessionsDir + `}
stat_of() {
  state= sid= l=
  { read -r l <"/proc/$1/stat"; } 2>/dev/null || return 1
  set -- ${l##*) }
  state=$1 sid=$4
}
uptime() { read -r now _ </proc/uptime; now=${now%.*}; }
`

// supervisorScript is what each agent session execs: "$1" is the session ID, "$2" the
// heartbeat timeout and "$3" the maximum lifetime (0: none) in whole seconds, "$4" the
// session's record (one line), the rest the entry's argv. It runs the command in the
// foreground, so it keeps the exec's stdin, terminal and signals, and a watcher beside it,
// in the background, that ends the whole session (every process of its kernel session, of
// which the supervisor is the leader) once the heartbeat file has not changed for the
// timeout, by the node's monotonic clock, or the lifetime is over. When the command exits,
// whatever it left running ends with it, as a session pod's delete would end it. It refuses
// to run anything (status 255) when it cannot promise that end: not a session leader, or
// the ID is taken. The node's session log gets the session's start, and its end: the
// command's status, or why the watcher (or gc) ended it. The signals that end a command
// (Ctrl-C, the terminal's hangup) have a handler here, so the supervisor outlives them to
// record the status and end what is left; the command, where handlers are reset, sees them
// as usual.
var supervisorScript = sessionlog.Lib + stateLib + `id=$1 t=$2 max=$3 rec=$4
shift 4
S=$$
stat_of $S
if [ "$sid" != "$S" ]; then
  echo "node-shell: the agent's exec is not a session of its own (session $sid, pid $S), so its processes could not be stopped with it; refusing" >&2
  exit 255
fi
d=$base/$id
mkdir -p "$base" 2>/dev/null
if ! mkdir "$d" 2>/dev/null; then
  echo "node-shell: agent session $id exists already or cannot be made in $base; refusing" >&2
  exit 255
fi
uptime; start=$now
printf '%s\n' "$rec" >"$d/record"
echo "$S" >"$d/pid"
echo "$start" >"$d/started"
echo "$start" >"$d/seen"
log_open "$id" "$rec"
end_session() {
  read -r l </proc/self/stat; me=${l%% *}
  rm -rf "$d"
  pass=0 found=1
  while [ "$found" = 1 ] && [ "$pass" -lt 20 ]; do
    found=0 pass=$((pass + 1))
    for p in /proc/[0-9]*; do
      p=${p#/proc/}
      [ "$p" != "$me" ] || continue
      stat_of "$p" || continue
      if [ "$sid" = "$S" ] && [ "$state" != Z ]; then kill -9 "$p" 2>/dev/null; found=1; fi
    done
  done
}
watch() {
  last= seen=$start why=
  while :; do
    uptime
    v=; { read -r v <"$d/beat"; } 2>/dev/null
    if [ -n "$v" ] && [ "$v" != "$last" ]; then
      last=$v seen=$now
      echo "$now" >"$d/seen"
    elif [ $((now - seen)) -ge "$t" ]; then why="no heartbeat from the client for ${t}s"
    fi
    if [ -z "$why" ] && [ "$max" -gt 0 ] && [ $((now - start)) -ge "$max" ]; then why="its maximum lifetime of ${max}s is over"; fi
    if [ -z "$why" ] && ! { stat_of "$S" && [ "$sid" = "$S" ] && [ "$state" != Z ]; }; then why="its supervisor is gone"; fi
    [ -z "$why" ] || break
    sleep 1
  done
  log_end "\"endedBy\":\"$why\""
  end_session
}
(watch) </dev/null >/dev/null 2>&1 &
trap : INT QUIT HUP TERM
log_run "$@"
rc=$?
log_end "\"exitStatus\":$rc"
end_session
exit $rc`

// heartbeatScript refreshes session "$1"'s heartbeat with the value "$2"; it exits
// exitNoSession when the session is not there (any more).
const heartbeatScript = stateLib + `d=$base/$1
[ -d "$d" ] || exit 3
echo "$2" >"$d/beat"`

// listScript prints one line per agent session: its ID, the seconds since its heartbeat
// last changed and since it started (both by the node's monotonic clock), whether its
// supervisor still leads its session (1) or not (0), and its record.
const listScript = stateLib + `uptime
for d in "$base"/*; do
  [ -d "$d" ] || continue
  id=${d##*/} seen= started= pid= rec= alive=0
  { read -r seen <"$d/seen"; read -r started <"$d/started"; read -r pid <"$d/pid"; read -r rec <"$d/record"; } 2>/dev/null
  [ -n "$pid" ] && stat_of "$pid" && [ "$sid" = "$pid" ] && [ "$state" != Z ] && alive=1
  printf '%s\t%s\t%s\t%s\t%s\n' "$id" "$((now - ${seen:-0}))" "$((now - ${started:-0}))" "$alive" "$rec"
done`

// endScript ends session "$1" as its watcher would (every process of its kernel session),
// for gc when the watcher itself is gone, or for the client whose exec ended without the
// command's status, and records "$2", who ended it and why; it exits exitNoSession when there
// is no such session.
var endScript = sessionlog.Lib + stateLib + `d=$base/$1
[ -d "$d" ] || exit 3
pid=; { read -r pid <"$d/pid"; } 2>/dev/null
[ -f "$logdir/$1.json" ] && log_f=$logdir/$1.json && log_end "\"endedBy\":\"$2\""
if [ -n "$pid" ]; then
  pass=0 found=1
  while [ "$found" = 1 ] && [ "$pass" -lt 20 ]; do
    found=0 pass=$((pass + 1))
    for p in /proc/[0-9]*; do
      p=${p#/proc/}
      stat_of "$p" || continue
      if [ "$sid" = "$pid" ] && [ "$state" != Z ]; then kill -9 "$p" 2>/dev/null; found=1; fi
    done
  done
fi
echo "ended by gc" >"$d/ended"
rm -rf "$d"`

// NewSessionID is a fresh random session ID (sessionlog.NewID): the node's log and the
// agent's state share it.
func NewSessionID() string { return sessionlog.NewID() }

// SupervisedArgv is what an agent session execs: argv (the entry's: chroot, nsenter or
// the container's own) under the supervisor, with the heartbeat timeout, the maximum
// lifetime (0: none) and the session's record.
func SupervisedArgv(id string, timeout, maxLifetime time.Duration, record string, argv []string) []string {
	return append([]string{"/bin/sh", "-c", supervisorScript, "node-shell-agent-session",
		id, seconds(timeout), seconds(maxLifetime), record}, argv...)
}

// HeartbeatArgv refreshes session id's heartbeat with value (any value that differs from
// the last one).
func HeartbeatArgv(id, value string) []string {
	return []string{"/bin/sh", "-c", heartbeatScript, "node-shell-agent-heartbeat", id, value}
}

// ListArgv lists the agent's sessions (see ParseSessions).
func ListArgv() []string {
	return []string{"/bin/sh", "-c", listScript, "node-shell-agent-list"}
}

// Why an agent session was ended by EndArgv, as the node's session log records it.
const (
	EndedByGC     = "gc: its client was gone"
	EndedByClient = "the client: its exec ended without the command's status (a signal, a cut stream)"
)

// EndArgv ends session id and removes its state; why (EndedByGC, EndedByClient) goes in the
// node's session log.
func EndArgv(id, why string) []string {
	return []string{"/bin/sh", "-c", endScript, "node-shell-agent-end", id, why}
}

// IsNoSession reports whether an exit status of a heartbeat or end says the session is gone.
func IsNoSession(status int) bool { return status == exitNoSession }

// seconds is d in whole seconds, rounded up; 0 stays 0.
func seconds(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}
