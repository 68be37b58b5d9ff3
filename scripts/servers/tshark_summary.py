#!/usr/bin/env python3
"""Summarise a loopback capture of one protocol with tshark.

Writes NAME.tshark.json with
  * the number of TCP streams (tshark -T fields -e tcp.stream),
  * per stream and direction the reassembled byte count from
    `tshark -q -z follow,tcp,raw,N`,
  * per stream and direction the protocol PDU counts as tshark reports them:
    occurrences of a field, from
    `tshark -n -r F [-d ...] -Y PROTO -T fields -e tcp.stream -e tcp.srcport
     -e FIELD -E occurrence=a -E aggregator='|'` (split on '|'),
  * a "derived" message count from a small independent parser in this file run
    over the follow bytes (one message = one protocol message as a decoder
    should frame it), flagged where it differs from tshark's count.

Only the Python standard library is used.
"""

import argparse
import collections
import hashlib
import json
import os
import re
import subprocess
import sys

TSHARK = "tshark"

# Per protocol: display filter, fields counted (tshark semantics), which
# fields together make the "tshark message count" that is compared with the
# derived count, and notes on what tshark's numbers mean.
PROTOS = {
    "resp": {
        "filter": "resp",
        "fields": ["resp"],
        "compare": None,  # compared through the PDML top-level count instead
        "notes": [
            "Field 'resp' is the protocol layer: tshark 4.0 adds one RESP layer per "
            "TCP segment (or reassembled chunk) and puts all the top-level values it "
            "finds there under it, so it counts segments with RESP data, not messages.",
            "tshark_top_level counts direct children of <proto name=\"resp\"> in "
            "`tshark -T pdml` (top-level values as tshark parsed them). tshark 4.0's "
            "RESP dissector does not reassemble values larger than a segment "
            "properly: it re-parses the partial value on every following segment "
            "(the same 480-element COMMAND DOCS array appears once per segment), and "
            "it does not know the RESP3 types (%, ~, _, ,, #, =, (, >, |).",
            "derived = own RESP2/RESP3 parser over the follow bytes: one message = one "
            "top-level value (an attribute '|' belongs to the value after it); an "
            "inline command is one line.",
        ],
    },
    "pgsql": {
        "filter": "pgsql",
        "fields": ["pgsql.type"],
        "compare": ["pgsql.type"],
        "notes": [
            "pgsql.type is present once per PostgreSQL message, including the "
            "untyped StartupMessage and SSLRequest ('Startup message', 'SSL request').",
            "The server's 1-byte answer 'N' to an SSLRequest is not dissected as a "
            "message (no pgsql.type), so tshark's server->client count is one lower "
            "than derived for every connection that sent an SSLRequest.",
        ],
    },
    "mqtt": {
        "filter": "mqtt",
        "fields": ["mqtt.hdrflags"],
        "compare": ["mqtt.hdrflags"],
        "notes": ["mqtt.hdrflags is the fixed-header byte, one per MQTT control packet."],
    },
    "http": {
        "filter": "http",
        "fields": ["http.request.method", "http.response.code"],
        "compare": ["http.request.method", "http.response.code"],
        "notes": [
            "One http.request.method per request head and one http.response.code per "
            "response head; bodies (Content-Length or chunked) are part of the message.",
        ],
    },
    "http2": {
        "filter": "http2",
        "fields": ["http2.type", "http2.magic"],
        "compare": ["http2.type", "http2.magic"],
        "notes": [
            "http2.type is present once per HTTP/2 frame; http2.magic once for the "
            "client connection preface. derived counts frames (9-byte header + "
            "payload) plus the 24-byte preface as one unit.",
        ],
    },
    "dns": {
        "filter": "dns",
        "fields": ["dns.id"],
        "compare": ["dns.id"],
        "notes": ["dns.id once per DNS message; over TCP each message has a 2-byte length prefix."],
    },
    "memcache": {
        "filter": "memcache",
        "fields": ["memcache.command", "memcache.response"],
        "compare": ["memcache.command", "memcache.response"],
        "notes": [
            "tshark's memcache (text protocol) counts LINES, not messages: a get reply "
            "'VALUE ... <data> ... END' gives one memcache.response per VALUE line plus "
            "one for END, and a stats reply gives one per STAT line plus END. "
            "memcache.command is one per request line (a storage command's data block "
            "belongs to it). derived counts one message per request and per complete "
            "reply (a get/gets reply ends at END, stats at END).",
        ],
    },
}


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if r.returncode != 0:
        sys.stderr.write(r.stderr.decode(errors="replace"))
        raise SystemExit(f"command failed ({r.returncode}): {' '.join(cmd)}")
    return r.stdout.decode("utf-8", errors="replace")


