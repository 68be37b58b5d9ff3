#!/usr/bin/env python3
"""Computes tshark oracle entries for captures and merges them into
oracles-public.json, the way ORACLES-public.md describes (steps 1 to 4).

    python3 captures/real/oracles.py FILE.pcap... [--provenance manifest.json]

Each FILE is keyed `real/NAME` in oracles-public.json; an existing entry of
the same name is replaced. Needs tshark (scripts/deps.sh --test installs it).

For captures with tunnels, tshark numbers every UDP layer with `udp.stream`,
the outer one that carries the tunnel too; framescope follows the inner flow
only. Each UDP stream therefore records `tunnel: true` when tshark decoded a
tunnel protocol inside it, and the oracle test leaves those out before it
compares numbers. The first-seen rebuild (`seqmap`) counts offsets from the
ISN + 1 of the last SYN of a direction seen before its first payload byte
(several SYN-ACKs with different ISNs), or from the first sequence number
seen when the direction has no SYN.
"""

import hashlib
import json
import os
import re
import subprocess
import sys

TUNNEL_PROTOCOLS = {"vxlan", "geneve", "gtp", "gtpv2", "capwap", "capwap.data", "l2tp"}
ICMP_ERRORS = {"icmp", "icmpv6"}


def tshark(*args):
    out = subprocess.run(
        ["tshark", "-n", *args], capture_output=True, text=True, check=False
    )
    return out.stdout


def sha(b):
    return hashlib.sha256(b).hexdigest()


def fields(path, *names, extra=()):
    cmd = ["-r", path, *extra, "-T", "fields", "-E", "occurrence=a", "-E", "separator=/t"]
    for n in names:
        cmd += ["-e", n]
    rows = []
    for line in tshark(*cmd).splitlines():
        cols = line.split("\t")
        cols += [""] * (len(names) - len(cols))
        rows.append(dict(zip(names, cols)))
    return rows


def follow(path, stream):
    text = tshark("-r", path, "-q", "-z", f"follow,tcp,raw,{stream}")
    nodes, chunks, inside = {}, [], False
    for line in text.splitlines():
        m = re.match(r"^Node ([01]): (.*)$", line)
        if m:
            nodes[int(m.group(1))] = m.group(2)
            inside = m.group(1) == "1"
            continue
        if not inside:
            continue
        if line.startswith("====="):
            break
        d = 1 if line.startswith("\t") else 0
        chunks.append((d, bytes.fromhex(line.strip())))
    dirs = []
    for d in (0, 1):
        raw, clean, gaps = b"", b"", []
        for cd, b in chunks:
            if cd != d:
                continue
            raw += b
            m = re.fullmatch(rb"\[(\d+) bytes missing in capture file\]\x00", b)
            if m:
                gaps.append({"offset": len(clean), "missing": int(m.group(1))})
            else:
                clean += b
        dirs.append(
            {
                "raw_len": len(raw),
                "raw_sha256": sha(raw),
                "gaps": gaps,
                "clean_len": len(clean),
                "clean_sha256": sha(clean),
                "_clean": clean,
            }
        )
    return nodes, dirs


def last(value):
    return value.split(",")[-1] if value else ""


def seqmaps(path):
    """First-seen rebuild per (stream, sender endpoint)."""
    rows = fields(
        path,
        "frame.protocols",
        "tcp.stream",
        "ip.src",
        "ipv6.src",
        "tcp.srcport",
        "tcp.seq_raw",
        "tcp.flags",
        "tcp.payload",
        "tcp.reset_cause",
        extra=("-Y", "tcp"),
    )
    segs = {}
    for r in rows:
        protos = r["frame.protocols"].split(":")
        # A TCP header quoted in an ICMP error is not data.
        if ICMP_ERRORS & set(protos[: protos.index("tcp")]):
            continue
        stream = int(last(r["tcp.stream"]))
        ip4, ip6 = last(r["ip.src"]), last(r["ipv6.src"])
        # The innermost IP layer is the one that carries the TCP header.
        inner6 = protos[: protos.index("tcp")][::-1]
        v6 = next((p for p in inner6 if p in ("ip", "ipv6")), "ip") == "ipv6"
        src = f"[{ip6}]" if v6 else ip4
        src = f"{src}:{last(r['tcp.srcport'])}"
        flags = int(last(r["tcp.flags"]), 16)
        payload = bytes.fromhex(last(r["tcp.payload"]).replace(":", ""))
        if flags & 0x04 and not payload and r["tcp.reset_cause"]:
            payload = r["tcp.reset_cause"].encode()
        segs.setdefault((stream, src), []).append(
            (int(last(r["tcp.seq_raw"])), flags, payload)
        )
    maps = {}
    for key, list_ in segs.items():
        base = None
        for seq, flags, payload in list_:
            if flags & 0x02:
                base = (seq + 1) % 2**32
            if payload:
                break
        if base is None:
            base = list_[0][0]
        have, holes, span = {}, [], 0
        for seq, flags, payload in list_:
            start = (seq + (1 if flags & 0x02 else 0) - base) % 2**32
            if start >= 2**31:
                continue
            for i, b in enumerate(payload):
                have.setdefault(start + i, b)
            span = max(span, start + len(payload))
        out, i = bytearray(), 0
        while i < span:
            if i in have:
                out.append(have[i])
                i += 1
            else:
                j = i
                while j < span and j not in have:
                    j += 1
                holes.append({"offset": len(out), "missing": j - i})
                i = j
        maps[key] = {"len": len(out), "sha256": sha(bytes(out)), "holes": holes}
    return maps


