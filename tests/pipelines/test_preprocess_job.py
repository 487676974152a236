"""The whole preprocessing job on the local runner, with tiny models on real photos.

What a commit holds (shapes, ranges, lineage), idempotent reruns, determinism across stores, dead
letters for bad inputs with the error-rate gate, and exactly-once results when bundles are
replayed or retried (see ``ApplyModelStages`` / ``PrepareSampleFn`` for the failure semantics).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow as pa
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from PIL import Image
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

from featurestore.catalog import open_catalog
from featurestore.config import FeatureStoreConfig
from featurestore.modality import CAPTION_TOKENS, SPATIAL_MODALITIES, VQ_CODEBOOK_SIZE, VQ_TOKENS, Modality
from featurestore.readers import current_snapshot_id, read_arrow
from featurestore.schema import SCHEMA_VERSION
from featurestore.staging import list_staged
from pipelines import preprocess_job, preprocess_transforms, sources
from pipelines.demo_photos import DemoPhotos
from pipelines.image_decoding import content_sha256
from pipelines.modalities.depth import DepthEstimator
from pipelines.modalities.extractor import extractor_versions
from pipelines.modalities.segmentation import SegmentationEstimator
from pipelines.model_stages import apply_depth, model_stages
from pipelines.preprocess_config import PIPELINE_VERSION, PreprocessConfig
from pipelines.preprocess_errors import PreprocessError
from pipelines.preprocess_job import PreprocessResult, run_preprocess
from pipelines.runner_options import RunnerConfig
from pipelines.sample_identity import FieldRole, config_leaves, content_hash, fields_with_role, sample_id_for
from pipelines.sample_model_handler import SampleModelHandler
from pipelines.sources import InputSpec, Listed, read_image_source
from pipelines.tokenizer_lineage import CLIP_TOKENIZER_PROPERTY, VQ_TOKENIZER_PROPERTY, clip_lineage, vq_lineage
from tests.pipelines.conftest import SmallJob, TinyModels, copy_photos, small_job

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_torch_thread")]  # ~76 s in all, measured on 2 loaded cores

CROPS = 2


@dataclass(frozen=True)
class CommittedRun:
    job: SmallJob
    result: PreprocessResult
    table: pa.Table
    """Every committed row, sorted by sample_id."""
    photos: list[str]


def committed_rows(store: FeatureStoreConfig) -> pa.Table:
    """Every row of the current samples snapshot, sorted by sample_id."""
    return read_arrow(store).sort_by("sample_id")


def error_rows(store: FeatureStoreConfig) -> list[dict[str, object]]:
    """Every row of the errors table ([] if it was never created)."""
    try:
        table = open_catalog(store).load_table(store.errors_identifier)
    except (NoSuchTableError, NoSuchNamespaceError):
        return []
    return table.scan().to_arrow().to_pylist()


def decode_png(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


@pytest.fixture(scope="module")
def committed(
    tiny_models: TinyModels, demo_photos: DemoPhotos, tmp_path_factory: pytest.TempPathFactory, one_torch_thread: None
) -> CommittedRun:
    root = tmp_path_factory.mktemp("committed")
    photos = copy_photos(demo_photos, root / "hr")
    job = small_job(tiny_models, demo_photos, str(root / "hr"), root / "store").with_(crops_per_image=CROPS)
    result = run_preprocess(job.preprocess, job.store)
    return CommittedRun(job=job, result=result, table=committed_rows(job.store), photos=photos)


# ----------------------------------------------------------------------------- what one commit holds


def test_one_row_per_input_and_crop(committed: CommittedRun) -> None:
    result, rows = committed.result, committed.table.to_pylist()
    assert (result.inputs, result.accepted, result.added, result.rejected, result.already_present) == (4, 4, 4 * CROPS, 0, 0)
    assert len(rows) == 4 * CROPS == len({row["sample_id"] for row in rows})
    per_source = {uri: sum(row["source_uri"] == uri for row in rows) for uri in committed.photos}
    assert per_source == {uri: CROPS for uri in committed.photos}
    assert result.snapshot_id == current_snapshot_id(committed.job.store)
    # ids are sample_id_for(photo sha256, content hash, crop): what test_embedded_sample_ids.py pins
    chash = content_hash(committed.job.preprocess)
    shas = [content_sha256(Path(photo).read_bytes()) for photo in committed.photos]
    assert {row["sample_id"] for row in rows} == {sample_id_for(sha, chash, crop) for sha in shas for crop in range(CROPS)}


def test_every_modality_is_tokenized_with_the_trained_shapes(committed: CommittedRun) -> None:
    for row in committed.table.to_pylist():
        for modality in SPATIAL_MODALITIES:
            tokens = row[modality.tokens_column]
            assert len(tokens) == VQ_TOKENS and all(0 <= t < VQ_CODEBOOK_SIZE for t in tokens), modality
            assert decode_png(row[modality.map_column]).shape == (64, 64), modality
        assert len(row[Modality.CAPTION.tokens_column]) == CAPTION_TOKENS
        assert row["caption"], "every sample photo has a sidecar caption"
        assert decode_png(row["hr_png"]).shape == (64, 64, 3)
        assert decode_png(row["lr_png"]).shape == (64 // row["scale"], 64 // row["scale"], 3)


def test_rows_carry_their_lineage(committed: CommittedRun) -> None:
    config = committed.job.preprocess
    hashes = {uri: hashlib.sha256(Path(uri).read_bytes()).hexdigest() for uri in committed.photos}
    for row in committed.table.to_pylist():
        assert row["source_sha256"] == hashes[row["source_uri"]]
        degradation = json.loads(row["degradation"])
        assert isinstance(degradation, dict) and degradation
        assert json.loads(row["extractors"]) == extractor_versions(config.modalities)
        assert (row["config_hash"], row["pipeline_version"]) == (committed.result.config_hash, PIPELINE_VERSION)
        assert (row["schema_version"], row["seed"], row["modality_source"]) == (SCHEMA_VERSION, config.seed, "hr")
        assert row["split"] in ("train", "eval") and row["crop_box"][2:] == [64, 64]
    table = open_catalog(committed.job.store).load_table(committed.job.store.samples_identifier)
    summary = table.current_snapshot().summary
    assert (summary["run_id"], summary["config_hash"]) == (committed.result.run_id, committed.result.config_hash)
    tokenizer = config.tokenizer  # the tokenizers of its tokens, recorded with the models trained on them
    assert (summary[VQ_TOKENIZER_PROPERTY], summary[CLIP_TOKENIZER_PROPERTY]) == (vq_lineage(tokenizer), clip_lineage(tokenizer))


def test_rerun_with_the_same_config_commits_nothing_new(committed: CommittedRun) -> None:
    again = run_preprocess(committed.job.preprocess, committed.job.store)
    assert (again.added, again.rejected, again.already_present, again.replaced) == (0, 0, 4 * CROPS, 0)
    assert again.snapshot_id == committed.result.snapshot_id == current_snapshot_id(committed.job.store)
    assert read_arrow(committed.job.store, columns=["sample_id"]).num_rows == 4 * CROPS


LOCAL_POLICY_KNOBS_LEFT_OUT = {"device", "runner.runner", "runner.setup_file", "runner.requirements_file", "runner.extra_packages"}
"""Policy knobs a local CPU run cannot change (a GPU, a cluster, packaging for remote workers); the
content hash ignores them too (``test_sample_identity``)."""


def test_changing_only_policy_knobs_adds_no_rows(job: SmallJob, demo_photos: DemoPhotos, tmp_path: Path) -> None:
    job = job.with_(crops_per_image=CROPS, degradations_per_crop=2)
    first = run_preprocess(job.preprocess, job.store)
    copy_photos(demo_photos, tmp_path / "moved")  # the same bytes in another place
    changed = job.with_(
        input=str(tmp_path / "moved"), crops_per_image=1, degradations_per_crop=1, eval_fraction=0.9, max_error_rate=0.5, rows_per_file=1,
        modalities=dataclasses.replace(job.preprocess.modalities, batch_size=1),
        runner=RunnerConfig(
            direct_num_workers=2, direct_running_mode="multi_threading", worker_threads=1,
            options=("--direct_runner_bundle_repeat=1",),
        ),
    )
    before, after = dict(config_leaves(job.preprocess)), dict(config_leaves(changed.preprocess))
    changed_paths = {path for path in before if before[path] != after[path]}
    assert changed_paths == set(fields_with_role(job.preprocess, FieldRole.POLICY)) - LOCAL_POLICY_KNOBS_LEFT_OUT
    second = run_preprocess(changed.preprocess, changed.store)
    assert (second.added, second.replaced, second.already_present, second.rejected) == (0, 0, 4, 0)
    assert (second.config_hash, second.snapshot_id) == (first.config_hash, first.snapshot_id)
    assert read_arrow(job.store, columns=["sample_id"]).num_rows == 4 * CROPS * 2  # lowering removed nothing


def test_same_input_and_config_in_a_fresh_store_gives_identical_samples(committed: CommittedRun, tmp_path: Path) -> None:
    fresh = FeatureStoreConfig(catalog_uri=f"sqlite:///{tmp_path}/catalog.db", warehouse=str(tmp_path / "warehouse"))
    run_preprocess(committed.job.preprocess, fresh)
    first, second = committed.table, committed_rows(fresh)
    assert second.column("sample_id").to_pylist() == first.column("sample_id").to_pylist()
    exact = ("lr_png", "hr_png", "degradation", "crop_box", "edges_png", "edges_tokens", "segmentation_png")
    for column in (*exact, "caption_token_ids"):
        assert second.column(column).to_pylist() == first.column(column).to_pylist(), column
    # Depth Anything's output moves by ~1e-6 with the batch it ran in (BatchElements batches by
    # timing), so a 16-bit depth value may move by one step (and its VQ codes with it).
    for a, b in zip(first.column("depth_png").to_pylist(), second.column("depth_png").to_pylist()):
        assert np.abs(decode_png(a).astype(np.int32) - decode_png(b)).max() <= 1


def test_changing_one_extractor_recomputes_only_that_modality(job: SmallJob, monkeypatch: pytest.MonkeyPatch) -> None:
    first = run_preprocess(job.preprocess, job.store)
    before = committed_rows(job.store)
    changed = job.with_(modalities=dataclasses.replace(job.preprocess.modalities, canny_low=10, canny_high=30))

    def must_not_run(*_: Any) -> None:
        raise AssertionError("a model whose extractor did not change ran again")

    monkeypatch.setattr(DepthEstimator, "predict", must_not_run)
    monkeypatch.setattr(SegmentationEstimator, "predict", must_not_run)
    again = run_preprocess(changed.preprocess, changed.store)
    after = committed_rows(job.store)
    assert again.config_hash == first.config_hash
    assert (again.added, again.replaced, again.already_present, again.rejected) == (0, 4, 0, 0)
    assert after.column("sample_id").to_pylist() == before.column("sample_id").to_pylist()  # same ids, once each
    recomputed = {"edges_png", "edges_tokens", "extractors"}
    for column in set(before.column_names) - recomputed:
        assert after.column(column).to_pylist() == before.column(column).to_pylist(), column
    assert all(a != b for a, b in zip(after.column("edges_png").to_pylist(), before.column("edges_png").to_pylist()))
    assert {json.loads(text)["edges"] for text in after.column("extractors").to_pylist()} == {
        extractor_versions(changed.preprocess.modalities)["edges"]
    }
    table = open_catalog(job.store).load_table(job.store.samples_identifier)
    assert table.current_snapshot().summary["replaced"] == "4"
    assert [read_arrow(job.store, s.snapshot_id, columns=["sample_id"]).num_rows for s in table.snapshots()] == [4, 4]
    third = run_preprocess(changed.preprocess, changed.store)
    assert (third.added, third.replaced, third.already_present, third.snapshot_id) == (0, 0, 4, again.snapshot_id)


# ----------------------------------------------------------------------------- dead letters


def png_header_claiming(width: int, height: int) -> bytes:
    """A tiny valid-looking PNG whose header claims ``width`` x ``height`` 1-bit pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.fixture