def shell_join(cmd):
    out = []
    for a in cmd:
        if re.fullmatch(r"[A-Za-z0-9_.,=:/+-]+", a):
            out.append(a)
        else:
            out.append("'" + a.replace("'", "'\\''") + "'")
    return " ".join(out)


# --------------------------------------------------------------------------
# tshark extraction


def tcp_streams(pcap):
    cmd = [TSHARK, "-n", "-r", pcap, "-T", "fields", "-e", "tcp.stream"]
    vals = run(cmd).split("\n")
    ids = sorted({int(x) for x in vals if x.strip()})
    tcp_frames = sum(1 for x in vals if x.strip())
    return ids, cmd, tcp_frames


def follow_streams(pcap, ids):
    """Return {stream: {"nodes": [addr0, addr1], "chunks": [(node, bytes)]}}."""
    res = {}
    # a bounded number of -z follow per tshark run
    for i in range(0, len(ids), 50):
        part = ids[i:i + 50]
        cmd = [TSHARK, "-n", "-q", "-r", pcap]
        for s in part:
            cmd += ["-z", f"follow,tcp,raw,{s}"]
        out = run(cmd)
        cur = None
        for line in out.split("\n"):
            m = re.match(r"^Filter: tcp\.stream eq (\d+)", line)
            if m:
                cur = {"nodes": [None, None], "chunks": []}
                res[int(m.group(1))] = cur
                continue
            if cur is None:
                continue
            m = re.match(r"^Node ([01]): (\S+)$", line)
            if m:
                cur["nodes"][int(m.group(1))] = m.group(2)
                continue
            if line.startswith("===") or line.startswith("Follow:") or not line.strip():
                continue
            node = 1 if line.startswith("\t") else 0
            hexs = line.strip()
            if re.fullmatch(r"[0-9a-fA-F]+", hexs):
                cur["chunks"].append((node, bytes.fromhex(hexs)))
    return res


def field_counts(pcap, decode_as, flt, field):
    cmd = [TSHARK, "-n", "-r", pcap]
    for d in decode_as:
        cmd += ["-d", d]
    cmd += ["-Y", flt, "-T", "fields", "-e", "tcp.stream", "-e", "tcp.srcport",
            "-e", field, "-E", "occurrence=a", "-E", "aggregator=|"]
    out = run(cmd)
    counts = collections.defaultdict(lambda: collections.Counter())
    for line in out.split("\n"):
        if not line.strip():
            continue
        parts = line.split("\t")
        while len(parts) < 3:
            parts.append("")
        stream, sport, val = parts[0], parts[1], parts[2]
        if not stream:
            continue
        vals = [v for v in val.split("|") if v != ""]
        for v in vals:
            counts[(int(stream), int(sport))][v] += 1
    return counts, cmd


def pdml_resp_top_level(pcap, decode_as):
    """Count direct children of each <proto name="resp"> in PDML output."""
    import xml.etree.ElementTree as ET
    cmd = [TSHARK, "-n", "-r", pcap]
    for d in decode_as:
        cmd += ["-d", d]
    cmd += ["-Y", "resp", "-T", "pdml"]
    out = run(cmd)
    counts = collections.defaultdict(lambda: collections.Counter())
    skip = {"resp.partial", "resp.reassembled_in_next_frame", "resp.fragment",
            "resp.malformed_length", "resp.array_recursion_too_deep", "_ws.expert"}
    for m in re.finditer(r"<packet>.*?</packet>", out, re.S):
        pkt = ET.fromstring(m.group(0))
        stream = sport = None
        for proto in pkt.findall("proto"):
            if proto.get("name") == "tcp":
                for f in proto.iter("field"):
                    if f.get("name") == "tcp.stream":
                        stream = int(f.get("show"))
                    elif f.get("name") == "tcp.srcport":
                        sport = int(f.get("show"))
        for proto in pkt.findall("proto"):
            if proto.get("name") != "resp":
                continue
            for child in proto:
                name = child.get("name") or ""
                if name in skip or name == "":
                    continue
                counts[(stream, sport)][name] += 1
    return counts, cmd


