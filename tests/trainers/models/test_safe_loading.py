"""The content allowlist: each kind checked by its bytes, pickles of every protocol refused whatever their name."""

from __future__ import annotations

import builtins
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from trainers.models.safe_loading import (
    FileKind,
    UnsafeArtifactError,
    content_problem,
    is_pickle_stream,
    tree_problems,
    verify_artifact_tree,
)
from trainers.models.sr_pipeline import MMSRPipeline


class _Payload:
    """Unpickling this creates ``marker``: proof that the bytes are a live payload."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return builtins.open, (str(self.marker), "w")


@pytest.mark.parametrize("protocol", range(6))
def test_pickle_streams_of_every_protocol_are_recognised(protocol: int, tmp_path: Path) -> None:
    data = pickle.dumps(_Payload(tmp_path / "ran"), protocol=protocol)
    assert is_pickle_stream(data)
    assert is_pickle_stream(data + b"trailing bytes pickle.loads ignores")
    for kind in FileKind:
        assert content_problem(data, kind) is not None
    assert not (tmp_path / "ran").exists()
    pickle.loads(data)  # the payload is real: loading it is what the check prevents
    assert (tmp_path / "ran").exists()


def test_protocol_0_pickle_is_plain_text_and_still_refused_as_text() -> None:
    data = pickle.dumps({"a": [1, 2]}, protocol=0)
    data.decode("ascii")  # no header, nothing binary: a name or a header check cannot see it
    assert content_problem(data, FileKind.TEXT) == "a pickle stream"


@pytest.mark.parametrize(
    "text", [b"#version: 0.2\na b\n", b'{"a": 1}', b"mlflow==3.17\nmmsr", b"channels:\n- conda-forge\ndependencies:\n", b"[1, 2]"]
)
def test_ordinary_text_is_not_a_pickle_stream(text: bytes) -> None:
    assert not is_pickle_stream(text)


def test_each_kind_must_parse_as_itself() -> None:
    assert content_problem(b'{"a": 1}', FileKind.JSON) is None
    assert content_problem(b"{not json", FileKind.JSON) == "not valid json (JSONDecodeError)"
    assert content_problem(b"a: [1", FileKind.YAML).startswith("not valid yaml")
    assert content_problem(b"text\x00with NUL", FileKind.TEXT).startswith("not valid text")
    assert content_problem(b"\xff\xfe", FileKind.TEXT).startswith("not valid text")
    assert content_problem(b"PK\x03\x04rest", FileKind.JSON) == "a zip archive (torch.save / npz format)"


def test_safetensors_layout_is_checked_whole(tmp_path: Path) -> None:
    save_file({"w": torch.zeros(2)}, str(tmp_path / "ok.safetensors"))
    good = (tmp_path / "ok.safetensors").read_bytes()
    assert content_problem(good, FileKind.SAFETENSORS) is None
    assert "end at byte" in content_problem(good + b"extra", FileKind.SAFETENSORS)
    assert "does not fit" in content_problem(pickle.dumps({"x": 1}, protocol=2), FileKind.SAFETENSORS)
    header = b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": "all"}}'
    assert "not a tensor description" in content_problem(len(header).to_bytes(8, "little") + header, FileKind.SAFETENSORS)


def test_safetensors_whose_length_bytes_look_like_a_pickle_header_is_accepted(tmp_path: Path) -> None:
    header = b'{"__metadata__":{"pad":"' + b"x" * (0x380 - 27) + b'"}}'
    assert len(header) == 0x380  # little-endian length 80 03 00 .. = a pickle protocol 3 header
    assert content_problem(len(header).to_bytes(8, "little") + header, FileKind.SAFETENSORS) is None


def test_tree_problems_name_each_refused_file(tmp_path: Path) -> None:
    save_file({"w": torch.zeros(2)}, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text('{"a": 1}')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "weights.bin").write_bytes(b"whatever")
    (tmp_path / "sub" / "innocent.json").write_bytes(pickle.dumps([1, 2], protocol=0))
    torch.save({"w": torch.zeros(1)}, tmp_path / "renamed.txt")
    (tmp_path / "fake.safetensors").write_bytes(pickle.dumps({"x": 1}, protocol=2))
    (tmp_path / "link.json").symlink_to(tmp_path / "config.json")
    found = {p.relative_to(tmp_path).as_posix(): why for p, why in tree_problems(tmp_path).items()}
    assert sorted(found) == ["fake.safetensors", "link.json", "renamed.txt", "sub/innocent.json", "sub/weights.bin"]
    assert found["sub/innocent.json"] == "a pickle stream"
    assert found["link.json"] == "not a regular file"
    assert found["sub/weights.bin"].startswith("not one of the expected kinds")


def test_pipeline_directory_with_a_pickle_is_refused_before_loading(tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    verify_artifact_tree(tiny_pipeline_dir)
    poisoned = shutil.copytree(tiny_pipeline_dir, tmp_path / "poisoned")
    (poisoned / "vae" / "notes.txt").write_bytes(pickle.dumps(_Payload(tmp_path / "ran"), protocol=0))
    with pytest.raises(UnsafeArtifactError, match=r"vae/notes\.txt: a pickle stream"):
        MMSRPipeline.from_pretrained(poisoned)
    assert not (tmp_path / "ran").exists()
