#!/usr/bin/env python3
"""Rebuild captures/servers/README.md from the NAME.tshark.json files."""

import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "..", "captures", "servers"))
NAMES = ["redis", "postgres", "memcached", "mosquitto", "nginx-http1", "nginx-h2c", "dns"]

# Observed behaviour of tshark 4.0 / the tools, per capture (checked against
# the committed captures; the mismatch lists below are generated).
QUIRKS = {
    "redis": [
        "redis-cli in interactive/stdin mode sends `COMMAND DOCS` first (a ~170 KB "
        "array reply of 480 elements, split over several segments); `redis-cli CMD` "
        "with arguments does not.",
        "tshark 4.0 RESP: the `resp` layer appears once per segment with RESP data and "
        "holds all values found there, so it counts segments, not messages. Values "
        "spanning segments are re-parsed on every later segment: the 200 KB SET is "
        "counted once per segment it spans (5 or 6 depending on the run), COMMAND DOCS likewise.",
        "tshark 4.0 RESP does not know RESP3 types (`%` map etc.): the HELLO 3 "
        "session's server side gives thousands of bogus top-level items.",
        "tshark 4.0 RESP does not decode inline commands (`PING\\r\\n` without `*`): "
        "0 top-level items for that client side.",
        "redis-benchmark -P 16 writes 16 commands per segment; replies are 16 `+OK` "
        "(or bulk strings) per segment. tshark and the derived parser agree there.",
    ],
    "postgres": [
        "pgbench tables are created (`pgbench -i`, 100k-row COPY) before the capture starts.",
        "The `sslmode=prefer` connection (ssl=off on the server) starts with an "
        "SSLRequest; the server answers the single byte `N`, which tshark does not "
        "count (no pgsql.type), so tshark is 1 lower than derived on that stream's "
        "server side. The client's SSLRequest is counted ('SSL request').",
        "psql 15 has no `\\bind`: the extended protocol (Parse/Bind/Describe/Execute/Sync) "
        "comes from `pgbench -M extended` and `-M prepared`.",
        "`COPY ... FROM STDIN` from psql sends its CSV lines as one CopyData message here.",
        "tshark names the message types ('Data row', 'Ready for query', ...); derived "
        "uses the protocol's type byte ('D', 'Z', ...).",
    ],
    "memcached": [
        "tshark's memcache (text) dissector counts lines, not messages, and not "
        "even those consistently. A get hit reply (`VALUE` line(s) + data + `END`) "
        "carries neither memcache.command nor memcache.response (only memcache.key / "
        "memcache.value.length per VALUE) and its `END` is not counted; only a miss "
        "shows `END`. Every `STAT` line of a stats reply is counted as "
        "memcache.command (server->client). incr/decr's numeric replies, `touch`, "
        "`TOUCHED`, the unknown command and `ERROR` are shown as 'Continuation' "
        "(not dissected). A segment holding several requests (20 pipelined `set`s + "
        "a multi-get in one write) yields only the first one.",
        "The libmemcached tools (memccp/memccat/memcstat/memcslap) use the text "
        "protocol here; memcstat also sends `version`.",
        "memcslap's default test only sets keys (2 connections x 100 sets).",
    ],
    "mosquitto": [
        "mqtt.hdrflags values: 0x10 CONNECT, 0x20 CONNACK, 0x3X PUBLISH (qos in bits "
        "1-2, retain bit 0), 0x40 PUBACK, 0x50 PUBREC, 0x62 PUBREL, 0x70 PUBCOMP, "
        "0x82 SUBSCRIBE, 0x90 SUBACK, 0xe0 DISCONNECT.",
        "The 100 KB PUBLISH spans two 64 KB loopback segments; tshark reassembles it "
        "and agrees with the derived count everywhere.",
        "The QoS 0 publish is delivered to the QoS 2 subscriber at QoS 0 (0x30).",
    ],
    "nginx-http1": [
        "The gzip-compressed data.json response has no Content-Length and is sent "
        "with `Transfer-Encoding: chunked`; the POST with "
        "`Transfer-Encoding: chunked` has a chunked request body.",
        "Pipelined burst: tshark 4.0 does not pair the pipelined HEAD with its "
        "response, treats the HEAD response's `Content-Length: 307200` as a body "
        "that follows, and swallows every later response: it reports 1 of 8 "
        "responses on that stream. The derived framer pairs responses with the "
        "request methods in order (HEAD, 1xx, 204 and 304 have no body).",
        "/echo is proxied by nginx to a second server block on port+1000 (not "
        "captured) so that nginx reads the whole request body before answering.",
    ],
    "nginx-h2c": [
        "curl 7.88.1 (bookworm) cannot reuse a prior-knowledge h2c connection: the "
        "2nd request fails with `(16) Error in the HTTP2 framing layer` (also with "
        "-Z). curl therefore makes one request per connection and the multiplexed "
        "connection comes from `nghttp` (nghttp2-client), which also sends PRIORITY "
        "frames and many WINDOW_UPDATEs.",
        "http2.type values: 0 DATA, 1 HEADERS, 2 PRIORITY, 3 RST_STREAM, 4 SETTINGS, "
        "5 PUSH_PROMISE, 6 PING, 7 GOAWAY, 8 WINDOW_UPDATE, 9 CONTINUATION. The "
        "connection preface is http2.magic (counted as one unit by derived).",
        "nginx 1.22 syntax: `listen 127.0.0.1:PORT http2;` (the `http2 on;` "
        "directive only exists from 1.25.1).",
    ],
    "dns": [
        "dnsmasq answers only from a hosts file and txt-record/mx-host/cname lines "
        "(`--no-resolv --no-poll --local=/fs.test/`): nothing is forwarded and the "
        "system resolver configuration is not touched.",
        "big.fs.test has 60 TXT records: a ~12.5 KB DNS message that loopback still "
        "carries in a single segment; it is one length-prefixed message.",
        "`dig +keepopen` sends its 5 queries one after the other on one connection; "
        "the python client pipelines 5 queries in one write (dnsmasq answers them in order).",
    ],
}


