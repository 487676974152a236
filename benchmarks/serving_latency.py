"""``mmsr serve`` at its default settings: HTTP latency vs in-process ``predict``, then throughput.

    python -m benchmarks.serving_latency --requests 30 --steps 20 --lr-size 32

One tiny MMSR pipeline is registered in a temporary MLflow (SQLite) and served by the real
``mmsr serve`` command (a subprocess; defaults but the port and the tracking URI).

1. Latency: the same request (one LR PNG, same params and seed) is sent alternately over HTTP and
   to an in-process ``predict`` of the same checked copy, loaded with the same torch thread count
   the server's worker uses (``serve.threads``' default: cores / workers), so load on the machine
   hits both alike. p50 of each, the ratio and the HTTP overhead.
2. Throughput: ``mmsr serve`` with ``serve.workers`` 1 and 2 (default threads each), requests
   from 1, 4 and 16 concurrent clients; requests/s, p50 and p95 per setting, and each worker's
   resident memory next to the size of the weights.

Exit status 1 if the HTTP overhead is over ``--max-overhead``. Latency is dominated by the
denoising steps: choose ``--steps`` so one request costs what a real one would on this machine.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import psutil

from orchestration.registry.model_registry import register_pipeline
from orchestration.serving.checked_model import fetch_checked_model
from orchestration.serving.serve_config import ServeConfig
from pipelines.feature_rows import encode_png
from trainers.models.sr_pipeline import build_tiny_pipeline
from trainers.tracking.mlflow_runs import create_run, experiment_id, tracking_client
from trainers.tracking.tracking_config import TrackingConfig


@dataclass(frozen=True)
class LatencyReport:
    http_p50_s: float
    in_process_p50_s: float
    requests: int
    threads: int

    @property
    def ratio(self) -> float:
        return self.http_p50_s / self.in_process_p50_s


@dataclass(frozen=True)
class ThroughputRow:
    workers: int
    concurrency: int
    requests: int
    requests_per_s: float
    p50_s: float
    p95_s: float


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    port: int
    pid: int

    def worker_rss_mib(self) -> list[float]:
        """Resident memory of each process holding a model: uvicorn's workers (or uvicorn itself with 1 worker)."""
        tree = psutil.Process(self.pid).children(recursive=True)
        leaves = [p for p in tree if not p.children() and "resource_tracker" not in " ".join(p.cmdline())]
        return [p.memory_info().rss / 2**20 for p in leaves]


@contextmanager
def mmsr_serve(tracking: TrackingConfig, model_uri: str, workers: int) -> Iterator[Server]:
    """``mmsr serve`` (default settings but port, tracking URI and workers) until exit."""
    port = _free_port()
    overrides = [f"tracking.tracking_uri={tracking.tracking_uri}", f"serve.port={port}", f"serve.workers={workers}"]
    command = [sys.executable, "-m", "orchestration.cli", "serve", "--model", model_uri]
    command += [arg for override in overrides for arg in ("--set", override)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mmsr serve did not answer /ping (exit status {server.poll()})")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        yield Server(port, server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _http_call(port: int, body: bytes) -> Callable[[], None]:
    def call() -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=600) as response:
            json.loads(response.read())
    return call


def measure_latency(local_model: Path, port: int, image: str, params: dict, requests: int, warmup: int, threads: int) -> LatencyReport:
    """Alternate HTTP and in-process calls on the same input; p50 of each."""
    over_http = _http_call(port, json.dumps({"dataframe_records": [{"image": image}], "params": params}).encode())
    model = mlflow.pyfunc.load_model(str(local_model), model_config={"threads": threads})
    frame = pd.DataFrame({"image": [image]})

    def in_process() -> None:
        model.predict(frame, params=params)

    for _ in range(warmup):
        over_http()
        in_process()
    http, local = [], []
    for _ in range(requests):
        http.append(_timed(over_http))
        local.append(_timed(in_process))
    return LatencyReport(statistics.median(http), statistics.median(local), requests, threads)


