#!/usr/bin/env python3
"""Record what tshark decrypts in a TLS capture, given its key log.

Writes NAME.oracle.json:
  * per TCP stream: node0/node1 (tshark's follow nodes: node 0 as tshark
    names it, which for TLS is the sender of the first decrypted record,
    node 1 the stream's other endpoint), and per node the decrypted application data as
    `tshark -o tls.keylog_file:K -q -z follow,tls,raw,N` gives it (length
    and SHA-256; lines starting with a TAB belong to node 1);
  * per stream and direction the TLS records tshark sees without the key
    (`tls.record.length` occurrences), the record-level view;
  * with --count PROTO:FIELD, the occurrences of FIELD in frames matching
    PROTO once decrypted (`-Y PROTO -T fields -e FIELD -E occurrence=a`),
    per stream and direction: tshark's message counts.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
from collections import defaultdict


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, check=False)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.decode()[-500:]}")
    return r.stdout.decode()


def endpoint(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def streams(pcap):
    """{stream: (endpoint of its first packet's source, of its destination)}"""
    out = run(["tshark", "-n", "-r", pcap, "-T", "fields", "-e", "tcp.stream",
               "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport",
               "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport"])
    found = {}
    for line in out.splitlines():
        p = line.split("\t")
        if len(p) == 7 and p[0] and int(p[0]) not in found:
            found[int(p[0])] = (endpoint(p[1] or p[2], p[3]), endpoint(p[4] or p[5], p[6]))
    return found


def follow(pcap, keylog, n):
    out = run(["tshark", "-n", "-r", pcap, "-o", f"tls.keylog_file:{keylog}", "-q",
               "-z", f"follow,tls,raw,{n}"])
    nodes, data = {}, [b"", b""]
    body = False
    for line in out.splitlines():
        if line.startswith("Node 0: ") or line.startswith("Node 1: "):
            nodes[int(line[5])] = line[8:].strip()
            body = line.startswith("Node 1: ")
            continue
        if not body or line.startswith("====="):
            continue
        if line.startswith("\t"):
            data[1] += bytes.fromhex(line.strip())
        elif line.strip():
            data[0] += bytes.fromhex(line.strip())
    return nodes, data


def per_direction(pcap, extra, field, flt):
    """{(stream, src "ip:port"): occurrences of field}"""
    cmd = ["tshark", "-n", "-r", pcap] + extra + ["-Y", flt, "-T", "fields",
           "-e", "tcp.stream", "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport",
           "-e", field, "-E", "occurrence=a", "-E", "aggregator=|"]
    counts = defaultdict(int)
    for line in run(cmd).splitlines():
        parts = line.split("\t")
        if len(parts) < 5 or not parts[0]:
            continue
        n = len([x for x in parts[4].split("|") if x])
        counts[(int(parts[0]), endpoint(parts[1] or parts[2], parts[3]))] += n
    return counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--keylog", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--decode-as", action="append", default=[],
                    help="tshark -d, e.g. tls.port==24470,kafka")
    ap.add_argument("--count", action="append", default=[],
                    help="PROTO:FIELD, e.g. http:http.request.method")
    a = ap.parse_args()
    rel = os.path.basename(a.pcap)
    key = f"tls.keylog_file:{a.keylog}"
    records = per_direction(a.pcap, [], "tls.record.length", "tls")
    decode = [x for d in a.decode_as for x in ("-d", d)]
    counted = {c: per_direction(a.pcap, ["-o", key] + decode, c.split(":", 1)[1],
                                c.split(":", 1)[0])
               for c in a.count}
    result = {
        "tshark_version": run(["tshark", "--version"]).splitlines()[0],
        "commands": {
            "follow": f"tshark -n -r {rel} -o tls.keylog_file:KEYS -q -z follow,tls,raw,N",
            "records": f"tshark -n -r {rel} -Y tls -T fields -e tls.record.length (no key log)",
            "count": f"tshark -n -r {rel} -o tls.keylog_file:KEYS -Y PROTO -T fields -e FIELD -E occurrence=a",
        },
        "decode_as": a.decode_as,
        "streams": [],
    }
    for n, ends in sorted(streams(a.pcap).items()):
        nodes, data = follow(a.pcap, a.keylog, n)
        # tshark 4.0 names node 0 only (node 1 reads ":0"); node 1 is the
        # stream's other endpoint.
        node0 = nodes.get(0) if nodes.get(0) in ends else ends[0]
        nodes = {0: node0, 1: ends[1] if node0 == ends[0] else ends[0]}
        entry = {"stream": n, "node0": nodes[0], "node1": nodes[1]}
        for i in (0, 1):
            node = nodes.get(i)
            d = {"len": len(data[i]), "sha256": hashlib.sha256(data[i]).hexdigest(),
                 "tls_records": records.get((n, node), 0)}
            for c, counts in counted.items():
                d[c] = counts.get((n, node), 0)
            entry[f"dir{i}"] = d
        result["streams"].append(entry)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(f"{a.out}: {len(result['streams'])} streams", file=sys.stderr)


if __name__ == "__main__":
    main()