def quoted_nodes(path, stream):
    r = fields(
        path, "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport",
        "frame.protocols", extra=("-Y", f"tcp.stream == {stream}"),
    )[0]
    protos = r["frame.protocols"].split(":")
    v6 = next(p for p in protos[: protos.index("tcp")][::-1] if p in ("ip", "ipv6")) == "ipv6"
    if v6:
        return (f"[{last(r['ipv6.src'])}]:{last(r['tcp.srcport'])}",
                f"[{last(r['ipv6.dst'])}]:{last(r['tcp.dstport'])}")
    return (f"{last(r['ip.src'])}:{last(r['tcp.srcport'])}",
            f"{last(r['ip.dst'])}:{last(r['tcp.dstport'])}")


def udp_streams(path):
    rows = fields(path, "frame.protocols", "udp.stream", "udp.length", extra=("-Y", "udp"))
    flows = {}
    for r in rows:
        protos = r["frame.protocols"].split(":")
        positions = [i for i, p in enumerate(protos) if p == "udp"]
        streams = r["udp.stream"].split(",")
        lengths = r["udp.length"].split(",")
        for n, (s, length) in enumerate(zip(streams, lengths)):
            f = flows.setdefault(int(s), {"datagrams": 0, "payload_bytes": 0, "tunnel": False})
            f["datagrams"] += 1
            f["payload_bytes"] += int(length) - 8
            at = positions[n] + 1 if n < len(positions) else None
            if at is not None and at < len(protos) and protos[at] in TUNNEL_PROTOCOLS:
                f["tunnel"] = True
    return [dict(stream=s, **f) for s, f in sorted(flows.items())]


def entry(path):
    packets = len(tshark("-r", path, "-T", "fields", "-e", "frame.number").splitlines())
    streams = sorted(
        {
            int(s)
            for line in tshark(
                "-r", path, "-T", "fields", "-E", "occurrence=a", "-e", "tcp.stream"
            ).split()
            for s in line.split(",")
            if s
        }
    )
    maps = seqmaps(path)
    tcp = []
    for s in streams:
        nodes, dirs = follow(path, s)
        o = {"stream": s, "node0": nodes.get(0), "node1": nodes.get(1)}
        if o["node0"] in (None, ":0"):
            # tshark's follow names no node for a stream made only of TCP
            # headers quoted in ICMP errors: take the quoted sender and
            # receiver instead.
            o["node0"], o["node1"] = quoted_nodes(path, s)
            o["quoted_in_icmp_only"] = True
        for d in (0, 1):
            m = maps.get((s, nodes.get(d)), {"len": 0, "sha256": sha(b""), "holes": []})
            clean = dirs[d].pop("_clean")
            m["equals_follow_clean"] = m["sha256"] == sha(clean)
            dirs[d]["seqmap"] = m
            o[f"dir{d}"] = dirs[d]
        tcp.append(o)
    return {
        "tshark_packets_read": packets,
        "tcp_streams": len(streams),
        "tcp": tcp,
        "udp": udp_streams(path),
    }


def main():
    args = sys.argv[1:]
    provenance = {}
    if "--provenance" in args:
        i = args.index("--provenance")
        manifest = json.load(open(args[i + 1]))
        provenance = {f["name"]: f for f in manifest["files"]}
        del args[i : i + 2]
    here = os.path.dirname(os.path.abspath(__file__))
    db_path = os.path.join(here, "oracles-public.json")
    db = json.load(open(db_path))
    for path in args:
        name = os.path.basename(path)
        e = entry(path)
        if name in provenance:
            e["provenance"] = provenance[name]
        db["files"][f"real/{name}"] = e
        print(f"{name}: {e['tshark_packets_read']} packets, {e['tcp_streams']} TCP streams",
              file=sys.stderr)
    with open(db_path, "w") as f:
        json.dump(db, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
