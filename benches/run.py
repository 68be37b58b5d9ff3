#!/usr/bin/env python3
"""The benchmark table: every tool on every capture, interleaved in rounds.

Called by benches/run.sh once the captures exist. For each capture, each
round runs every tool once, in turn, so that a slower or busier moment of the
machine falls on all of them alike; the table gives the median time of the
rounds and the largest peak RSS (from /usr/bin/time). Every other round
runs the tools in the reverse order, so that no tool always follows the
same one, and each `--jobs 2` run comes right before or after the one-job
run it is compared with.

`jsonl` and `write` (below) run in rounds of their own, after the others'
rounds on the same capture. Each writes up to 1.7 GB and the rounds sync
it to disk, and the runs just after that are slowed: on the AMD machine
of the README, after a jsonl run on redis and its copy, ten runs each of
`analyze --format json` and of libpcap, alternating, took medians of
0.104-0.145 s and 0.123-0.138 s, where they take 0.08-0.09 s and 0.09-0.10 s
otherwise (likely the fresh pages each run's memory takes: this virtual
machine's balloon device reports free pages to the host, and the runs
after gigabytes were freed were the slow ones; a page of new memory
first touched costs 1.8-2.0 µs here, README). In one order with the others,
the runs next to them were always the same tools' (the `--jobs 2` and
json runs), and libpcap's and cat's never.

Baselines measured in the same run:
  cat      the copy from the page cache, the physical floor of any reader;
  libpcap  `tcpdump -r FILE -w /dev/null`, libpcap's own read speed.
`jsonl` writes every flagged message (and every stream) to a file in the
page cache; its baseline, `write`, is `cp` of that same output (the cost of
writing those bytes).

Goals (exit status 1 when one is missed, with the reason):
  analyze (table and json)  >= MIN_RATIO x libpcap   (default 1.0)
  analyze --jobs 2          no slower than the single job (same format),
                            beyond JOBS_NOISE (8%: the medians of one job
                            run twice as two tools differed by up to 5%,
                            and of --jobs 2 on 2 cores, the same work, by
                            5.0-6.0% in three runs) or JOBS_NOISE_S
                            (1 ms, for the shortest runs), compared round
                            by round: the median of each round's ratio of
                            the two adjacent runs, so that a slow period
                            of the machine that spans a round cancels
                            (medians of whole runs differed by up to 43%
                            for the same work on a day of such periods);
                            and the ratio of the two runs' medians must
                            exceed it too, since the round-by-round ratios
                            swing as well (on 2 cores, the same work: a
                            median of ratios of x1.131 where the medians
                            were 0.065 s and 0.064 s). A slower --jobs 2
                            shows in both.
On a machine of 2 cores `--jobs 2` runs one thread of analysis, which
leaves a core to read ahead; `-j2 uncap` (FRAMESCOPE_JOBS_UNCAPPED=1) runs
two, for the threads' own speed-up, with no goal.
  jsonl                     <= 1.5 x (writing its output + the table run's
                               analysis): the two jobs it does, one after
                               the other
  peak RSS                  <= 32 MiB for every analyze run
`detected` is the table without `--frame`: every stream's framing
detected from its first 64 KiB each way, the default path, against which
no speed goal is set (detection reads each sample with every candidate
framing, more work than framing the stream once); its peak RSS has the
goal of every analyze run.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

FS = os.environ["FS"]
ROUNDS = int(os.environ.get("ROUNDS", "3"))
MIN_RATIO = float(os.environ.get("MIN_RATIO", "1.0"))
MAX_RSS_MIB = float(os.environ.get("MAX_RSS_MIB", "32"))
JOBS_NOISE = float(os.environ.get("JOBS_NOISE", "0.08"))
JOBS_NOISE_S = float(os.environ.get("JOBS_NOISE_S", "0.001"))
# Tools to run (cat and libpcap always run): names apart by spaces, or by
# commas when a name has a space ("table,-j2 uncap").
_tools = os.environ.get("TOOLS", "")
TOOLS = [t.strip() for t in _tools.split(",")] if "," in _tools else _tools.split()


def run(cmd, stdout=subprocess.DEVNULL):
    """Seconds, peak RSS (KiB) and standard error of one run, or None when
    it failed."""
    with tempfile.NamedTemporaryFile("r") as t:
        start = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", t.name] + cmd,
                           stdout=stdout, stderr=subprocess.PIPE)
        secs = time.perf_counter() - start
        if p.returncode not in (0, 1):  # analyze exits 1 when it flags
            sys.stderr.write(f"failed ({p.returncode}): {' '.join(cmd)}\n"
                             f"{p.stderr.decode(errors='replace')[-400:]}\n")
            return None
        return secs, int(t.read().split()[-1]), p.stderr.decode(errors="replace")


def warm(path):
    """Reads `path` whole, so that the page cache holds it."""
    with open(path, "rb") as f:
        while f.read(1 << 20):
            pass


def tools_for(cap, out_dir):
    f, frame = cap["file"], cap["frame"]
    jsonl_out = os.path.join(out_dir, cap["name"] + ".jsonl")
    t = {
        "cat": ["cat", f],
        "libpcap": ["tcpdump", "-r", f, "-w", "/dev/null"],
        "table": [FS, "analyze", f, "--frame", frame],
        "json": [FS, "analyze", f, "--frame", frame, "--format", "json"],
        "detected": [FS, "analyze", f],
        "table -j2": [FS, "analyze", f, "--frame", frame, "--jobs", "2"],
        "json -j2": [FS, "analyze", f, "--frame", frame, "--format", "json", "--jobs", "2"],
        "-j2 uncap": ["env", "FRAMESCOPE_JOBS_UNCAPPED=1", "FRAMESCOPE_THREAD_TIMES=1", FS,
                      "analyze", f, "--frame", frame, "--jobs", "2"],
        "jsonl": ["sh", "-c", f'exec "$0" analyze "$1" --frame "$2" --format jsonl > "$3"',
                  FS, f, frame, jsonl_out],
        "write": ["sh", "-c", 'exec cp "$0" "$1"', jsonl_out, jsonl_out + ".copy"],
    }
    if cap.get("tshark"):
        t["tshark"] = ["tshark", "-n", "-r", f, "-d", f"tcp.port=={cap['port']},{cap['tshark']}",
                       "-Y", cap["tshark"], "-T", "fields", "-e", "frame.number"]
    if cap.get("tcpflow"):
        t["tcpflow"] = ["tcpflow", "-C", "-B", "-o", os.path.join(out_dir, "tcpflow"), "-r", f]
    if TOOLS:
        t = {k: v for k, v in t.items() if k in TOOLS or k in ("cat", "libpcap")}
    return t


THREADS = re.compile(r"main ([0-9.]+) ms \(1 share of the flows\), "
                     r"worker-1 ([0-9.]+) ms \(([0-9]+) shares\)")


def thread_split(runs):
    """What more cores would give, by Amdahl's law, from the CPU time of the
    two threads of `-j2 uncap` (medians over the rounds); None when it did
    not run.

    The reader follows one share of the flows and the worker `k` shares
    (analyze says how many), so the worker's time W is k shares of the
    analysis: the whole analysis A = W (k + 1) / k, and the rest of the
    reader's time R, P = R - W / k, is its own part (reading, dissecting,
    numbering, handing out), which no thread takes from it. With one core
    left to read ahead, n cores run t = n - 1 threads that share out
    S = 1 + k (t - 1) shares; the slower of the reader (P + A / S) and a
    worker (k A / S) sets the time, against P + A for one thread."""
    if not runs:
        return None
    found = [THREADS.search(r[2]) for r in runs]
    found = [m for m in found if m]
    if not found:
        # analyze's line changed, or the variable was not honoured: said,
        # not skipped in silence.
        return "threads (-j2 uncap): no CPU times in its stderr (FRAMESCOPE_THREAD_TIMES)"

    r = statistics.median(float(m.group(1)) for m in found)
    w = statistics.median(float(m.group(2)) for m in found)
    k = int(found[0].group(3))
    a = w * (k + 1) / k
    p = max(r - w / k, 0.0)
    one = p + a

    def cores(n):
        shares = 1 + k * (n - 2)
        t = max(p + a / shares, k * a / shares)
        return f"{n} cores {t:.0f} ms ({one / t:.1f}x)"

    return (f"threads (-j2 uncap, CPU): reader {r:.1f} ms, worker {w:.1f} ms; analysis "
            f"{a:.1f} ms, reader's own part {p:.1f} ms; by Amdahl's law, a core left to read "
            f"ahead, against one thread's {one:.0f} ms: {cores(4)}, {cores(8)}, {cores(16)}")


def paired_ratio(by_round, cap, single, jobs):
    """`jobs`'s time over `single`'s in each round both ran: the median
    ratio, the median extra seconds, and the rounds; None without a pair."""
    a, b = by_round.get((cap, single), {}), by_round.get((cap, jobs), {})
    rounds = sorted(set(a) & set(b))
    if not rounds:
        return None
    return (statistics.median(b[r] / a[r] for r in rounds),
            statistics.median(b[r] - a[r] for r in rounds), len(rounds))


def main():
    caps = json.loads(sys.argv[1])
    out_dir = sys.argv[2]
    os.makedirs(os.path.join(out_dir, "tcpflow"), exist_ok=True)
    results = {}
    by_round = {}
    for cap in caps:
        tools = tools_for(cap, out_dir)
        # Each --jobs 2 run next to its one-job run; the jsonl output must
        # exist before its copy is timed (the first round runs forward).
        # jsonl and write in rounds of their own, after the others'
        # (module documentation).
        first = ["cat", "libpcap", "table", "table -j2", "json", "json -j2", "-j2 uncap",
                 "detected"]
        writers = ["jsonl", "write"]
        order = [k for k in first if k in tools] + [
            k for k in tools if k not in first and k not in writers]
        phases = [order, [k for k in writers if k in tools]]
        rounds = [(phase, r) for phase in phases if phase for r in range(ROUNDS)]
        for order, r in rounds:
            for name in (order if r % 2 == 0 else order[::-1]):
                if name in ("tshark", "tcpflow") and r > 0:
                    continue  # slow: one round places them
                # The page cache is kept warm: the machine may reclaim a
                # capture's pages between runs (seen here: `cat` slower
                # than libpcap on redis, its pages read from disk again),
                # so each run starts with the whole file read, untimed.
                if name != "write":
                    warm(cap["file"])
                got = run(tools[name])
                if got:
                    results.setdefault((cap["name"], name), []).append(got)
                    by_round.setdefault((cap["name"], name), {})[r] = got[0]
                if name in ("jsonl", "write"):
                    # Their output (up to 1.7 GB) goes to disk now, untimed,
                    # not during the runs after them: the kernel's writeback
                    # takes a core, which a --jobs 2 run would be short of.
                    os.sync()
        for suffix in ("", ".copy"):
            try:
                os.remove(os.path.join(out_dir, cap["name"] + ".jsonl" + suffix))
            except FileNotFoundError:
                pass

    failures = []
    lines = []
    nproc = os.cpu_count()
    mem = int(open("/proc/meminfo").read().split()[1]) / 1048576
    lines.append(f"date: {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}  machine: {nproc} cores, "
                 f"{mem:.0f} GiB, {os.uname().release}, {ROUNDS} rounds")
    lines.append(f"{'capture':<11} {'tool':<10} {'MB/s':>7} {'x libpcap':>9} {'x cat':>6} "
                 f"{'seconds':>8} {'peak MiB':>8}")
    for cap in caps:
        size = os.path.getsize(cap["file"])
        med = {}
        pairs = []
        for name in tools_for(cap, out_dir):
            runs = results.get((cap["name"], name))
            if not runs:
                continue
            secs = statistics.median(r[0] for r in runs)
            rss = max(r[1] for r in runs) / 1024
            med[name] = (secs, rss)
        base = med.get("libpcap", (None,))[0]
        floor = med.get("cat", (None,))[0]
        for name, (secs, rss) in med.items():
            mbs = size / 1e6 / max(secs, 1e-6)
            ratio = f"{base / secs:.2f}" if base else "-"
            to_cat = f"{floor / secs:.2f}" if floor else "-"
            if name in ("write",):
                mbs_text, ratio, to_cat = "", "", ""
            else:
                mbs_text = f"{mbs:.0f}"
            lines.append(f"{cap['name']:<11} {name:<10} {mbs_text:>7} {ratio:>9} {to_cat:>6} "
                         f"{secs:>8.3f} {rss:>8.1f}")
            fs_run = name in ("table", "json", "table -j2", "json -j2", "-j2 uncap", "jsonl",
                              "detected")
            if fs_run and rss > MAX_RSS_MIB:
                failures.append(f"{cap['name']} {name}: peak RSS {rss:.1f} MiB > {MAX_RSS_MIB:g} MiB")
            if name in ("table", "json") and base and base / secs < MIN_RATIO:
                failures.append(f"{cap['name']} {name}: {base / secs:.2f} x libpcap < {MIN_RATIO:g}")
            if name.endswith("-j2"):
                paired = paired_ratio(by_round, cap["name"], name.split()[0], name)
                if paired:
                    ratio, extra, n = paired
                    pairs.append(f"{name.split()[0]} x{ratio:.3f}")
                    of_medians = secs / med[name.split()[0]][0]
                    if (ratio > 1 + JOBS_NOISE and of_medians > 1 + JOBS_NOISE
                            and extra > JOBS_NOISE_S):
                        failures.append(
                            f"{cap['name']} {name}: slower than one job by more than "
                            f"{JOBS_NOISE:.0%} and {JOBS_NOISE_S * 1000:g} ms (x{ratio:.3f}, "
                            f"{extra * 1000:.1f} ms, medians of {n} rounds; medians of the "
                            f"runs {secs:.3f} s against {med[name.split()[0]][0]:.3f} s)")
        if pairs:
            lines.append(f"{'':<11} --jobs 2 against one job, round by round (median of the "
                         f"ratios): {', '.join(pairs)}")
        if "jsonl" in med and "write" in med and "table" in med:
            # jsonl analyses the capture and writes its lines: its bound is
            # the two done one after the other, the analysis (the table
            # run) and the writing (`cp` of the same output). Where the
            # output is large (redis) the writing dominates the bound.
            write, table = med["write"][0], med["table"][0]
            bound = write + table
            ratio = med["jsonl"][0] / bound
            lines.append(f"{'':<11} jsonl takes {ratio:.2f} x its bound: writing its output "
                         f"({write:.3f} s) plus the analysis ({table:.3f} s)")
            if ratio > 1.5:
                failures.append(f"{cap['name']} jsonl: {ratio:.2f} x its bound > 1.5")
        split = thread_split(results.get((cap["name"], "-j2 uncap"), []))
        if split:
            lines.append(f"{'':<11} {split}")
        lines.append(f"  ({cap['name']}: {size / 1e6:.0f} MB, --frame {cap['frame']})")
    print("\n".join(lines))
    for f in failures:
        print(f"GOAL MISSED: {f}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
