#!/usr/bin/env bash
# Real mosquitto broker on 127.0.0.1:11883 driven by mosquitto_sub/mosquitto_pub
# (QoS 0/1/2, retained message, a 100 KB payload, several messages on one
# connection).
# Output: captures/servers/mosquitto.pcap, captures/servers/mosquitto.tshark.json
source "$(dirname "$0")/lib.sh"
fs_init mosquitto
PORT="${MQTT_PORT:-11883}"
fs_ensure_base mosquitto mosquitto-clients
fs_port_free "$PORT"

cat > "$FS_TMP/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
log_dest file $FS_TMP/mosquitto.log
log_type error
log_type warning
log_type notice
user root
message_size_limit 0
CONF
mosquitto -c "$FS_TMP/mosquitto.conf" &
fs_track_pid $! mosquitto
fs_wait_port "$PORT" $!

python3 -c 'import sys; sys.stdout.write("".join("payload-%06d|" % i for i in range(7200))[:102400])' > "$FS_TMP/big.txt"
H=(-h 127.0.0.1 -p "$PORT")

fs_capture_start "tcp port $PORT"

# Subscribers first (QoS 2 and QoS 0 subscriptions); each exits after -C N msgs.
mosquitto_sub "${H[@]}" -i fs-sub2 -q 2 -t 'fs/#' -C 11 -v > "$FS_TMP/sub2.out" &
SUB2=$!; fs_track_pid $SUB2 mosquitto_sub-q2
mosquitto_sub "${H[@]}" -i fs-sub0 -q 0 -t 'fs/big' -C 1 > "$FS_TMP/sub0.out" &
SUB0=$!; fs_track_pid $SUB0 mosquitto_sub-q0
# wait until both subscriptions are in place (SUBACK seen by the broker)
for i in $(seq 1 50); do
    [[ $(ss -Htn state established "dport = :$PORT" | wc -l) -ge 2 ]] && break
    sleep 0.1
done
sleep 0.5

mosquitto_pub "${H[@]}" -i fs-pub-q0 -q 0 -t fs/a -m 'qos0 message'
mosquitto_pub "${H[@]}" -i fs-pub-q1 -q 1 -t fs/b -m 'qos1 message'
mosquitto_pub "${H[@]}" -i fs-pub-q2 -q 2 -t fs/c -m 'qos2 message'
# several messages over one connection (-l: one message per stdin line), QoS 1
printf 'line %d\n' 1 2 3 4 5 6 | mosquitto_pub "${H[@]}" -i fs-pub-lines -q 1 -t fs/lines -l
# retained message
mosquitto_pub "${H[@]}" -i fs-pub-retain -q 1 -r -t fs/retained -m 'retained value'
# 100 KB payload, QoS 2 (to both subscribers)
mosquitto_pub "${H[@]}" -i fs-pub-big -q 2 -t fs/big -f "$FS_TMP/big.txt"

for p in $SUB2 $SUB0; do
    for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
done
wait $SUB2 || fs_die "QoS 2 subscriber did not get its 11 messages"
wait $SUB0 || fs_die "QoS 0 subscriber did not get the big message"
# a late subscriber gets the retained message on subscribe
mosquitto_sub "${H[@]}" -i fs-sub-late -q 1 -t fs/retained -C 1 > "$FS_TMP/late.out"
# clear the retained message (zero-length retained publish)
mosquitto_pub "${H[@]}" -i fs-pub-clear -q 0 -r -t fs/retained -n

fs_capture_stop
fs_summarize --port "$PORT" --proto mqtt --decode-as "tcp.port==$PORT,mqtt" \
    --server-pkgs "$(fs_pkg_versions mosquitto mosquitto-clients)" \
    --traffic "mosquitto_sub -q 2 'fs/#' -C 11 and -q 0 fs/big -C 1; mosquitto_pub QoS 0, 1, 2 single messages; 6 QoS 1 messages on one connection (-l); a retained QoS 1 message; a 100 KB QoS 2 payload; a late subscriber receiving the retained message; clearing it with an empty retained publish"
