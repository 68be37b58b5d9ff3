#!/usr/bin/env bash
# Real dnsmasq on 127.0.0.1:15353 answering from a local hosts file and local
# records only (no upstream servers, no system resolver changes), queried over
# TCP with dig and a python client that pipelines queries.
# Output: captures/servers/dns.pcap, captures/servers/dns.tshark.json
source "$(dirname "$0")/lib.sh"
fs_init dns
PORT="${DNS_PORT:-15353}"
fs_ensure_base dnsmasq-base bind9-dnsutils
fs_port_free "$PORT"

cat > "$FS_TMP/hosts" <<'HOSTS'
127.0.0.1 a.fs.test
127.0.0.2 b.fs.test
127.0.0.3 c.fs.test
::1 c.fs.test
127.0.0.10 multi.fs.test
127.0.0.11 multi.fs.test
127.0.0.12 multi.fs.test
127.0.0.13 multi.fs.test
HOSTS
# 60 TXT records of 200 characters each for big.fs.test (~13 KB answer,
# far beyond 512 bytes: only TCP can carry it whole).
: > "$FS_TMP/dnsmasq.conf"
for i in $(seq -w 1 60); do
    printf 'txt-record=big.fs.test,"record-%s-%s"\n' "$i" \
        "$(printf '%*s' 186 '' | tr ' ' x)" >> "$FS_TMP/dnsmasq.conf"
done
echo 'txt-record=small.fs.test,"v=framescope1","second string"' >> "$FS_TMP/dnsmasq.conf"
echo 'mx-host=fs.test,mail.fs.test,10' >> "$FS_TMP/dnsmasq.conf"
echo 'cname=alias.fs.test,a.fs.test' >> "$FS_TMP/dnsmasq.conf"

# --no-resolv/--no-poll: never read /etc/resolv.conf, no upstream at all.
# --local=/fs.test/: names under fs.test are answered locally or NXDOMAIN.
dnsmasq --keep-in-foreground --conf-file="$FS_TMP/dnsmasq.conf" \
    --port="$PORT" --listen-address=127.0.0.1 --bind-interfaces \
    --no-resolv --no-poll --no-hosts --addn-hosts="$FS_TMP/hosts" \
    --local=/fs.test/ --domain-needed --bogus-priv --cache-size=0 \
    --pid-file="$FS_TMP/dnsmasq.pid" --user=root --group=root \
    --log-facility="$FS_TMP/dnsmasq.log" --log-queries &
fs_track_pid $! dnsmasq
fs_wait_port "$PORT" $!

D=(dig @127.0.0.1 -p "$PORT" +tcp +tries=1 +time=5)
check() {  # check WHAT EXPECTED_MIN_ANSWERS <dig output>
    local out; out="$(cat)"
    local n; n=$(grep -c -v '^;\|^$' <<<"$out" || true)
    [[ $n -ge $2 ]] || { echo "$out" >&2; fs_die "$1: expected >= $2 answer lines, got $n"; }
}

fs_capture_start "tcp port $PORT"

"${D[@]}" +short a.fs.test A | check "A" 1
"${D[@]}" +short multi.fs.test A | check "multi A" 4
"${D[@]}" +short c.fs.test AAAA | check "AAAA" 1
"${D[@]}" +short alias.fs.test A | check "CNAME" 2
"${D[@]}" +short fs.test MX | check "MX" 1
"${D[@]}" +short small.fs.test TXT | check "TXT" 1
# large answer: 60 TXT records, ~13 KB in one DNS message
"${D[@]}" +short big.fs.test TXT | check "big TXT" 60
# NXDOMAIN (answered locally, never forwarded)
"${D[@]}" nosuchname.fs.test A | grep -q 'status: NXDOMAIN' || fs_die "expected NXDOMAIN"
# several queries on ONE TCP connection
"${D[@]}" +keepopen +short a.fs.test A b.fs.test A big.fs.test TXT multi.fs.test A c.fs.test AAAA \
    | check "keepopen" 67
# pipelined: 5 length-prefixed queries in one write (RFC 7766), then read 5 answers
python3 - "$PORT" <<'PY'
import socket, struct, sys
def q(qid, name, qtype):
    hdr = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    qn = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    m = hdr + qn + struct.pack(">HH", qtype, 1)
    return struct.pack(">H", len(m)) + m
qs = [(0x1001, "a.fs.test", 1), (0x1002, "b.fs.test", 1), (0x1003, "big.fs.test", 16),
      (0x1004, "nosuch.fs.test", 1), (0x1005, "c.fs.test", 28)]
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"".join(q(*x) for x in qs))
buf, ids = b"", []
while len(ids) < len(qs):
    d = s.recv(65536)
    if not d:
        break
    buf += d
    while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
        n = struct.unpack(">H", buf[:2])[0]
        ids.append(struct.unpack(">H", buf[2:4])[0])
        buf = buf[2 + n:]
s.close()
if sorted(ids) != sorted(x[0] for x in qs):
    raise SystemExit("pipelined DNS answers: %r" % ids)
PY

fs_capture_stop
fs_summarize --port "$PORT" --proto dns --decode-as "tcp.port==$PORT,dns" \
    --server-pkgs "$(fs_pkg_versions dnsmasq-base bind9-dnsutils)" \
    --traffic "dig +tcp: A, 4x A, AAAA, CNAME, MX, TXT, 60-record TXT (~13 KB answer), NXDOMAIN (one connection each); dig +tcp +keepopen: 5 queries on one connection; python: 5 length-prefixed queries pipelined in one write"