# --------------------------------------------------------------------------
# Independent framers over the reassembled byte streams.
# Each returns (messages: Counter of kind -> n, trailing_partial_bytes).


class Need(Exception):
    pass


def _line(buf, pos):
    e = buf.find(b"\r\n", pos)
    if e < 0:
        raise Need()
    return buf[pos:e], e + 2


RESP_AGG = {ord("*"): 1, ord("~"): 1, ord(">"): 1, ord("%"): 2, ord("|"): 2}
RESP_BLOB = {ord("$"), ord("!"), ord("=")}
RESP_SIMPLE = {ord(c) for c in "+-:_,#("}


def _resp_value(buf, pos):
    if pos >= len(buf):
        raise Need()
    t = buf[pos]
    if t in RESP_SIMPLE:
        _, pos = _line(buf, pos + 1)
        return pos
    if t in RESP_BLOB:
        ln, pos = _line(buf, pos + 1)
        n = int(ln)
        if n < 0:
            return pos
        if len(buf) < pos + n + 2:
            raise Need()
        return pos + n + 2
    if t in RESP_AGG:
        ln, pos = _line(buf, pos + 1)
        n = int(ln)
        for _ in range(max(n, 0) * RESP_AGG[t]):
            pos = _resp_value(buf, pos)
        if t == ord("|"):  # attribute: the real value follows
            pos = _resp_value(buf, pos)
        return pos
    raise ValueError(f"bad RESP type byte {t!r} at {pos}")


def frame_resp(buf, direction, ctx):
    c = collections.Counter()
    pos = 0
    sys.setrecursionlimit(100000)
    while pos < len(buf):
        t = buf[pos]
        try:
            if t in RESP_SIMPLE or t in RESP_BLOB or t in RESP_AGG:
                npos = _resp_value(buf, pos)
                kind = chr(t)
            else:  # inline command: one line (LF or CRLF)
                e = buf.find(b"\n", pos)
                if e < 0:
                    raise Need()
                npos = e + 1
                kind = "inline"
        except Need:
            break
        c[kind] += 1
        pos = npos
    return c, len(buf) - pos


PG_SSL = 80877103
PG_GSS = 80877104
PG_CANCEL = 80877102


def frame_pgsql(buf, direction, ctx):
    c = collections.Counter()
    pos = 0
    if direction == "client_to_server":
        untyped = True
        ctx["pg_ssl_requests"] = 0
        while pos < len(buf):
            if untyped:
                if len(buf) < pos + 8:
                    break
                n = int.from_bytes(buf[pos:pos + 4], "big")
                code = int.from_bytes(buf[pos + 4:pos + 8], "big")
                if len(buf) < pos + n:
                    break
                if code in (PG_SSL, PG_GSS):
                    c["SSLRequest" if code == PG_SSL else "GSSENCRequest"] += 1
                    ctx["pg_ssl_requests"] += 1
                elif code == PG_CANCEL:
                    c["CancelRequest"] += 1
                else:
                    c["StartupMessage"] += 1
                    untyped = False
                pos += n
            else:
                if len(buf) < pos + 5:
                    break
                n = int.from_bytes(buf[pos + 1:pos + 5], "big")
                if len(buf) < pos + 1 + n:
                    break
                c[chr(buf[pos])] += 1
                pos += 1 + n
    else:
        # one single-byte answer ('N' or 'S') per SSLRequest/GSSENCRequest
        for _ in range(ctx.get("pg_ssl_requests", 0)):
            if pos < len(buf):
                c["ssl-answer:" + chr(buf[pos])] += 1
                pos += 1
        while pos < len(buf):
            if len(buf) < pos + 5:
                break
            n = int.from_bytes(buf[pos + 1:pos + 5], "big")
            if len(buf) < pos + 1 + n:
                break
            c[chr(buf[pos])] += 1
            pos += 1 + n
    return c, len(buf) - pos


