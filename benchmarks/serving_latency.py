"""p50 latency of the HTTP endpoint (``mlflow models serve``) vs in-process ``predict``.

    python -m benchmarks.serving_latency --requests 30 --steps 20 --lr-size 32

One tiny MMSR pipeline is registered in a temporary MLflow (SQLite), fetched and checked the
way ``mmsr serve`` does, served by ``mlflow models serve`` on 127.0.0.1, and loaded in this
process from the same local copy. The same request (one LR PNG, same params and seed) is sent
alternately over HTTP and to the in-process ``predict`` (after warm-up calls), so load on the
machine hits both alike; both compute with the same number of torch threads (``--threads``).
Prints both p50s, the ratio, the HTTP overhead and the load average;
exit status 1 if the overhead is over ``--max-overhead``. Latency is dominated by the denoising
steps: choose ``--steps`` so one request costs what a real one would on this machine.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import torch

from orchestration.mlflow_runs import create_run, experiment_id, tracking_client
from orchestration.registry import register_pipeline
from orchestration.serve_config import ServeConfig
from orchestration.serving import fetch_checked_model, serve_command, serve_environment
from orchestration.tracking_config import TrackingConfig
from pipelines.feature_rows import encode_png
from trainers.models.sr_pipeline import build_tiny_pipeline


@dataclass(frozen=True)
class LatencyReport:
    http_p50_s: float
    in_process_p50_s: float
    requests: int

    @property
    def ratio(self) -> float:
        return self.http_p50_s / self.in_process_p50_s


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_ping(port: int, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"server did not answer /ping within {timeout_s} s")


def _timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure(local_model: Path, port: int, lr_png: bytes, steps: int, requests: int, warmup: int) -> LatencyReport:
    """Alternate HTTP and in-process calls on the same input; p50 of each."""
    image = base64.b64encode(lr_png).decode()
    params = {"steps": steps, "seed": 0}
    body = json.dumps({"dataframe_records": [{"image": image}], "params": params}).encode()
    http_request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": "application/json"}
    )
    model = mlflow.pyfunc.load_model(str(local_model))
    frame = pd.DataFrame({"image": [image]})

    def over_http() -> None:
        with urllib.request.urlopen(http_request, timeout=600) as response:
            json.loads(response.read())

    def in_process() -> None:
        model.predict(frame, params=params)

    for _ in range(warmup):
        over_http()
        in_process()
    http, local = [], []
    for _ in range(requests):
        http.append(_timed(over_http))
        local.append(_timed(in_process))
    return LatencyReport(statistics.median(http), statistics.median(local), requests)


def run(requests: int, steps: int, lr_size: int, warmup: int, threads: int) -> LatencyReport:
    """Register, serve and measure; both sides compute with ``threads`` intra-op threads."""
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="mmsr-serving-bench-") as tmp:
        root = Path(tmp)
        tracking = TrackingConfig(tracking_uri=f"sqlite:///{root}/mlflow.db", artifact_location=str(root / "artifacts"))
        client = tracking_client(tracking)
        run_id = create_run(client, experiment_id(client, tracking), "serving-benchmark", {})
        pipeline_dir = build_tiny_pipeline(root / "mmsr-tiny")
        version = register_pipeline(tracking, ServeConfig(), run_id, str(pipeline_dir), {})
        local = fetch_checked_model(version.model_uri, tracking, str(root / "model"))
        serve = ServeConfig(port=_free_port())
        thread_env = {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        env = serve_environment(tracking, serve, {**os.environ, **thread_env})
        server = subprocess.Popen(
            serve_command(str(local), serve), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            _wait_for_ping(serve.port, server, timeout_s=180)
            lr = np.random.default_rng(0).integers(0, 256, (lr_size, lr_size, 3), dtype=np.uint8)
            return measure(local, serve.port, encode_png(lr), steps, requests, warmup)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--steps", type=int, default=20, help="denoising steps per request")
    parser.add_argument("--lr-size", type=int, default=32, help="LR side in pixels (SR is 4x)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the server and of this process")
    parser.add_argument("--max-overhead", type=float, default=0.10, help="fail above this HTTP overhead (0.10 = 10%%)")
    args = parser.parse_args()
    report = run(args.requests, args.steps, args.lr_size, args.warmup, args.threads)
    overhead = report.ratio - 1.0
    print(
        f"{report.requests} requests, {args.steps} steps, {args.lr_size}px LR -> {4 * args.lr_size}px SR, "
        f"{args.threads} torch thread(s) each side\n"
        f"HTTP (mlflow models serve) p50  {report.http_p50_s * 1000:8.1f} ms\n"
        f"in-process predict p50          {report.in_process_p50_s * 1000:8.1f} ms\n"
        f"ratio {report.ratio:.3f} (HTTP overhead {overhead * 100:+.1f} %, target < {args.max_overhead * 100:.0f} %)\n"
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    return 0 if overhead <= args.max_overhead else 1


if __name__ == "__main__":
    sys.exit(main())
