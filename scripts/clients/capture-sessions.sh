#!/usr/bin/env bash
# Captures one real session of each seed client against its server
# (scripts/clients/server.py), on lo, for `framescope replay --serve`:
# framescope then plays the captured server side to the buggy and the fixed
# client and compares what they print.
#
#   scripts/clients/capture-sessions.sh [remote-command long-reply length-prefixed]
#
# Output, in captures/clients/ (stream 0 of each file):
#   remote-command.pcap   remote_command_fixed.py: uptime, ls, ps, df, uptime;
#                         the replies of ls, ps and df are 1.4 to 2.5 KB
#   long-reply.pcap       long_reply_fixed.py: 3 requests, 10,244-byte replies
#   length-prefixed.pcap  length_prefixed_fixed.py: 5 messages echoed
# The fixed clients are captured: the bytes on the wire are the same for the
# buggy ones (only their reading differs). Needs root (tcpdump on lo).
source "$(dirname "$0")/../servers/lib.sh"
FS_OUT_DIR="$FS_REPO/captures/clients"
CLIENTS="$FS_REPO/scripts/clients"

session() {  # session NAME PORT CLIENT
    local name=$1 port=$2 client=$3
    fs_init "$name"
    fs_ensure_base
    fs_port_free "$port"
    python3 "$CLIENTS/server.py" "$name" "$port" >"$FS_TMP/server.out" &
    fs_track_pid $! "server.py $name"
    fs_wait_port "$port" $!
    fs_capture_start "tcp port $port"
    python3 "$CLIENTS/$client" "$port" >"$FS_TMP/client.out"
    fs_capture_stop
    fs_log "client printed $(wc -l <"$FS_TMP/client.out") lines"
}

names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(remote-command long-reply length-prefixed)
failed=()
for n in "${names[@]}"; do
    case $n in
    remote-command) ( session remote-command 27101 remote_command_fixed.py ) || failed+=("$n") ;;
    long-reply) ( session long-reply 27102 long_reply_fixed.py ) || failed+=("$n") ;;
    length-prefixed) ( session length-prefixed 27103 length_prefixed_fixed.py ) || failed+=("$n") ;;
    *) echo "unknown session $n" >&2; failed+=("$n") ;;
    esac
done
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