MQTT_TYPES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC",
              6: "PUBREL", 7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK",
              10: "UNSUBSCRIBE", 11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP",
              14: "DISCONNECT", 15: "AUTH"}


def frame_mqtt(buf, direction, ctx):
    c = collections.Counter()
    pos = 0
    while pos < len(buf):
        p = pos + 1
        n = 0
        shift = 0
        while True:
            if p >= len(buf):
                return c, len(buf) - pos
            b = buf[p]
            p += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        if len(buf) < p + n:
            break
        t = buf[pos] >> 4
        kind = MQTT_TYPES.get(t, str(t))
        if t == 3:
            kind += f" qos{(buf[pos] >> 1) & 3}"
        c[kind] += 1
        pos = p + n
    return c, len(buf) - pos


def frame_dns(buf, direction, ctx):
    c = collections.Counter()
    pos = 0
    while len(buf) >= pos + 2:
        n = int.from_bytes(buf[pos:pos + 2], "big")
        if len(buf) < pos + 2 + n:
            break
        c["query" if direction == "client_to_server" else "response"] += 1
        pos += 2 + n
    return c, len(buf) - pos


H2_TYPES = {0: "DATA", 1: "HEADERS", 2: "PRIORITY", 3: "RST_STREAM", 4: "SETTINGS",
            5: "PUSH_PROMISE", 6: "PING", 7: "GOAWAY", 8: "WINDOW_UPDATE",
            9: "CONTINUATION"}
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame_http2(buf, direction, ctx):
    c = collections.Counter()
    pos = 0
    if direction == "client_to_server" and buf.startswith(H2_PREFACE):
        c["preface"] += 1
        pos = len(H2_PREFACE)
    while len(buf) >= pos + 9:
        n = int.from_bytes(buf[pos:pos + 3], "big")
        if len(buf) < pos + 9 + n:
            break
        c[H2_TYPES.get(buf[pos + 3], str(buf[pos + 3]))] += 1
        pos += 9 + n
    return c, len(buf) - pos


def _http_head(buf, pos):
    e = buf.find(b"\r\n\r\n", pos)
    if e < 0:
        raise Need()
    head = buf[pos:e].decode("latin-1").split("\r\n")
    hdrs = {}
    for h in head[1:]:
        k, _, v = h.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return head[0], hdrs, e + 4


def _http_body(buf, pos, hdrs, until_close):
    if "chunked" in hdrs.get("transfer-encoding", "").lower():
        while True:
            ln, pos = _line(buf, pos)
            n = int(ln.split(b";")[0], 16)
            if n == 0:
                while True:  # trailers
                    ln, pos = _line(buf, pos)
                    if ln == b"":
                        return pos, "chunked"
            if len(buf) < pos + n + 2:
                raise Need()
            pos += n + 2
    if "content-length" in hdrs:
        n = int(hdrs["content-length"])
        if len(buf) < pos + n:
            raise Need()
        return pos + n, "content-length"
    if until_close:
        return len(buf), "until-close"
    return pos, "none"


def frame_http(buf, direction, ctx):
    c = collections.Counter()
    pos = 0
    if direction == "client_to_server":
        methods = ctx.setdefault("http_methods", [])
        while pos < len(buf):
            try:
                start, hdrs, p = _http_head(buf, pos)
                p, how = _http_body(buf, p, hdrs, False)
            except Need:
                break
            m = start.split(" ")[0]
            methods.append(m)
            c["request " + m] += 1
            pos = p
    else:
        methods = list(ctx.get("http_methods", []))
        while pos < len(buf):
            try:
                start, hdrs, p = _http_head(buf, pos)
                code = int(start.split(" ")[1])
                if code < 200:
                    c[f"response {code}"] += 1
                    pos = p
                    continue
                m = methods.pop(0) if methods else "?"
                if m == "HEAD" or code in (204, 304):
                    how = "no-body"
                else:
                    p, how = _http_body(buf, p, hdrs, True)
            except Need:
                break
            c[f"response {code}"] += 1
            c[f"body:{how}"] += 0  # keep the key visible, not counted
            pos = p
        for k in [k for k, v in c.items() if v == 0]:
            del c[k]
    return c, len(buf) - pos


