"""``python -m benchmarks.gpu_suite --smoke``: the GPU check's own code on tiny models on the CPU."""

from __future__ import annotations

import pytest

from benchmarks.gpu_suite import GUIDANCE_MODES, HEADER, main

pytestmark = pytest.mark.slow(minutes=1.5)  # a benchmark end to end at smoke size: 10-30 s


def test_smoke_prints_every_section_and_exits_0(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    output = tmp_path / "table.md"
    assert main(["--smoke", "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert HEADER in out and output.read_text().startswith(HEADER)
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line][1:]
    sections = [row.split(" | ")[0].lstrip("| ") for row in rows]
    assert sections.count("depth RunInference") == 1
    assert sections.count("inference latency") == 2 * len(GUIDANCE_MODES)
    assert {"training bf16 vs fp32", "training fp16 + GradScaler"} <= set(sections)
    assert "failed" not in out
    assert all(row.count(" | ") == 4 for row in rows)