def fmt_dir(d):
    return f"{d.get('client_to_server', 0)} / {d.get('server_to_client', 0)}"


def tool_version(cmd):
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True).stdout.split("\n")[0].strip()
    except OSError:
        return "?"


def main():
    data = {}
    for n in NAMES:
        p = os.path.join(OUT, n + ".tshark.json")
        if os.path.exists(p):
            with open(p) as f:
                data[n] = json.load(f)
    tshark_v = next((d["tshark_version"] for d in data.values()), "?")
    tcpdump_v = tool_version(["tcpdump", "--version"])
    total = sum(os.path.getsize(os.path.join(OUT, n + ".pcap")) for n in data)

    L = []
    L.append("# Captures of real servers on loopback")
    L.append("")
    L.append("Each capture was made by a script in `scripts/servers/` that starts a real "
             "server from a Debian package as a plain child process (never systemd) in a "
             "temp directory, on 127.0.0.1 and a high port, drives it with the real "
             "clients, captures the traffic on `lo` with tcpdump, stops everything (EXIT "
             "trap, also on failure) and writes `NAME.pcap` and `NAME.tshark.json` here.")
    L.append("")
    L.append("Regenerate everything (as root; installs missing packages with apt-get):")
    L.append("")
    L.append("    scripts/servers/make-all.sh            # or: make-all.sh redis dns ...")
    L.append("")
    L.append(f"Tools: {tshark_v}; {tcpdump_v}. Total size of the pcaps: {total / 1e6:.2f} MB.")
    L.append("")
    L.append("## Captures")
    L.append("")
    L.append("Counts are `client->server / server->client`. *tshark PDUs* are field "
             "occurrences (see below); *derived* is the message count of the small "
             "independent framer in `scripts/servers/tshark_summary.py` run over "
             "tshark's reassembled follow bytes.")
    L.append("")
    L.append("| capture | size (bytes) | packets | TCP streams | reassembled bytes | protocol, port | tshark PDUs | derived messages | streams where they differ |")
    L.append("|---|---:|---:|---:|---|---|---|---|---|")
    for n, d in data.items():
        t = d["totals"]
        tk = []
        for k, v in t.items():
            if k.startswith("tshark:"):
                tk.append(f"{k[7:]}: {fmt_dir(v)}")
        diff = sorted({m["stream"] for m in d["tshark_vs_derived_mismatches"]})
        L.append(f"| `{n}.pcap` | {d['pcap_bytes']} | {d['packets']} | {d['tcp_streams']} | "
                 f"{fmt_dir(t['bytes'])} | {d['protocol']}, {d['server_port']} | "
                 f"{'<br>'.join(tk)} | {fmt_dir(t['derived'])} | "
                 f"{', '.join(map(str, diff)) if diff else 'none'} |")
    L.append("")
    L.append("## How the captures are taken")
    L.append("")
    L.append("    tcpdump -i lo -n -s 0 -U -B 4096 -Z root -w NAME.pcap 'tcp port PORT'")
    L.append("")
    L.append("- started after the server listens (checked with `ss -ltn`, so no probe "
             "connection is captured) and stopped with SIGINT 2 s after the last client "
             "exits; the script fails if tcpdump reports packets dropped by the kernel.")
    L.append("- `--immediate-mode` is deliberately not used: with it libpcap uses "
             "TPACKET_V2, whose ring has fixed slots sized for lo's 64 KiB MTU, so a "
             "4 MiB buffer holds ~60 packets and the redis-benchmark burst was dropped "
             "(445 of ~900 packets). Without it (TPACKET_V3) nothing is dropped.")
    L.append("- Loopback has a 64 KiB MTU and TSO: segments of up to ~65 KB are common, "
             "so large values span only a few segments while small pipelined commands "
             "share one.")
    L.append("")
    L.append("## How the counts are computed (`scripts/servers/tshark_summary.py`)")
    L.append("")
    L.append("- TCP streams: `tshark -n -r F -T fields -e tcp.stream | sort -un | wc -l`.")
    L.append("- Reassembled bytes per stream and direction: `tshark -n -q -r F -z "
             "follow,tcp,raw,N` (hex lines; lines starting with a TAB belong to node 1; "
             "the direction is found from the server port).")
    L.append("- PDU counts: `tshark -n -r F -d tcp.port==PORT,PROTO -Y PROTO -T fields "
             "-e tcp.stream -e tcp.srcport -e FIELD -E occurrence=a -E aggregator='|'`, "
             "each line split on `|`, non-empty items counted per (stream, srcport); "
             "srcport == server port means server->client.")
    L.append("- Fields: pgsql `pgsql.type`; mqtt `mqtt.hdrflags`; http "
             "`http.request.method` + `http.response.code`; http2 `http2.type` + "
             "`http2.magic`; dns `dns.id`; memcache `memcache.command` + "
             "`memcache.response`; resp: the `resp` layer, plus the number of direct "
             "children of each `<proto name=\"resp\">` in `tshark -T pdml` "
             "(`top_level`), which is what is compared with derived.")
    L.append("- derived: a framer per protocol over the follow bytes (RESP2/RESP3 values "
             "and inline lines; PostgreSQL startup/SSLRequest + typed messages + the "
             "1-byte SSL answer; MQTT fixed header + remaining length; DNS 2-byte length "
             "prefix; HTTP/2 preface + 9-byte frame headers; HTTP/1.1 heads + "
             "Content-Length/chunked bodies, paired with request methods; memcache text "
             "requests with data blocks and replies up to END). `trailing_partial_bytes` "
             "is what is left after the last complete message (0 everywhere here).")
    L.append("- The exact commands, decode-as, tshark version and package versions are "
             "also stored in each JSON (`commands`, `decode_as`, `tshark_version`, `packages`).")
    L.append("")
    L.append("JSON layout: `tcp_streams`, `packets`, `totals` (bytes, `tshark:FIELD`, "
             "`derived` per direction), `totals_by_value`, `tshark_vs_derived_mismatches`, "
             "`notes`, and `streams[]` with `client`, `server`, `bytes`, "
             "`segments_with_data`, `tshark.FIELD.{client_to_server,server_to_client}."
             "{count,by_value}`, `derived.DIR.{count,by_kind,trailing_partial_bytes}`.")
    L.append("")
    L.append("Benchmark parts (redis-benchmark, pgbench, memcslap) and timing make "
             "segment boundaries, some byte counts and stream counts vary slightly "
             "between runs; the JSON always describes the pcap committed next to it.")
    L.append("")
    for n, d in data.items():
        L.append(f"## {n}")
        L.append("")
        L.append(f"- Packages: {', '.join('`' + p + '`' for p in d['packages'])}")
        L.append(f"- Server: 127.0.0.1:{d['server_port']}; decode-as: "
                 f"{', '.join('`' + x + '`' for x in d['decode_as'])}")
        L.append(f"- Traffic: {d['traffic']}")
        for k, v in d["totals_by_value"].items():
            if k == "tshark:dns.id":
                continue
            for dname, c in v.items():
                if c:
                    L.append(f"- {k} {dname}: " + ", ".join(f"`{a}` {b}" for a, b in c.items()))
        mm = d["tshark_vs_derived_mismatches"]
        if mm:
            L.append("- tshark vs derived differ:")
            for m in mm:
                vals = ", ".join(f"{k} {v}" for k, v in m.items() if k not in ("stream", "direction"))
                L.append(f"  - stream {m['stream']} {m['direction']}: {vals}")
        else:
            L.append("- tshark and derived agree on every stream and direction.")
        L.append("- Quirks:")
        for q in QUIRKS.get(n, []) + d.get("notes", []):
            L.append(f"  - {q}")
        L.append("")
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write("\n".join(L))
    print(f"wrote {os.path.join(OUT, 'README.md')}")


if __name__ == "__main__":
    main()