def bad_inputs(job: SmallJob, monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[str, str]]:
    """Four bad files next to the job's four good photos: name -> (expected stage, message part).

    ``vanished.png`` is listed by the job and deleted right after, before any read.
    """
    folder = Path(job.preprocess.input)
    jpeg = (folder / "flower.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (folder / "not_an_image.png").write_bytes(b"this is plain text, not pixels\n" * 8)
    (folder / "bomb.png").write_bytes(png_header_claiming(50_000, 50_000))
    (folder / "vanished.png").write_bytes((folder / "coffee.png").read_bytes())

    list_top_level = sources.list_top_level

    def list_then_delete(spec: InputSpec) -> Iterator[Listed]:
        listed = list(list_top_level(spec))
        (folder / "vanished.png").unlink(missing_ok=True)
        yield from listed

    monkeypatch.setattr(sources, "list_top_level", list_then_delete)
    return {
        "truncated.jpg": ("decode", "truncated"),
        "not_an_image.png": ("decode", "not one of the accepted formats JPEG/PNG"),
        "bomb.png": ("decode", "decompression bomb"),
        "vanished.png": ("read", "vanished.png"),
    }


def test_bad_inputs_become_error_rows_and_good_ones_commit(job: SmallJob, bad_inputs: dict[str, tuple[str, str]]) -> None:
    result = run_preprocess(job.with_(max_error_rate=0.5).preprocess, job.store)
    assert (result.inputs, result.accepted, result.rejected, result.added) == (8, 4, 4, 4)
    committed = read_arrow(job.store, columns=["source_uri"]).column("source_uri").to_pylist()
    assert sorted(Path(uri).name for uri in committed) == sorted(
        ["astronaut.png", "chelsea.png", "coffee.png", "flower.jpg"]
    )
    errors = {Path(str(row["source_uri"])).name: row for row in error_rows(job.store)}
    assert errors.keys() == bad_inputs.keys()
    for name, (stage, needle) in bad_inputs.items():
        row = errors[name]
        assert row["stage"] == stage and needle in str(row["message"]), row
        assert (row["run_id"], row["config_hash"]) == (result.run_id, result.config_hash)
    assert errors["vanished.png"]["exception"] == "FileNotFoundError"


def test_inputs_with_the_same_bytes_are_accepted_together_and_committed_once(job: SmallJob) -> None:
    folder = Path(job.preprocess.input)
    (folder / "copies").mkdir()
    (folder / "copies" / "astronaut-again.png").write_bytes((folder / "astronaut.png").read_bytes())
    result = run_preprocess(job.with_(crops_per_image=CROPS).preprocess, job.store)
    assert (result.inputs, result.accepted, result.rejected, result.added) == (5, 5, 0, 4 * CROPS)
    sources = read_arrow(job.store, columns=["source_uri"])["source_uri"].to_pylist()
    assert sources.count(str(folder / "astronaut.png")) == CROPS and not any("again" in uri for uri in sources)


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (64, 64), color) for color in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def test_every_file_in_the_input_folder_is_accepted_or_rejected(job: SmallJob, demo_photos: DemoPhotos) -> None:
    folder = Path(job.preprocess.input)
    (folder / "animated.gif").write_bytes(animated_gif())
    (folder / "phone.heic").write_bytes(b"\0\0\0\x18ftypheic" + bytes(64))
    (folder / "notes.txt").write_text("shot on a sunny day\n")
    (folder / "captions.jsonl").write_bytes(demo_photos.captions_path.read_bytes())  # the job's sidecar: not an input
    sidecar = dataclasses.replace(job.preprocess.modalities, captions_path=str(folder / "captions.jsonl"))
    result = run_preprocess(job.with_(max_error_rate=0.5, modalities=sidecar).preprocess, job.store)
    assert (result.inputs, result.accepted, result.rejected, result.added) == (7, 4, 3, 4)
    assert "7 inputs = 4 accepted + 3 rejected" in result.summary()
    errors = {Path(str(row["source_uri"])).name: (row["stage"], row["message"]) for row in error_rows(job.store)}
    assert sorted(errors) == ["animated.gif", "notes.txt", "phone.heic"]
    assert errors["animated.gif"][0] == "decode" and errors["animated.gif"][1].startswith("a GIF file")
    assert errors["phone.heic"][1].startswith("a HEIC file") and errors["notes.txt"][1].startswith("not an image")


