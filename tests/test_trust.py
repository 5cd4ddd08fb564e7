"""Artifacts that cannot be fooled: links, edited manifests, staging locks, stale staging folders, SIGTERM."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kre.artifacts import ArtifactStore, load_artifact
from kre.errors import ArtifactError
from kre.lineage import lineage


def _run(root: Path, name: str = "r", folds: int = 2) -> Path:
    """A runs/ artifact with fold-<k>/model/ folders (no real model: predict fails at load before using them)."""
    store = ArtifactStore(root)
    with store.create("runs", name, params={"folds": folds, "lr": 1e-5}, seed=0) as b:
        for k in range(folds):
            (b.path / f"fold-{k}" / "model").mkdir(parents=True)
            (b.path / f"fold-{k}" / "model" / "weights.bin").write_bytes(bytes([k]) * 10)
        (b.path / "probs.csv").write_text("id,pred_label,probs\n", encoding="utf-8")
        b.metrics["micro_f1"] = 50.0
    assert b.published is not None
    return b.published.path


def _edit_manifest(folder: Path, **changes: object) -> None:
    path = folder / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


# -- 1. links inside artifacts -------------------------------------------------------------
def test_symlinked_dir_inside_an_artifact_is_refused(kre, tmp_path: Path) -> None:
    root = tmp_path / "art"
    run = _run(root, "a")
    other = _run(root, "b")
    (run / "fold-7").symlink_to(other / "fold-0", target_is_directory=True)
    with pytest.raises(ArtifactError, match="fold-7.*symbolic link|symbolic link.*fold-7"):
        load_artifact(run)
    art = load_artifact(run, verify=False)
    assert "fold-7" in art.changed_files()
    assert not lineage(art, root).all_ok
    res = kre("show", run, "--root", root, ok=True)
    assert "hashes ok" not in res.stdout and "fold-7" in res.output
    # predict refuses the run when it loads it (before any model folder is used)
    data = tmp_path / "data.csv"
    data.write_text("id,sentence,subject_entity,object_entity\n", encoding="utf-8")
    res = kre("predict", run, data, "--root", root, ok=False)
    assert res.exit_code == 1 and "fold-7" in res.output and "Traceback" not in res.output


def test_link_to_outside_file_is_refused(kre, tmp_path: Path) -> None:
    root = tmp_path / "art"
    run = _run(root, "a")
    outside = tmp_path / "outside.txt"
    outside.write_text("secret", encoding="utf-8")
    (run / "extra").symlink_to(outside)
    with pytest.raises(ArtifactError, match="symbolic link"):
        load_artifact(run)
    res = kre("show", run, "--root", root, "--json", ok=True)
    data = json.loads(res.stdout)
    assert data["all_ok"] is False
    assert {o["file"]: o["status"] for o in data["artifact"]["outputs"]}["extra"] == "link"


def test_publishing_a_link_is_refused(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    with pytest.raises(ArtifactError, match="symbolic link"):
        with store.create("splits", "s", params={}) as b:
            (b.path / "x").symlink_to("/etc")
    assert store.list("splits") == []


# -- 5. the manifest's own hash -----------------------------------------------------------------
def test_edited_manifest_is_refused_as_input_and_shown(kre, tmp_path: Path) -> None:
    root = tmp_path / "art"
    run = _run(root, "a")
    assert load_artifact(run).manifest["self_sha256"]
    _edit_manifest(run, metrics={"micro_f1": 99.9})
    with pytest.raises(ArtifactError, match="manifest.json.*edited"):
        load_artifact(run)
    assert load_artifact(run, verify=False).metrics == {"micro_f1": 99.9}
    data = json.loads(kre("show", run, "--root", root, "--json", ok=True).stdout)
    assert data["all_ok"] is False and data["artifact"]["manifest"] == "edited"
    rows = json.loads(kre("runs", "--root", root, "--json", ok=True).stdout)
    assert [r["manifest"] for r in rows] == ["edited"]
    table = kre("runs", "--root", root, ok=True)
    assert "edited" in table.stdout


def test_manifest_without_self_hash_stays_loadable(kre, tmp_path: Path) -> None:
    root = tmp_path / "art"
    run = _run(root, "a")
    data = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    del data["self_sha256"]
    (run / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    load_artifact(run)  # older kre: loadable
    shown = json.loads(kre("show", run, "--root", root, "--json", ok=True).stdout)
    assert shown["artifact"]["manifest"] == "unverified"
    assert shown["lineage"]["status"] == "unchecked"
    assert [r["manifest"] for r in json.loads(kre("runs", "--root", root, "--json", ok=True).stdout)] == ["unverified"]


# -- 6. malformed manifests: one line, and `kre runs` keeps going ------------------------------------
@pytest.mark.parametrize("field", ["outputs", "params", "metrics", "inputs"])
def test_manifest_field_of_the_wrong_type(kre, tmp_path: Path, field: str) -> None:
    root = tmp_path / "art"
    good = _run(root, "good")
    bad = _run(root, "bad")
    _edit_manifest(bad, **{field: "oops"})
    with pytest.raises(ArtifactError, match=f"'{field}'"):
        load_artifact(bad, verify=False)
    res = kre("show", bad, "--root", root, ok=False)
    assert res.exit_code == 1 and f"'{field}'" in res.output and "Traceback" not in res.output
    rows = json.loads(kre("runs", "--root", root, "--json", ok=True).stdout)
    assert [(r["id"], r["manifest"]) for r in rows] == [(f"runs/{good.name}", "ok"), (f"runs/{bad.name}", "invalid")]
    table = kre("runs", "--root", root, ok=True).stdout
    assert "invalid" in table and good.name[5:] in table


# -- 2. one process per staging folder ----------------------------------------------------------------
def _hold_staging(root: str, key: str, ready: "mp.Event", release: "mp.Event") -> None:
    store = ArtifactStore(root)
    with store.create("runs", "r", params={}, staging_key=key) as b:
        (b.path / "checkpoint.bin").write_text("step 1")
        ready.set()
        release.wait(30)
        raise SystemExit(3)  # stop without publishing (the staging folder stays for --resume)


@contextmanager
def _holder(root: Path, key: str) -> Iterator["mp.Process"]:
    """A child process inside `create(..., staging_key=key)` until the block ends (then it stops unpublished)."""
    ctx = mp.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold_staging, args=(str(root), key, ready, release))
    child.start()
    try:
        assert ready.wait(30)
        yield child
    finally:
        release.set()
        child.join(30)


def test_second_process_on_the_same_staging_folder_is_refused(tmp_path: Path) -> None:
    with _holder(tmp_path, "k1") as child:
        store = ArtifactStore(tmp_path)
        with pytest.raises(ArtifactError, match=f"process {child.pid}") as info:
            with store.create("runs", "r", params={}, staging_key="k1"):
                pass
        assert "\n" not in str(info.value)
        assert (tmp_path / "runs" / ".staging-k1" / "checkpoint.bin").read_text() == "step 1"  # left alone
    # the holder stopped: its folder is resumed by the next identical command
    with ArtifactStore(tmp_path).create("runs", "r", params={}, staging_key="k1") as b:
        assert b.resumed and (b.path / "checkpoint.bin").read_text() == "step 1"
        (b.path / "checkpoint.bin").unlink()
    assert _staging(tmp_path, "runs") == [] and not (tmp_path / "runs" / ".locks").exists()


def test_lock_of_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()  # (release is never set: a killed waiter would deadlock set())
    child = ctx.Process(target=_hold_staging, args=(str(tmp_path), "k2", ready, release))
    child.start()
    assert ready.wait(30)
    os.kill(child.pid, signal.SIGKILL)
    child.join(30)
    with ArtifactStore(tmp_path).create("runs", "r", params={}, staging_key="k2") as b:
        assert b.resumed


# -- 8. stale staging folders, kre gc, SIGTERM ------------------------------------------------------------
def _crash_in_staging(root: str, key: str | None, ready: "mp.Event") -> None:
    store = ArtifactStore(root)
    with store.create("splits", "s", params={}, staging_key=key) as b:
        (b.path / "half.csv").write_text("partial")
        ready.set()
        time.sleep(60)


def _staging(root: Path, kind: str = "splits") -> list[str]:
    folder = root / kind
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".staging")) if folder.is_dir() else []


def _killed_child(root: Path, key: str | None, sig: int) -> None:
    ctx = mp.get_context("fork")
    ready = ctx.Event()
    child = ctx.Process(target=_crash_in_staging, args=(str(root), key, ready))
    child.start()
    assert ready.wait(30)
    os.kill(child.pid, sig)
    child.join(30)
    assert child.exitcode != 0


def test_sigterm_cleans_up_like_sigint(tmp_path: Path) -> None:
    _killed_child(tmp_path, None, signal.SIGTERM)
    assert _staging(tmp_path) == []
    _killed_child(tmp_path, "resumable", signal.SIGTERM)  # a resumable staging folder stays for --resume
    assert _staging(tmp_path) == [".staging-resumable"]
    assert (tmp_path / "splits" / ".locks" / ".staging-resumable.lock").is_file()


def test_stale_staging_is_removed_by_the_next_command_and_by_gc(kre, tmp_path: Path) -> None:
    _killed_child(tmp_path, "resumable", signal.SIGKILL)
    _killed_child(tmp_path, None, signal.SIGKILL)
    assert len(_staging(tmp_path)) == 2
    _run(tmp_path, "listed")
    assert "kre gc" in kre("runs", "--root", tmp_path, ok=True).output  # `kre runs` reports them
    # the next command on the root (here the publication above) removes the crashed one-off folder, keeps the resumable one
    assert _staging(tmp_path) == [".staging-resumable"]
    res = kre("gc", "--root", tmp_path, "--dry-run", ok=True)
    assert ".staging-resumable" in res.stdout and "resumable" in res.stdout
    assert _staging(tmp_path) == [".staging-resumable"]
    assert (tmp_path / "splits" / ".locks" / ".staging-resumable.lock").is_file()
    res = kre("gc", "--root", tmp_path, ok=True)
    assert _staging(tmp_path) == [] and not (tmp_path / "splits" / ".locks").exists()
    assert "removed 1" in res.output.lower()


def test_gc_leaves_a_live_staging_folder_alone(kre, tmp_path: Path) -> None:
    with _holder(tmp_path, "live") as child:
        res = kre("gc", "--root", tmp_path, ok=True)
        assert f"in use by process {child.pid}" in res.stdout
        assert (tmp_path / "runs" / ".staging-live").is_dir()
