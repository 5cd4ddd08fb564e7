"""Artifact store: numbering, atomic publication, manifests, resolution, verification."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pytest

from kre.artifacts import ArtifactStore, load_artifact, slugify
from kre.errors import ArtifactError


def _make(root: Path, slug: str = "demo", text: str = "hello") -> str:
    store = ArtifactStore(root)
    with store.create("splits", slug, params={"seed": 1, "valid_size": 0.1}, seed=1) as b:
        (b.path / "train.csv").write_text(text)
        (b.path / "sub").mkdir()
        (b.path / "sub" / "x.txt").write_text("x")
        b.metrics["rows"] = 3
    assert b.published is not None
    return b.published.id


def test_sequential_ids_and_manifest(tmp_path: Path) -> None:
    assert _make(tmp_path) == "splits/0001-demo"
    assert _make(tmp_path, "other name!") == "splits/0002-other-name"
    art = ArtifactStore(tmp_path).resolve("splits/0001-demo")
    m = art.manifest
    assert m["kind"] == "splits" and m["params"] == {"seed": 1, "valid_size": 0.1} and m["seed"] == 1
    assert set(m["outputs"]) == {"train.csv", "sub/x.txt"} and m["metrics"] == {"rows": 3}
    assert "python" in m["versions"] and "kre" in m["versions"] and m["command"].startswith("kre")
    assert not [p for p in (tmp_path / "splits").iterdir() if p.name.startswith(".staging")]


def test_failure_leaves_nothing(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    with pytest.raises(RuntimeError):
        with store.create("runs", "boom", params={}) as b:
            (b.path / "half.txt").write_text("partial")
            raise RuntimeError("crash")
    assert store.list("runs") == []
    assert not [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".ids")]


def test_staging_key_keeps_partial_work_for_resume(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    with pytest.raises(RuntimeError):
        with store.create("runs", "r", params={}, staging_key="abc") as b:
            (b.path / "checkpoint.bin").write_text("step 10")
            raise RuntimeError("stopped")
    with store.create("runs", "r", params={}, staging_key="abc") as b:
        assert b.resumed and (b.path / "checkpoint.bin").read_text() == "step 10"
        (b.path / "checkpoint.bin").unlink()
        (b.path / "model.txt").write_text("done")
    assert store.resolve("runs/latest").has("model.txt")
    assert not (tmp_path / "runs" / ".staging-abc").exists()


def test_numbers_never_reused(tmp_path: Path) -> None:
    _make(tmp_path)
    second = _make(tmp_path)
    import shutil

    shutil.rmtree(tmp_path / second)
    assert _make(tmp_path) == "splits/0003-demo"


def _worker(root: str, i: int, queue: "mp.Queue[str]") -> None:
    queue.put(_make(Path(root), f"p{i}", text=str(i)))


def test_concurrent_creation_gets_distinct_numbers(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    queue: "mp.Queue[str]" = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), i, queue)) for i in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    ids = sorted(queue.get() for _ in procs)
    numbers = sorted(i.split("/")[1][:4] for i in ids)
    assert numbers == [f"{n:04d}" for n in range(1, 7)]
    for i in ids:
        load_artifact(tmp_path / i)


def test_resolution(tmp_path: Path) -> None:
    _make(tmp_path, "a")
    _make(tmp_path, "b")
    store = ArtifactStore(tmp_path)
    assert store.resolve("splits/latest").id == "splits/0002-b"
    assert store.resolve("splits/1").id == "splits/0001-a"
    assert store.resolve("splits/0001").id == "splits/0001-a"
    assert store.resolve("latest", kind="splits").id == "splits/0002-b"
    assert store.resolve(tmp_path / "splits" / "0001-a").id == "splits/0001-a"
    assert store.resolve(f"{tmp_path}/splits/latest").id == "splits/0002-b"
    with pytest.raises(ArtifactError, match="expected a 'runs'"):
        store.resolve("splits/latest", kind="runs")
    with pytest.raises(ArtifactError, match="no runs artifact"):
        store.resolve("runs/latest")
    with pytest.raises(ArtifactError, match="no such artifact"):
        store.resolve("splits/0009")
    with pytest.raises(ArtifactError, match="no such artifact"):
        store.resolve("nonsense")


def test_reader_refuses_changed_or_unmanifested(tmp_path: Path) -> None:
    art_id = _make(tmp_path)
    folder = tmp_path / art_id
    load_artifact(folder).verify()
    (folder / "train.csv").write_text("tampered")
    with pytest.raises(ArtifactError, match="changed since.*train.csv"):
        load_artifact(folder)
    assert load_artifact(folder, verify=False).changed_files() == ["train.csv"]
    (folder / "train.csv").write_text("hello")
    (folder / "new.txt").write_text("added")
    assert load_artifact(folder, verify=False).changed_files() == ["new.txt"]
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(ArtifactError, match="no manifest.json"):
        load_artifact(plain)
    (plain / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not a valid manifest"):
        load_artifact(plain)


def test_inputs_and_fingerprint(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("abc")
    store = ArtifactStore(tmp_path)
    with store.create("splits", "s", params={"seed": 1}) as b:
        b.add_input_file(data, "data")
    split = b.published
    with store.create("runs", "r", params={"lr": 1e-5}) as b2:
        b2.add_input_artifact(split, "split")
        b2.add_input_ref("klue/roberta-large", "model")
    inputs = b2.published.inputs
    assert inputs[0]["artifact"] == split.id and len(inputs[0]["manifest_sha256"]) == 64
    assert inputs[1] == {"role": "model", "ref": "klue/roberta-large"}
    # same params and inputs -> same fingerprint; other params -> other fingerprint
    with store.create("splits", "s", params={"seed": 1}) as b3:
        b3.add_input_file(data, "data")
    with store.create("splits", "s", params={"seed": 2}) as b4:
        b4.add_input_file(data, "data")
    assert b3.published.manifest["fingerprint"] == split.manifest["fingerprint"] != b4.published.manifest["fingerprint"]
    assert json.loads((split.path / "manifest.json").read_text())["inputs"][0]["sha256"]


def test_slugify() -> None:
    assert slugify("klue/roberta-large lr=2e-5") == "klue-roberta-large-lr-2e-5"
    assert slugify("///") == "x"