def test_too_many_bad_inputs_fail_the_run_and_commit_nothing(job: SmallJob, bad_inputs: dict[str, tuple[str, str]]) -> None:
    with pytest.raises(PreprocessError, match=r"4 of 8 inputs were rejected .*nothing was committed"):
        run_preprocess(job.with_(max_error_rate=0.49).preprocess, job.store, run_id="too-many-errors")
    assert current_snapshot_id(job.store) is None
    assert error_rows(job.store) == []
    staged = list_staged(job.store, "too-many-errors")
    assert (staged.samples, staged.errors) == ([], [])
    assert list(Path(job.store.warehouse).rglob("*.parquet")) == []


# ----------------------------------------------------------------------------- replays and retries


@dataclass(frozen=True)
class FailOnce:
    """Calls ``target`` but raises ConnectionError the first time in any process (flag file ``flag``)."""

    target: Callable[..., Any]
    flag: str

    def __call__(self, *args: Any) -> Any:
        if not os.path.exists(self.flag):
            Path(self.flag).touch()
            raise ConnectionError("injected transient failure")
        return self.target(*args)


def stages_with_flaky_depth(flag: Path) -> Callable[[PreprocessConfig], list[SampleModelHandler]]:
    """``model_stages`` with the depth stage's apply failing once."""

    def stages(config: PreprocessConfig) -> list[SampleModelHandler]:
        modalities = config.modalities
        load = functools.partial(DepthEstimator, modalities.depth_model, device=config.device)
        flaky = SampleModelHandler("depth", load, FailOnce(apply_depth, str(flag)), modalities.batch_size)
        return [flaky if h.get_metrics_namespace() == "mmsr_depth" else h for h in model_stages(config)]

    return stages