MC_STORAGE = {b"set", b"add", b"replace", b"append", b"prepend", b"cas"}


def frame_memcache(buf, direction, ctx):
    c = collections.Counter()
    pos = 0
    if direction == "client_to_server":
        while pos < len(buf):
            try:
                ln, p = _line(buf, pos)
                words = ln.split()
                cmd = words[0] if words else b""
                if cmd in MC_STORAGE:
                    n = int(words[4])
                    if len(buf) < p + n + 2:
                        raise Need()
                    p += n + 2
            except Need:
                break
            c[cmd.decode("latin-1")] += 1
            pos = p
    else:
        while pos < len(buf):
            try:
                ln, p = _line(buf, pos)
                w = ln.split(b" ")[0]
                if w in (b"VALUE", b"STAT", b"ITEM"):
                    kind = {b"VALUE": "get-reply", b"STAT": "stats-reply",
                            b"ITEM": "cachedump-reply"}[w]
                    while True:
                        if w == b"VALUE":
                            n = int(ln.split(b" ")[3])
                            if len(buf) < p + n + 2:
                                raise Need()
                            p += n + 2
                        ln, p = _line(buf, p)
                        w = ln.split(b" ")[0]
                        if w == b"END":
                            break
                elif w == b"END":
                    kind = "get-reply(miss)"
                else:
                    kind = w.decode("latin-1") if not w.isdigit() else "number"
            except Need:
                break
            c[kind] += 1
            pos = p
    return c, len(buf) - pos


