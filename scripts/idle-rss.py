#!/usr/bin/env python3
"""Idle RSS of a ccpipe binary, per mapping (issue 14; bench/README.md).

    scripts/idle-rss.py [BINARY ...]     # default: target/release/ccpipe
    LOAD=http-json scripts/idle-rss.py [BINARY ...]   # after bench's load instead
    ONLY=file scripts/idle-rss.py ...    # only the configs whose label has "file"

With LOAD (http-protobuf, grpc or http-json), bench's loadgen (target/release/
loadgen) sends 100-record requests over 32 connections for 4 s first, and the
mappings are read when it ends: the executable's pages then include the code
the load ran (anonymous memory may have shrunk back by then).

Starts each binary with the built-in default config, configs/datadog.yaml and
bench/ccpipe-file.yaml (in a temporary directory that is also its HOME, so
nothing is written to the checkout), waits SETTLE seconds (env, default 3),
and prints VmRSS and /proc/PID/smaps' Rss summed per mapped file (the binary,
libcrypto, libc, ...) and for anonymous memory. It runs `sync` first: pages of
a freshly written binary that are not yet written back show as Private_Dirty.
The default config listens on 127.0.0.1:4317/4318 and datadog.yaml on
14317/14318 (a busy port skips that row, said on stderr); the bench config on
free ports.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTLE = float(os.environ.get("SETTLE", "3"))

# (label, arguments, (gRPC, HTTP) ports: the config's own, or None for free ones)
CASES = [
    ("default", [], (4317, 4318)),
    ("datadog.yaml", ["--config", str(ROOT / "configs/datadog.yaml")], (14317, 14318)),
    ("bench/ccpipe-file.yaml", ["--config", str(ROOT / "bench/ccpipe-file.yaml")], None),
]


def smaps_by_mapping(pid, binary):
    """Rss in KiB per mapping name: 'binary', a library's file name, or 'anon'."""
    rss = defaultdict(int)
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split(None, 1)[0]
            if "-" in first and not first.endswith(":"):
                parts = line.split()
                path = parts[5] if len(parts) > 5 else ""
                if path and os.path.realpath(path) == os.path.realpath(binary):
                    name = "binary"
                elif path.startswith("/"):
                    name = os.path.basename(path)
                else:
                    name = "anon"  # heap, stacks, arenas, [vdso] and the like
            elif first == "Rss:":
                rss[name] += int(line.split()[1])
    return rss


def vm_rss(pid):
    """(VmRSS, VmHWM) in KiB: now, and the peak since start."""
    found = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(line.split()[1])
    return found.get("VmRSS", 0), found.get("VmHWM", 0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load(protocol, grpc, http):
    port = grpc if protocol == "grpc" else http
    subprocess.run([str(ROOT / "target/release/loadgen"), "--protocol", protocol,
                    "--records", "100", "--addr", f"127.0.0.1:{port}", "--connections", "32",
                    "--duration", "4s", "--warmup", "0s"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=120)


def measure(binary, args, ports):
    with tempfile.TemporaryDirectory(prefix="ccpipe-idle-") as tmp:
        grpc, http = ports or (free_port(), free_port())
        env = dict(os.environ, HOME=tmp, CCPIPE_DATA_DIR=tmp, BENCH_OUT_DIR=tmp,
                   BENCH_GRPC_ENDPOINT=f"127.0.0.1:{grpc}",
                   BENCH_HTTP_ENDPOINT=f"127.0.0.1:{http}")
        proc = subprocess.Popen([binary, *args], cwd=tmp, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            time.sleep(SETTLE)
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace").strip().splitlines()
                raise RuntimeError(f"exited {proc.returncode}: {err[-1] if err else ''}")
            if os.environ.get("LOAD"):
                load(os.environ["LOAD"], grpc, http)
            return vm_rss(proc.pid), smaps_by_mapping(proc.pid, binary)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def main():
    binaries = sys.argv[1:] or [str(ROOT / "target/release/ccpipe")]
    subprocess.run(["sync"], check=True)
    shown = ["binary", "libcrypto.so.3", "libssl.so.3", "libc.so.6", "libm.so.6", "anon"]
    print("| binary | config | VmRSS MB | VmHWM MB | " + " | ".join(shown) + " | other |")
    print("|---|---|--:|--:|" + "--:|" * (len(shown) + 1))
    for binary in binaries:
        for label, args, ports in CASES:
            if os.environ.get("ONLY", "") not in label:
                continue
            try:
                (total, peak), rss = measure(binary, args, ports)
            except RuntimeError as e:
                print(f"idle-rss: {binary} {label}: {e}", file=sys.stderr)
                continue
            other = sum(v for k, v in rss.items() if k not in shown)
            cells = [f"{rss.get(k, 0) / 1024:.2f}" for k in shown] + [f"{other / 1024:.2f}"]
            print(f"| {binary} | {label} | {total / 1024:.1f} | {peak / 1024:.1f} | "
                  + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