def measure_throughput(port: int, body: bytes, workers: int, concurrency: int, requests: int) -> ThroughputRow:
    """``requests`` requests from ``concurrency`` client threads; wall-clock requests/s and latencies."""
    call = _http_call(port, body)
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: call(), range(concurrency)))  # warm every worker
        start = time.perf_counter()
        latencies = sorted(pool.map(lambda _: _timed(call), range(requests)))
        wall = time.perf_counter() - start
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    return ThroughputRow(workers, concurrency, requests, requests / wall, statistics.median(latencies), p95)


def run(args: argparse.Namespace) -> tuple[LatencyReport, list[ThroughputRow]]:
    with tempfile.TemporaryDirectory(prefix="mmsr-serving-bench-") as tmp:
        root = Path(tmp)
        tracking = TrackingConfig(tracking_uri=f"sqlite:///{root}/mlflow.db", artifact_location=str(root / "artifacts"))
        client = tracking_client(tracking)
        run_id = create_run(client, experiment_id(client, tracking), "serving-benchmark", {})
        version = register_pipeline(tracking, ServeConfig(), run_id, str(build_tiny_pipeline(root / "mmsr-tiny")), {})
        local = fetch_checked_model(version.model_uri, tracking, str(root / "model"))
        lr = np.random.default_rng(0).integers(0, 256, (args.lr_size, args.lr_size, 3), dtype=np.uint8)
        image = base64.b64encode(encode_png(lr)).decode()
        params = {"steps": args.steps, "seed": 0}
        body = json.dumps({"dataframe_records": [{"image": image}], "params": params}).encode()
        memory = {}
        with mmsr_serve(tracking, version.model_uri, workers=1) as server:
            threads = ServeConfig().worker_threads(os.cpu_count() or 1)
            latency = measure_latency(local, server.port, image, params, args.requests, args.warmup, threads)
            rows = [measure_throughput(server.port, body, 1, c, args.throughput_requests * c) for c in args.concurrency]
            memory[1] = server.worker_rss_mib()
        with mmsr_serve(tracking, version.model_uri, workers=2) as server:
            rows += [measure_throughput(server.port, body, 2, c, args.throughput_requests * c) for c in args.concurrency]
            memory[2] = server.worker_rss_mib()
        weights = sum(f.stat().st_size for f in local.rglob("*.safetensors")) / 2**20
    print(f"weights {weights:.1f} MiB; resident memory per worker after the runs: "
          + "; ".join(f"{w} worker(s): {', '.join(f'{m:.0f}' for m in mib)} MiB" for w, mib in memory.items()))
    return latency, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=30, help="latency: requests each way")
    parser.add_argument("--steps", type=int, default=20, help="denoising steps per request")
    parser.add_argument("--lr-size", type=int, default=32, help="LR side in pixels (SR is 4x)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--throughput-requests", type=int, default=2, help="throughput: requests per client")
    parser.add_argument("--max-overhead", type=float, default=0.10, help="fail above this HTTP overhead (0.10 = 10%%)")
    args = parser.parse_args()
    latency, rows = run(args)
    overhead = latency.ratio - 1.0
    print(
        f"{latency.requests} requests, {args.steps} steps, {args.lr_size}px LR -> {4 * args.lr_size}px SR, "
        f"mmsr serve defaults (1 worker x {latency.threads} torch thread(s)); in-process predict at {latency.threads}\n"
        f"HTTP (mmsr serve) p50           {latency.http_p50_s * 1000:8.1f} ms\n"
        f"in-process predict p50          {latency.in_process_p50_s * 1000:8.1f} ms\n"
        f"ratio {latency.ratio:.3f} (HTTP overhead {overhead * 100:+.1f} %, target < {args.max_overhead * 100:.0f} %)\n"
        f"throughput (requests/s, p50, p95; baseline: 1 worker, 1 client)"
    )
    baseline = rows[0].requests_per_s
    for row in rows:
        print(
            f"  workers {row.workers}  clients {row.concurrency:3d}  {row.requests:3d} requests  "
            f"{row.requests_per_s:6.2f} req/s ({row.requests_per_s / baseline:4.2f}x)  "
            f"p50 {row.p50_s * 1000:7.0f} ms  p95 {row.p95_s * 1000:7.0f} ms"
        )
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if overhead <= args.max_overhead else 1


if __name__ == "__main__":
    sys.exit(main())