FRAMERS = {"resp": frame_resp, "pgsql": frame_pgsql, "mqtt": frame_mqtt,
           "dns": frame_dns, "http2": frame_http2, "http": frame_http,
           "memcache": frame_memcache}


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--port", type=int, required=True, help="server TCP port")
    ap.add_argument("--proto", required=True, choices=sorted(PROTOS))
    ap.add_argument("--decode-as", action="append", default=[])
    ap.add_argument("--server-pkgs", default="")
    ap.add_argument("--traffic", default="")
    ap.add_argument("--note", action="append", default=[])
    a = ap.parse_args()

    spec = PROTOS[a.proto]
    pcap = a.pcap
    rel = os.path.basename(pcap)
    with open(pcap, "rb") as f:
        data = f.read()

    version = run([TSHARK, "-v"]).split("\n")[0].strip()
    ids, streams_cmd, tcp_frames = tcp_streams(pcap)
    fol = follow_streams(pcap, ids)
    commands = {
        "tcp_streams": shell_join(streams_cmd[:3] + [rel] + streams_cmd[4:]) + " | sort -un | wc -l",
        "follow": f"tshark -n -q -r {rel} -z follow,tcp,raw,N   (one -z per stream; node lines starting with a TAB are node 1)",
        "fields": [],
    }

    field_data = {}
    for fld in spec["fields"]:
        cnt, cmd = field_counts(pcap, a.decode_as, spec["filter"], fld)
        field_data[fld] = cnt
        commands["fields"].append(shell_join(cmd[:3] + [rel] + cmd[4:]))
    pdml = None
    if a.proto == "resp":
        pdml, cmd = pdml_resp_top_level(pcap, a.decode_as)
        commands["pdml_top_level"] = shell_join(cmd[:3] + [rel] + cmd[4:]) + \
            "   (count direct children of each <proto name=\"resp\">)"

    framer = FRAMERS[a.proto]
    out_streams = []
    totals = collections.defaultdict(lambda: collections.Counter())
    by_value = collections.defaultdict(lambda: collections.defaultdict(collections.Counter))
    mismatches = []
    for s in ids:
        st = fol.get(s, {"nodes": [None, None], "chunks": []})
        nodes = st["nodes"]
        srv_node = None
        for i, nd in enumerate(nodes):
            if nd and nd.rsplit(":", 1)[-1] == str(a.port):
                srv_node = i
        if srv_node is None:
            srv_node = 1
        cli_node = 1 - srv_node
        cli = nodes[cli_node] or "?"
        cli_port = int(cli.rsplit(":", 1)[-1]) if cli != "?" else None
        bufs = {"client_to_server": b"".join(d for n, d in st["chunks"] if n == cli_node),
                "server_to_client": b"".join(d for n, d in st["chunks"] if n == srv_node)}
        entry = {
            "stream": s,
            "client": cli,
            "server": nodes[srv_node],
            "bytes": {k: len(v) for k, v in bufs.items()},
            "segments_with_data": {
                "client_to_server": sum(1 for n, _ in st["chunks"] if n == cli_node),
                "server_to_client": sum(1 for n, _ in st["chunks"] if n == srv_node),
            },
            "tshark": {},
            "derived": {},
        }
        for fld in spec["fields"]:
            entry["tshark"][fld] = {}
            for dname, sport in (("client_to_server", cli_port), ("server_to_client", a.port)):
                cnt = field_data[fld].get((s, sport), collections.Counter())
                entry["tshark"][fld][dname] = {"count": sum(cnt.values()),
                                               "by_value": dict(sorted(cnt.items()))}
                totals["tshark:" + fld][dname] += sum(cnt.values())
                by_value["tshark:" + fld][dname].update(cnt)
        if pdml is not None:
            entry["tshark"]["top_level"] = {}
            for dname, sport in (("client_to_server", cli_port), ("server_to_client", a.port)):
                cnt = pdml.get((s, sport), collections.Counter())
                entry["tshark"]["top_level"][dname] = {"count": sum(cnt.values()),
                                                       "by_value": dict(sorted(cnt.items()))}
                totals["tshark:top_level"][dname] += sum(cnt.values())
                by_value["tshark:top_level"][dname].update(cnt)
        ctx = {}
        for dname in ("client_to_server", "server_to_client"):
            cnt, partial = framer(bufs[dname], dname, ctx)
            entry["derived"][dname] = {"count": sum(cnt.values()),
                                       "by_kind": dict(sorted(cnt.items())),
                                       "trailing_partial_bytes": partial}
            totals["derived"][dname] += sum(cnt.values())
            by_value["derived"][dname].update(cnt)
            # comparison
            if a.proto == "resp":
                t = entry["tshark"]["top_level"][dname]["count"]
                label = "tshark top_level"
            else:
                t = sum(entry["tshark"][f][dname]["count"] for f in spec["compare"])
                label = "tshark " + "+".join(spec["compare"])
            if t != sum(cnt.values()):
                mismatches.append({"stream": s, "direction": dname,
                                   label: t, "derived": sum(cnt.values())})
        entry["tshark_differs_from_derived"] = any(
            m["stream"] == s for m in mismatches)
        out_streams.append(entry)

    res = {
        "capture": rel,
        "pcap_bytes": len(data),
        "pcap_sha256": hashlib.sha256(data).hexdigest(),
        "protocol": a.proto,
        "server_port": a.port,
        "decode_as": a.decode_as,
        "display_filter": spec["filter"],
        "fields": spec["fields"],
        "tshark_version": version,
        "packages": a.server_pkgs.split(),
        "traffic": a.traffic,
        "commands": commands,
        "packets": tcp_frames,
        "tcp_streams": len(ids),
        "totals": {
            "bytes": {
                "client_to_server": sum(e["bytes"]["client_to_server"] for e in out_streams),
                "server_to_client": sum(e["bytes"]["server_to_client"] for e in out_streams),
            },
            **{k: dict(v) for k, v in totals.items()},
        },
        "totals_by_value": {k: {d: dict(sorted(c.items())) for d, c in v.items()}
                            for k, v in by_value.items()},
        "tshark_vs_derived_mismatches": mismatches,
        "notes": spec["notes"] + a.note,
        "streams": out_streams,
    }
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1, sort_keys=False)
        f.write("\n")
    t = res["totals"]
    print(f"{a.name}: {len(ids)} streams, bytes {t['bytes']}, "
          + ", ".join(f"{k} {dict(v)}" for k, v in t.items() if k != "bytes")
          + f", {len(mismatches)} tshark/derived mismatches", file=sys.stderr)


if __name__ == "__main__":
    main()