def use_retrying_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run on Beam's BundleBasedDirectRunner, which retries a failed bundle (up to 4 attempts)."""
    monkeypatch.setattr(preprocess_job, "pipeline_options", lambda _: PipelineOptions(["--runner=BundleBasedDirectRunner"]))


def assert_exactly_once(job: SmallJob, result: PreprocessResult, inputs: int) -> None:
    ids = read_arrow(job.store, columns=["sample_id"]).column("sample_id").to_pylist()
    assert (result.added, result.rejected, len(ids), len(set(ids))) == (inputs * CROPS, 0, inputs * CROPS, inputs * CROPS)
    assert error_rows(job.store) == []


def test_replayed_bundles_commit_each_sample_once(job: SmallJob) -> None:
    replaying = job.with_(crops_per_image=CROPS, runner=RunnerConfig(options=("--direct_runner_bundle_repeat=1",)))
    assert_exactly_once(replaying, run_preprocess(replaying.preprocess, replaying.store), inputs=4)


def test_a_model_failure_is_retried_by_the_runner_not_recorded(
    job: SmallJob, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preprocess_job, "model_stages", stages_with_flaky_depth(tmp_path / "failed-once"))
    use_retrying_runner(monkeypatch)
    result = run_preprocess(job.with_(crops_per_image=CROPS).preprocess, job.store)
    assert (tmp_path / "failed-once").exists(), "the failure was injected"
    assert_exactly_once(job, result, inputs=4)


def test_a_transient_read_failure_is_retried_not_recorded(
    job: SmallJob, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        preprocess_transforms, "read_image_source", FailOnce(read_image_source, str(tmp_path / "failed-once"))
    )
    use_retrying_runner(monkeypatch)
    result = run_preprocess(job.with_(crops_per_image=CROPS).preprocess, job.store)
    assert (tmp_path / "failed-once").exists(), "the failure was injected"
    assert_exactly_once(job, result, inputs=4)


def test_without_runner_retries_a_model_failure_fails_the_run_cleanly(
    job: SmallJob, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preprocess_job, "model_stages", stages_with_flaky_depth(tmp_path / "failed-once"))
    with pytest.raises(Exception, match="injected transient failure"):
        run_preprocess(job.preprocess, job.store, run_id="flaky")
    assert current_snapshot_id(job.store) is None and error_rows(job.store) == []
    staged = list_staged(job.store, "flaky")
    assert (staged.samples, staged.errors) == ([], [])
    rerun = run_preprocess(job.preprocess, job.store)  # the flag is set now: the model works
    assert (rerun.added, rerun.rejected) == (4, 0)
