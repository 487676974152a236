"""The pickle guard: extension and header checks, and MMSRPipeline.from_pretrained refusing a poisoned directory."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from trainers.models.safe_loading import UnsafeArtifactError, assert_no_pickles, is_pickle_header, pickle_files
from trainers.models.sr_pipeline import MMSRPipeline


def test_headers_of_pickles_and_torch_zips_are_recognised() -> None:
    assert is_pickle_header(pickle.dumps({"a": 1}, protocol=2))
    assert is_pickle_header(pickle.dumps({"a": 1}, protocol=5))
    assert is_pickle_header(b"PK\x03\x04rest")
    assert not is_pickle_header(b'{"json": 1}')
    assert not is_pickle_header(b"")


def test_pickle_files_by_extension_and_by_content(tmp_path: Path) -> None:
    save_file({"w": torch.zeros(2)}, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text('{"a": 1}')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "weights.bin").write_bytes(b"whatever")
    (tmp_path / "sub" / "innocent.json").write_bytes(pickle.dumps([1, 2], protocol=4))
    torch.save({"w": torch.zeros(1)}, tmp_path / "renamed.txt")
    (tmp_path / "fake.safetensors").write_bytes(pickle.dumps({"x": 1}, protocol=2))
    found = [p.relative_to(tmp_path).as_posix() for p in pickle_files(tmp_path)]
    assert found == ["fake.safetensors", "renamed.txt", "sub/innocent.json", "sub/weights.bin"]


def test_safetensors_whose_length_bytes_look_like_a_pickle_header_is_accepted(tmp_path: Path) -> None:
    header = b'{"__metadata__":{"pad":"' + b"x" * (0x380 - 27) + b'"}}'
    assert len(header) == 0x380  # little-endian length 80 03 00 .. = a pickle protocol 3 header
    (tmp_path / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    assert pickle_files(tmp_path) == []


def test_pipeline_directory_with_a_pickle_is_refused_before_loading(tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    assert_no_pickles(tiny_pipeline_dir)
    poisoned = shutil.copytree(tiny_pipeline_dir, tmp_path / "poisoned")
    torch.save({"weight": torch.zeros(1)}, poisoned / "vae" / "diffusion_pytorch_model.bin")
    with pytest.raises(UnsafeArtifactError, match=r"vae/diffusion_pytorch_model\.bin"):
        MMSRPipeline.from_pretrained(poisoned)
