#!/usr/bin/env python3
"""Cold start of two or more gateway builds, alternating: spawn -> first GET /healthz 200.

    python3 bench/start_compare.py OLD_BINARY NEW_BINARY        # N=20 rounds by default

Each run gets a fresh state dir and a free port (`gateway --port P`, no config file). The
builds run in turn (A B A B ...), so drift on a shared machine falls on both; medians and
minimums are printed. `cargo bench --bench gateway` measures one build the same way
(`cold_start_ms`); this script exists for before/after pairs in one run.
"""
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def once(binary):
    state = tempfile.mkdtemp()
    port = free_port()
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "--state-dir", state, "gateway", "--port", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            head = s.recv(100)
            s.close()
            if head.startswith(b"HTTP/1.1 200"):
                break
        except OSError:
            # As `cargo bench --bench gateway`: spinning would take a CPU from the start.
            time.sleep(0.0002)
        if time.perf_counter() - t0 > 5:
            p.kill()
            raise SystemExit(f"{binary}: no /healthz 200 within 5 s")
    ms = (time.perf_counter() - t0) * 1000
    p.send_signal(signal.SIGTERM)
    p.wait()
    return ms


def main():
    bins = sys.argv[1:]
    if not bins:
        raise SystemExit(__doc__)
    runs = {b: [] for b in bins}
    for _ in range(int(os.environ.get("N", "20"))):
        for b in bins:
            runs[b].append(once(b))
    for b in bins:
        print(f"{b}: median {statistics.median(runs[b]):.1f} ms, min {min(runs[b]):.1f} ms")


if __name__ == "__main__":
    main()
