#!/usr/bin/env python3
"""The linker's symbol ordering file for the release binary (build.rs, issue 14).

    scripts/symbol-order.py profile [BINARY]   # regenerate link/symbol-order.txt
    scripts/symbol-order.py check [BINARY] [--min 0.99]

`profile` runs BINARY (default target/release/ccpipe; build it first with
`cargo build --release -p ccpipe --bin ccpipe`) under callgrind: start-up and
load with the built-in default config, configs/datadog.yaml and the bench
configs (bench/ccpipe-file.yaml, bench/ccpipe-datadog.yaml with and without
gzip, against bench's sink), the load being bench's loadgen over HTTP/protobuf,
gRPC and HTTP/JSON plus every Claude Code capture (logs, metrics, traces) over
HTTP. Every function of the binary that ran is written: first those that ran
before the load (start-up and IDLE_SECONDS of idling: callgrind dumps its counts
then), those of every case first, then those of fewer cases, grouped by the cases
that ran them; then those only the load ran, of every case first; each group
hottest first. The linker places them together
at the start of `.text` in that order, so an idle process touches one dense run
of pages at the front, and the request path follows it.

`check` says how many of the file's names the binary defines (`nm`); it exits 1
below --min. Rust's symbol names carry hashes that move when code or
dependencies change, so the file goes stale: the unmatched names are skipped by
the linker (the build never fails) and the check tells when to regenerate. The
bar is high because the names that drop out are those of the code just changed,
often on the request path: at 96-97 % matched the datadog chain's peak had
1.5-2 MB more of the binary's pages (session 8).
"""
import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER_FILE = ROOT / "link/symbol-order.txt"
CAPTURES = ROOT / "tests/fixtures/claude-code/captures"
LOAD_SECONDS = "4s"
# Idling before the load, under callgrind: timers and the trim thread run.
IDLE_SECONDS = 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, seconds=120):
    """Until 127.0.0.1:port accepts (callgrind starts slowly) while proc lives."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.5)
    return False


def post_captures(http_port):
    """Each capture once over HTTP: logs, metrics and traces, protobuf and JSON."""
    for folder, suffix, ctype in [
        ("http-protobuf", ".bin", "application/x-protobuf"),
        ("http-json", ".json", "application/json"),
    ]:
        for body in sorted((CAPTURES / folder / "otlp").glob(f"*{suffix}")):
            if body.name.endswith((".headers.json", ".decoded.json")):
                continue
            kind = body.stem.rsplit("-", 1)[-1]  # 0001-http-metrics -> metrics
            req = urllib.request.Request(
                f"http://127.0.0.1:{http_port}/v1/{kind}", data=body.read_bytes(),
                headers={"Content-Type": ctype}, method="POST")
            try:
                urllib.request.urlopen(req, timeout=60).read()
            except urllib.error.HTTPError as e:
                if e.code != 404:  # 404: the config has no pipeline for that signal
                    print(f"symbol-order: {body.name}: {e}", file=sys.stderr)
            except OSError as e:
                print(f"symbol-order: {body.name}: {e}", file=sys.stderr)


def load(grpc_port, http_port):
    loadgen = ROOT / "target/release/loadgen"
    post_captures(http_port)
    for protocol, port in [("http-protobuf", http_port), ("grpc", grpc_port),
                           ("http-json", http_port)]:
        subprocess.run([str(loadgen), "--protocol", protocol, "--records", "100",
                        "--addr", f"127.0.0.1:{port}", "--connections", "4",
                        "--duration", LOAD_SECONDS, "--warmup", "0s", "--timeout", "60s"],
                       # Refusals (503) are expected under callgrind: only coverage counts.
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                       timeout=300)


def run_case(binary, out_dir, name, args, env_extra, ports):
    """One callgrind run: start-up, then load when ports are given."""
    with tempfile.TemporaryDirectory(prefix="ccpipe-order-") as tmp:
        env = dict(os.environ, HOME=tmp, CCPIPE_DATA_DIR=tmp, BENCH_OUT_DIR=tmp, **env_extra)
        out = out_dir / f"callgrind.{name}.out"
        proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out}",
             binary, *args], cwd=tmp, env=env, stdout=subprocess.DEVNULL,
            stderr=open(out_dir / f"{name}.log", "w"))
        try:
            grpc, http = ports
            if not wait_port(http, proc):
                raise RuntimeError(f"{name}: not listening on {http} (see {out_dir}/{name}.log)")
            time.sleep(IDLE_SECONDS)
            # Counts so far into their own file (out.1); the final one (out)
            # then holds only what ran after, under load.
            subprocess.run(["callgrind_control", "--dump=idle", str(proc.pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                           timeout=120)
            load(grpc, http)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=300)
        idle = out.with_name(out.name + ".1")
        if not idle.exists():
            raise RuntimeError(f"{name}: callgrind wrote no dump at idle ({idle})")
        return idle, out


def parse_callgrind(path, binary):
    """Self cost (instructions) per function of `binary` in one callgrind file."""
    names, objs = {}, {}
    cost = defaultdict(int)
    ob = fn = None
    skip_next = False
    target = os.path.realpath(binary)

    def name_of(table, value):
        # "(12) name" defines id 12; "(12)" refers to it; plain "name" has none.
        m = re.match(r"\((\d+)\)(?: (.*))?$", value)
        if not m:
            return value
        if m.group(2) is not None:
            table[m.group(1)] = m.group(2)
        return table.get(m.group(1), "")

    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("ob="):
                ob = name_of(objs, line[3:])
            elif line.startswith("fn="):
                fn = name_of(names, line[3:])
            elif line.startswith(("cfn=", "cfi=", "cfl=")):
                if line.startswith("cfn="):
                    name_of(names, line[4:])
            elif line.startswith("cob="):
                name_of(objs, line[4:])
            elif line.startswith("calls="):
                skip_next = True  # the next cost line is the call's inclusive cost
            elif line and (line[0].isdigit() or line[0] in "+-*"):
                if skip_next:
                    skip_next = False
                    continue
                parts = line.split()
                if len(parts) >= 2 and ob and os.path.realpath(ob) == target and fn:
                    cost[fn] += int(parts[1])
    return cost


def profile(binary):
    binary = os.path.realpath(binary)
    sink = ROOT / "target/release/sink"
    for tool in (ROOT / "target/release/loadgen", sink):
        if not tool.exists():
            sys.exit(f"symbol-order: {tool} is missing: cargo build --release -p ccpipe-bench")
    total = defaultdict(int)
    runs = defaultdict(int)  # in how many of the cases a function ran
    idle_cases = defaultdict(set)  # the cases in which it ran before the load
    with tempfile.TemporaryDirectory(prefix="ccpipe-order-out-") as tmp:
        out_dir = Path(tmp)
        sink_ports = out_dir / "sink.ports"
        sink_proc = subprocess.Popen([str(sink), "--grpc", "127.0.0.1:0", "--http", "127.0.0.1:0",
                                      "--ports-file", str(sink_ports)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                if sink_ports.exists() and sink_ports.read_text().strip():
                    break
                time.sleep(0.1)
            _, sink_http = sink_ports.read_text().split()
            g, h = free_port(), free_port()
            bench = {"BENCH_GRPC_ENDPOINT": f"127.0.0.1:{g}", "BENCH_HTTP_ENDPOINT": f"127.0.0.1:{h}",
                     "BENCH_SINK_HTTP_ENDPOINT": f"127.0.0.1:{sink_http}"}
            cases = [
                # The built-in default listens on 4317/4318 and datadog.yaml on 14317/14318.
                ("default", [], {}, (4317, 4318)),
                ("datadog", ["--config", str(ROOT / "configs/datadog.yaml")],
                 {"DD_AGENT_OTLP_PROTOCOL": "http/protobuf"}, (14317, 14318)),
                ("file", ["--config", str(ROOT / "bench/ccpipe-file.yaml")], bench, (g, h)),
                ("bench-datadog", ["--config", str(ROOT / "bench/ccpipe-datadog.yaml")],
                 dict(bench, BENCH_COMPRESSION="none"), (g, h)),
                ("bench-datadog-gzip", ["--config", str(ROOT / "bench/ccpipe-datadog.yaml")],
                 dict(bench, BENCH_COMPRESSION="gzip"), (g, h)),
            ]
            for name, args, env, ports in cases:
                print(f"symbol-order: {name} ...", file=sys.stderr)
                idle_out, load_out = run_case(binary, out_dir, name, args, env, ports)
                idle = parse_callgrind(idle_out, binary)
                cost = parse_callgrind(load_out, binary)
                print(f"symbol-order: {name}: {len(idle)} functions at start-up and idle, "
                      f"{len(cost)} under load", file=sys.stderr)
                for fn in {re.sub(r"'\d+$", "", fn) for fn in idle}:
                    idle_cases[fn].add(name)
                for fn in {re.sub(r"'\d+$", "", fn) for fn in (*idle, *cost)}:
                    runs[fn] += 1
                for part in (idle, cost):
                    for fn, c in part.items():
                        total[fn] += c
        finally:
            sink_proc.terminate()
            sink_proc.wait(timeout=30)
    # Callgrind names recursion levels fn'2, fn'3: one symbol.
    merged = defaultdict(int)
    for fn, c in total.items():
        merged[re.sub(r"'\d+$", "", fn)] += c
    defined = defined_symbols(binary)
    # What runs before any request first (an idle process touches only
    # that): what every config runs, then what fewer run, those of the same
    # configs together (a config's own start-up code in one run, not spread
    # among the others'). Then the request path, what every config runs
    # first. Each group hottest first: a process touches one dense run of
    # pages, not the union.
    order = sorted((fn for fn in merged if fn in defined),
                   key=lambda fn: (not idle_cases[fn], -len(idle_cases[fn]),
                                   sorted(idle_cases[fn]), -runs[fn], -merged[fn], fn))
    ORDER_FILE.parent.mkdir(exist_ok=True)
    ORDER_FILE.write_text("".join(f"{fn}\n" for fn in order))
    print(f"symbol-order: wrote {len(order)} names to {ORDER_FILE.relative_to(ROOT)} "
          f"({len(merged) - len(order)} names callgrind saw were not symbols of the binary)",
          file=sys.stderr)


def defined_symbols(binary):
    """Names of the functions the binary defines (local and global)."""
    out = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True,
                         check=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            names.add(parts[2])
    if not names:
        sys.exit(f"symbol-order: {binary} has no symbol table (stripped?)")
    return names


def check(binary, minimum):
    names = [n for n in ORDER_FILE.read_text().splitlines() if n]
    defined = defined_symbols(binary)
    found = sum(1 for n in names if n in defined)
    share = found / len(names) if names else 0.0
    print(f"symbol-order: {found} of {len(names)} names in {ORDER_FILE.relative_to(ROOT)} "
          f"are defined in {binary} ({share:.0%}; minimum {minimum:.0%})")
    if share < minimum:
        print("symbol-order: stale; regenerate it: scripts/symbol-order.py profile", file=sys.stderr)
        return 1
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("profile")
    pr.add_argument("binary", nargs="?", default=str(ROOT / "target/release/ccpipe"))
    ch = sub.add_parser("check")
    ch.add_argument("binary", nargs="?", default=str(ROOT / "target/release/ccpipe"))
    ch.add_argument("--min", type=float, default=0.99)
    a = p.parse_args()
    if a.cmd == "profile":
        profile(a.binary)
        return 0
    return check(a.binary, a.min)


if __name__ == "__main__":
    sys.exit(main())
