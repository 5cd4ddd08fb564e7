"""`kre train`: every template, head and loss end to end on a tiny model, k-fold, resume, DDP, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from helpers import synth_examples, unlabeled, write_examples
from kre.artifacts import ArtifactStore, load_artifact
from kre.data.probs import read_probs
from kre.errors import TrainingError
from kre.training.config import TrainConfig
from kre.training.training_run import train

RUN_FILES = {"manifest.json", "metrics.json", "valid_probs.csv", "confusion.png", "learning_curve.png"}


def make_split(root: Path, *, n: int = 48, n_valid: int = 16, folds: int = 3, augmented: int = 0) -> Path:
    """A splits/ (or augments/ when `augmented`) artifact of synthetic rows; returns its folder."""
    rows = synth_examples(n, seed=5)
    train_rows, valid_rows = rows[: n - n_valid], rows[n - n_valid :]
    kind = "augments" if augmented else "splits"
    if augmented:
        extra = [
            replace(e, id=f"aug-{e.id}", extra={"aug_method": "test", "aug_parent": e.id}) for e in train_rows[:augmented]
        ]
        train_rows = [replace(e, extra={"aug_method": "", "aug_parent": ""}) for e in train_rows] + extra
    store = ArtifactStore(root)
    with store.create(kind, "tiny", params={"seed": 0, "folds": folds}) as b:
        write_examples(b.path / "train.csv", train_rows)
        write_examples(b.path / "valid.csv", valid_rows)
        if folds:
            # pairs of rows share a sentence: keep them in one fold
            lines = "".join(f"{e.id},{(int(e.id) // 2) % folds}\n" for e in rows)
            (b.path / "folds.csv").write_text("id,fold\n" + lines, encoding="utf-8")
    assert b.published is not None
    return b.published.path


def tiny_config(model_path: Path, **kw) -> TrainConfig:
    base = dict(model=str(model_path), batch_size=8, eval_batch_size=16, epochs=1, max_steps=2, max_length=64, seed=7)
    base.update(kw)
    return TrainConfig(**base)


def runs(root: Path) -> list[Path]:
    return ArtifactStore(root).list("runs")


@pytest.fixture
def test_csv(tmp_path: Path) -> Path:
    return write_examples(tmp_path / "test.csv", unlabeled(synth_examples(10, seed=11)))


# -- end to end through the CLI ------------------------------------------------------------
def test_train_cli_writes_run_and_predict_matches(kre, tiny_model: Path, tmp_path: Path, test_csv: Path) -> None:
    root = tmp_path / "root"
    make_split(root)
    res = kre("train", "splits/latest", "--model", tiny_model, "--root", root, "--batch-size", "8",
              "--max-steps", "3", "--eval-every", "2", "--max-length", "64", "--test", test_csv, ok=True)
    assert "micro F1" in res.output
    [run] = runs(root)
    art = load_artifact(run)
    assert RUN_FILES | {"probs.csv", "model"} <= {p.name for p in run.iterdir()}
    assert (run / "model" / "kre_model.json").is_file() and not (run / "checkpoint").exists()
    params = art.params
    assert params["marker"] == "typed-marker-punct" and params["head"] == "entity" and params["loss"] == "label-smoothing"
    assert params["batch_size"] == 8 and params["max_steps"] == 3 and params["data"].startswith("splits/")
    assert set(art.metrics) == {"micro_f1", "auprc", "accuracy"}
    assert art.manifest["device"] == "cpu" and art.manifest["duration_s"] > 0 and art.manifest["samples_per_second"] > 0
    assert {i["role"] for i in art.inputs} == {"data", "model", "test"}
    metrics = json.loads((run / "metrics.json").read_text())
    steps = [e["step"] for e in metrics["evaluations"]]
    assert steps == [2, 3]  # every 2 steps and at the end; never on the training set
    for e in metrics["evaluations"]:
        assert {"step", "epoch", "train_loss", "valid_loss", "micro_f1", "auprc", "accuracy", "per_class"} <= set(e)
        assert len(e["per_class"]) == 30
    assert metrics["best"]["micro_f1"] == max(e["micro_f1"] for e in metrics["evaluations"])
    assert art.metrics["micro_f1"] == pytest.approx(metrics["best"]["micro_f1"])
    valid = read_probs(run / "valid_probs.csv")
    assert len(valid.ids) == 16 and valid.gold is not None
    assert_probs_match_metrics(run)
    assert np.allclose(valid.probs.sum(axis=1), 1.0)
    test_probs = read_probs(run / "probs.csv")
    assert len(test_probs.ids) == 10 and test_probs.gold is None

    res = kre("predict", "runs/latest", test_csv, "--root", root, ok=True)
    [pred] = ArtifactStore(root).list("predictions")
    got = read_probs(pred / "probs.csv")
    assert got.ids == test_probs.ids
    assert np.allclose(got.probs, test_probs.probs, atol=1e-6)
    assert load_artifact(pred).params["run"] == art.id


def assert_probs_match_metrics(run: Path) -> None:
    """valid_probs.csv (rows in file order) scores exactly what the best evaluation reported: no row mix-up."""
    from kre.metrics import evaluate

    valid = read_probs(run / "valid_probs.csv")
    best = json.loads((run / "metrics.json").read_text())["best"]
    scores = evaluate(np.asarray(valid.labels.ids(valid.gold)), valid.probs, valid.labels, detail=False)
    assert scores["auprc"] == pytest.approx(best["auprc"], abs=1e-3)
    assert scores["micro_f1"] == pytest.approx(best["micro_f1"], abs=1e-3)


# -- every template, head and loss ------------------------------------------------------------
VARIANTS = [  # each template, head and loss at least once (defaults are covered by the CLI test above)
    {"marker": "none", "head": "cls", "loss": "ce"},
    {"marker": "entity-mask", "head": "lstm", "loss": "label-smoothing", "smoothing": 0.2},
    {"marker": "entity-marker", "loss": "focal", "gamma": 1.5, "class_weights": "inverse"},
    {"marker": "entity-marker-punct", "loss": "ldam", "class_weights": "sqrt-inverse", "type_words": "tag"},
    {"marker": "typed-marker", "query": True, "type_words": "en"},
    {"marker": "none", "query": True, "head": "lstm"},
    {"optimizer": "adafactor", "grad_accum": 2, "freeze_ratio": 0.5, "bf16": True, "restrict_types": True},
]


@pytest.mark.parametrize("options", VARIANTS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_train_variants(tiny_model: Path, tmp_path: Path, options: dict) -> None:
    root = tmp_path / "root"
    make_split(root, folds=0)
    art = train(data="splits/latest", config=tiny_config(tiny_model, **options), root=root)
    assert art is not None and RUN_FILES <= {p.name for p in art.path.iterdir()}
    meta = json.loads((art.path / "model" / "kre_model.json").read_text())
    assert meta["head"] == options.get("head", "entity")
    assert meta["template"]["marker"] == options.get("marker", "typed-marker-punct")
    assert meta["template"]["query"] == options.get("query", False)
    for key, value in options.items():
        assert art.params[key] == value
    assert 0.0 <= art.metrics["auprc"] <= 100.0
    probs = read_probs(art.path / "valid_probs.csv")
    assert np.isfinite(probs.probs).all()
    if options.get("restrict_types"):
        subj = {e.id: e.subject.type for e in synth_examples(48, seed=5)}
        for ex_id, row in zip(probs.ids, probs.probs):
            banned = "per:" if subj[ex_id] == "ORG" else "org:"
            assert all(p == 0.0 for name, p in zip(probs.labels.names, row) if name.startswith(banned))


# -- k-fold --------------------------------------------------------------------------------
def test_kfold_oof_and_fold_average(kre, tiny_model: Path, tmp_path: Path, test_csv: Path) -> None:
    root = tmp_path / "root"
    make_split(root, augmented=4)
    kre("train", "augments/latest", "--model", tiny_model, "--root", root, "--folds", "3", "--max-steps", "1",
        "--batch-size", "8", "--max-length", "64", "--test", test_csv, ok=True)
    [run] = runs(root)
    oof = read_probs(run / "valid_probs.csv")
    originals = [e.id for e in synth_examples(48, seed=5)]
    assert sorted(oof.ids) == sorted(originals)  # every original row once, no augmented rows
    fold_probs = [read_probs(run / f"fold-{i}" / "probs.csv").probs for i in range(3)]
    assert np.allclose(read_probs(run / "probs.csv").probs, np.mean(fold_probs, axis=0))
    assert all((run / f"fold-{i}" / "model" / "kre_model.json").is_file() for i in range(3))
    assert not (run / "model").exists()
    metrics = json.loads((run / "metrics.json").read_text())
    assert [f["fold"] for f in metrics["folds"]] == [0, 1, 2]
    assert sum(f["n_valid"] for f in metrics["folds"]) == 48
    # each augmented row trains only folds other than its parent's
    for f in metrics["folds"]:
        assert f["n_train"] + f["n_valid"] == 48 + 4 - sum(1 for p in ("0", "1", "2", "3") if (int(p) // 2) % 3 == f["fold"])
    # predict averages the fold models too
    kre("predict", run, test_csv, "--root", root, ok=True)
    [pred] = ArtifactStore(root).list("predictions")
    assert np.allclose(read_probs(pred / "probs.csv").probs, read_probs(run / "probs.csv").probs, atol=1e-6)


def test_single_fold(tiny_model: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    make_split(root)
    art = train(data="splits/latest", config=tiny_config(tiny_model, folds=3, fold=1, max_steps=1), root=root)
    assert art is not None
    assert [p.name for p in sorted(art.path.glob("fold-*"))] == ["fold-1"]
    ids = read_probs(art.path / "valid_probs.csv").ids
    assert all((int(i) // 2) % 3 == 1 for i in ids) and ids


# -- resume and determinism --------------------------------------------------------------------
def evaluations(art) -> list[tuple]:
    data = json.loads((art.path / "metrics.json").read_text())
    return [(e["step"], round(e["train_loss"], 6), round(e["valid_loss"], 6), round(e["micro_f1"], 6), round(e["auprc"], 6))
            for e in data["evaluations"]]


def step_callback(fn):
    """A TrainerCallback calling `fn(global_step)` after every optimizer step."""
    from transformers import TrainerCallback

    class OnStep(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            fn(state.global_step)

    return OnStep()


def test_resume_continues_and_matches_uninterrupted(tiny_model: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    make_split(root, folds=0)
    # 32 train rows / batch 8 = 4 steps per epoch: the run stops at step 5, in epoch 2,
    # and resumes from the checkpoint of step 3 (epoch 1), so the resumed part crosses an epoch boundary
    config = tiny_config(tiny_model, epochs=2, max_steps=7, eval_every=3, batch_size=8)

    class Stop(Exception):
        pass

    def stop_at_5(step: int) -> None:
        if step == 5:
            raise Stop

    with pytest.raises(Stop):
        train(data="splits/latest", config=config, root=root, callbacks=[step_callback(stop_at_5)])
    assert runs(root) == []  # nothing published
    staging = [p for p in (root / "runs").iterdir() if p.name.startswith(".staging-")]
    assert len(staging) == 1
    assert [p.name for p in (staging[0] / "checkpoints").iterdir()] == ["checkpoint-3"]  # bounded: only the newest

    seen: list[int] = []
    resumed = train(data="splits/latest", config=config, root=root, resume=True, callbacks=[step_callback(seen.append)])
    assert seen[0] == 4  # continued after the checkpoint of step 3, not from scratch
    assert resumed is not None and not staging[0].exists()
    fresh = train(data="splits/latest", config=config, root=root)
    assert fresh is not None
    assert evaluations(resumed) == evaluations(fresh)
    assert [e[0] for e in evaluations(fresh)] == [3, 6, 7]
    assert np.array_equal(read_probs(resumed.path / "valid_probs.csv").probs, read_probs(fresh.path / "valid_probs.csv").probs)


def test_published_run_holds_weights_not_optimizer_state(tiny_model: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    make_split(root, folds=0)
    art = train(data="splits/latest", config=tiny_config(tiny_model, max_steps=3, eval_every=1), root=root)
    assert art is not None
    names = {p.relative_to(art.path).as_posix() for p in art.path.rglob("*")}
    assert "model/head.safetensors" in names and "model/kre_model.json" in names
    assert any(n.startswith("model/model") and n.endswith(".safetensors") for n in names)
    banned = ("optimizer", "scheduler", "rng_state", "trainer_state", "checkpoint", "scaler", ".pt", ".pth", ".bin", ".npy")
    assert not [n for n in names if any(b in n for b in banned)], names
    metrics = json.loads((art.path / "metrics.json").read_text())
    history = metrics["history"]["model"]
    assert [e["step"] for e in history["eval"]] == [1, 2, 3]
    assert [t["step"] for t in history["train"]] == [1, 2, 3]  # the training loss of every logged step
    assert {"step", "epoch", "loss", "learning_rate"} <= set(history["train"][0])
    assert {"step", "epoch", "loss", "micro_f1", "auprc", "accuracy"} <= set(history["eval"][0])


def test_early_stopping(tiny_model: Path, tmp_path: Path) -> None:
    """A learning rate too small to change the score: the second evaluation is no better, patience 1 stops there."""
    root = tmp_path / "root"
    make_split(root, folds=0)
    art = train(data="splits/latest", config=tiny_config(tiny_model, lr=1e-12, max_steps=6, eval_every=1, early_stopping=1),
                root=root)
    assert art is not None
    metrics = json.loads((art.path / "metrics.json").read_text())
    assert [e["step"] for e in metrics["evaluations"]] == [1, 2]
    assert metrics["stopped_early"] is True and metrics["steps"] == 2
    assert metrics["best"]["step"] == 1  # the first of equal scores is kept


def test_same_seed_same_metrics(tiny_model: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    make_split(root, folds=0)
    a = train(data="splits/latest", config=tiny_config(tiny_model, max_steps=3, eval_every=0), root=root)
    b = train(data="splits/latest", config=tiny_config(tiny_model, max_steps=3, eval_every=0), root=root)
    c = train(data="splits/latest", config=tiny_config(tiny_model, max_steps=3, seed=8), root=root)
    assert a and b and c
    assert evaluations(a) == evaluations(b)
    assert evaluations(a) != evaluations(c)
    assert np.array_equal(read_probs(a.path / "valid_probs.csv").probs, read_probs(b.path / "valid_probs.csv").probs)


# -- failures ----------------------------------------------------------------------------------
def test_nan_loss_stops_with_message(kre, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kre.modeling.losses as losses

    real = losses.build_loss

    def nan_loss(*args, **kwargs):
        inner = real(*args, **kwargs)
        return lambda logits, labels: inner(logits, labels) * float("nan")

    monkeypatch.setattr(losses, "build_loss", nan_loss)
    root = tmp_path / "root"
    make_split(root, folds=0)
    res = kre("train", "splits/latest", "--model", tiny_model, "--root", root, "--max-steps", "4", "--max-length", "64",
              ok=False)
    assert res.exit_code == 1
    assert "NaN" in res.output and "step 1" in res.output and "Traceback" not in res.output
    assert runs(root) == []
    with pytest.raises(TrainingError):
        train(data="splits/latest", config=tiny_config(tiny_model), root=root)


@pytest.mark.parametrize(
    "args, message",
    [
        (["splits/latest", "--model", "MODEL", "--fp16"], "--fp16 needs a CUDA GPU"),
        (["splits/0099", "--model", "MODEL"], "no such artifact"),
        (["eda/latest", "--model", "MODEL"], "no eda artifact"),
        (["splits/latest"], "--model is required"),
        (["splits/latest", "--model", "/nonexistent/model"], "no such model folder"),
        (["splits/latest", "--model", "MODEL", "--folds", "5"], "has 3 folds"),
        (["splits/latest", "--model", "MODEL", "--fold", "1"], "--fold must be"),
        (["splits/latest", "--model", "MODEL", "--test", "BADTEST"], "row 1"),
        (["splits/latest", "--model", "MODEL", "--lr", "0"], "--lr must be positive"),
        (["splits/latest", "--model", "MODEL", "--lr", "nan"], "--lr must be a finite number"),
        (["splits/latest", "--model", "MODEL", "--lr", "inf"], "--lr must be a finite number"),
        (["splits/latest", "--model", "MODEL", "--max-length", "200"], "above the model's limit of 128"),
        (["splits/latest", "--model", "MODEL", "--trainer", "learning_rat=1"], "learning_rate"),
        (["splits/latest", "--model", "MODEL", "--trainer", "gradient_checkpointing"], "KEY=VALUE"),
        (["splits/latest", "--model", "MODEL", "--trainer", "max_grad_norm=big"], "max_grad_norm"),
        (["splits/latest", "--model", "MODEL", "--report-to", "wandb"], "wandb"),
    ],
)
def test_bad_input_exits_1(kre, tiny_model: Path, tmp_path: Path, args: list[str], message: str) -> None:
    root = tmp_path / "root"
    make_split(root)
    bad_test = tmp_path / "bad.csv"
    bad_test.write_text("id,sentence,subject_entity,object_entity,label,source\n0,문장,\"{'word': 'x'}\",y,100,s\n", encoding="utf-8")
    if "--report-to" in args:
        import importlib.util

        if importlib.util.find_spec("wandb") is not None:
            pytest.skip("wandb is installed")
    argv = [str(tiny_model) if a == "MODEL" else str(bad_test) if a == "BADTEST" else a for a in args]
    res = kre("train", "--max-length", "64", *argv, "--root", root, "--max-steps", "1", ok=False)
    assert res.exit_code == 1
    assert "Error:" in res.output and message in res.output
    assert runs(root) == []


def test_config_file_fills_options(kre, tiny_model: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    make_split(root, folds=0)
    cfg = tmp_path / "train.toml"
    cfg.write_text(f'model = "{tiny_model}"\nhead = "cls"\nmax-steps = 1\nbatch-size = 4\nlr = 1e-4\nmax-length = 64\n'
                   '[trainer]\noptim = "adafactor"\nmax_grad_norm = 0.5\n', encoding="utf-8")
    kre("train", "splits/latest", "--config", cfg, "--batch-size", "8", "--root", root,
        "--trainer", "max_grad_norm=2", "--trainer", "lr_scheduler_type=constant", ok=True)
    params = load_artifact(runs(root)[0]).params
    assert params["head"] == "cls" and params["lr"] == 1e-4 and params["batch_size"] == 8  # the flag wins
    # the [trainer] table and --trainer flags (the flag wins), typed, recorded in the manifest
    assert params["trainer"] == {"optim": "adafactor", "max_grad_norm": 2.0, "lr_scheduler_type": "constant"}
    cfg.write_text('bogus = 1\n', encoding="utf-8")
    res = kre("train", "splits/latest", "--config", cfg, "--root", root, ok=False)
    assert "unknown option" in res.output
    cfg.write_text(f'model = "{tiny_model}"\n[trainer]\nwarmup_step = 3\n', encoding="utf-8")
    res = kre("train", "splits/latest", "--config", cfg, "--root", root, ok=False)
    assert "warmup_step" in res.output and "warmup_steps" in res.output  # the closest valid names


def test_trainer_overrides_reach_training_arguments(tiny_model: Path, tmp_path: Path) -> None:
    from transformers import TrainerCallback

    seen = {}

    class Capture(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            seen.update(optim=str(args.optim), scheduler=str(args.lr_scheduler_type), accum=args.gradient_accumulation_steps,
                        logging_nan_inf_filter=args.logging_nan_inf_filter, strategy=args.train_sampling_strategy)

    root = tmp_path / "root"
    make_split(root, folds=0)
    overrides = {"lr_scheduler_type": "constant", "warmup_steps": 0, "optim": "sgd"}
    art = train(data="splits/latest", config=tiny_config(tiny_model, max_steps=3, grad_accum=2, trainer=overrides),
                root=root, callbacks=[Capture()])
    assert art is not None and art.params["trainer"] == overrides
    assert seen["optim"].lower().endswith("sgd") and seen["scheduler"].lower().endswith("constant") and seen["accum"] == 2
    assert not seen["logging_nan_inf_filter"] and seen["strategy"] == "group_by_length"
    rates = [t["learning_rate"] for t in json.loads((art.path / "metrics.json").read_text())["history"]["model"]["train"]]
    assert len(rates) == 3 and len(set(rates)) == 1  # a constant schedule, as overridden


def test_second_train_encodes_nothing(tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kre.modeling.encoding as encoding

    calls: list[int] = []
    real = encoding.encode_examples

    def counting(examples, *args, **kwargs):
        calls.append(len(examples))
        return real(examples, *args, **kwargs)

    monkeypatch.setattr(encoding, "encode_examples", counting)
    root = tmp_path / "root"
    make_split(root, folds=0)
    assert train(data="splits/latest", config=tiny_config(tiny_model, max_steps=1), root=root)
    assert sum(calls) == 48  # 32 train + 16 valid rows, once
    cached = sorted((root / ".cache" / "encodings").glob("*.arrow"))
    assert len(cached) == 2
    calls.clear()
    assert train(data="splits/latest", config=tiny_config(tiny_model, max_steps=1, seed=3, head="cls"), root=root)
    assert calls == []  # same data, tokenizer and template: read from the cache
    assert sorted((root / ".cache" / "encodings").glob("*.arrow")) == cached
    assert train(data="splits/latest", config=tiny_config(tiny_model, max_steps=1, marker="entity-marker"), root=root)
    assert sum(calls) == 48  # another template encodes again


# -- DDP ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_ddp_two_processes_gloo(tiny_model: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    make_split(root, n=40, n_valid=12, folds=0)
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "kre", "train", "splits/latest", "--model", str(tiny_model), "--root", str(root),
           "--batch-size", "4", "--max-steps", "4", "--eval-every", "2", "--max-length", "64"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [run] = runs(root)  # exactly one artifact: only rank 0 writes
    art = load_artifact(run)
    assert art.params["world_size"] == 2 and art.params["effective_batch_size"] == 8
    metrics = json.loads((run / "metrics.json").read_text())
    assert [e["step"] for e in metrics["evaluations"]] == [2, 4]
    assert len(read_probs(run / "valid_probs.csv").ids) == 12  # gathered from both ranks
    assert_probs_match_metrics(run)  # in row order
    assert proc.stdout.count("micro F1") == 1  # one summary, printed by rank 0


@pytest.mark.slow
def test_ddp_under_accelerate_launch(tiny_model: Path, tmp_path: Path) -> None:
    """`accelerate launch --multi_gpu --num_processes 2 -m kre train` runs the same DDP path (gloo without GPUs)."""
    pytest.importorskip("accelerate")
    root = tmp_path / "root"
    make_split(root, n=40, n_valid=12, folds=0)
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", ACCELERATE_CONFIG_FILE=str(tmp_path / "none.yaml"))
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0",
           "-m", "kre", "train", "splits/latest", "--model", str(tiny_model), "--root", str(root),
           "--batch-size", "4", "--max-steps", "2", "--max-length", "64"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [run] = runs(root)
    art = load_artifact(run)
    assert art.params["world_size"] == 2 and art.params["effective_batch_size"] == 8
    assert len(read_probs(run / "valid_probs.csv").ids) == 12
    assert_probs_match_metrics(run)


def test_report_to_sends_every_evaluation(tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--report-to wandb reaches Trainer's report_to; its integration callback gets every evaluation (stand-in class)."""
    import transformers.trainer as hf_trainer
    from transformers import TrainerCallback

    import kre.training.training_run as run_mod

    calls: list[tuple] = []
    asked: list = []

    class FakeIntegration(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "eval_micro_f1" in logs:
                calls.append(("log", state.global_step, dict(logs)))

        def on_train_end(self, args, state, control, **kwargs):
            calls.append(("finish",))

    def integrations(report_to):
        asked.append(list(report_to))
        return [FakeIntegration] if "wandb" in report_to else []

    monkeypatch.setattr(hf_trainer, "get_reporting_integration_callbacks", integrations)
    monkeypatch.setattr(run_mod, "check_report_to", lambda name: None)
    root = tmp_path / "root"
    make_split(root, folds=0)
    art = train(data="splits/latest", config=tiny_config(tiny_model, max_steps=3, eval_every=2, report_to="wandb"), root=root)
    assert art is not None
    assert asked == [["wandb"]] and calls[-1] == ("finish",)
    logged = [c for c in calls if c[0] == "log"]
    assert [c[1] for c in logged] == [2, 3]
    assert {"eval_micro_f1", "eval_auprc", "eval_loss", "eval_accuracy"} <= set(logged[0][2])


def test_pickled_weights_are_refused_not_unpickled(kre, tiny_model: Path, tmp_path: Path) -> None:
    """A model folder whose only weights are a pickled pytorch_model.bin: one-line error, the pickle never runs."""
    import shutil

    import torch

    marker = tmp_path / "pickle-ran"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    folder = tmp_path / "pickled"
    folder.mkdir()
    for f in tiny_model.iterdir():
        if not f.name.endswith(".safetensors"):
            shutil.copy(f, folder / f.name)
    torch.save({"embeddings.word_embeddings.weight": Payload()}, folder / "pytorch_model.bin")
    root = tmp_path / "root"
    make_split(root, folds=0)
    res = kre("train", "splits/latest", "--model", folder, "--root", root, "--max-steps", "1", "--max-length", "64", ok=False)
    assert res.exit_code == 1 and "Error:" in res.output and "Traceback" not in res.output
    assert "cannot load" in res.output and str(folder) in res.output
    assert not marker.exists()
    assert runs(root) == []


def test_model_from_tapt_artifact(tiny_model: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "root"
    make_split(root, folds=0)
    with ArtifactStore(root).create("tapt", "tiny", params={"model": "tiny"}) as b:
        for f in tiny_model.iterdir():
            shutil.copy(f, b.path / f.name)
    art = train(data="splits/latest", config=tiny_config(tiny_model, model="tapt/latest", max_steps=1), root=root)
    assert art is not None
    model_input = [i for i in art.inputs if i["role"] == "model"]
    assert model_input and model_input[0]["artifact"].startswith("tapt/0001")


def test_gradient_accumulation_divides_the_batch_mean_loss(tiny_model: Path, tmp_path: Path) -> None:
    """With --grad-accum N each micro-batch's loss (kre's losses are batch means) is divided by N before backward:
    N micro-batches then give the gradient of their mean, not N times it."""
    import torch
    from transformers import AutoTokenizer, TrainingArguments

    from kre.labels import DEFAULT_LABELS
    from kre.modeling.collate import Collator
    from kre.modeling.encoding import encode_dataset
    from kre.modeling.heads import build_model
    from kre.modeling.templates import TemplateConfig, prepare_tokenizer
    from kre.training.fit import relation_trainer_class

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    template = TemplateConfig("typed-marker-punct", False, "ko", 64)
    prepare_tokenizer(tokenizer, template)
    rows = encode_dataset(synth_examples(8, seed=3), tokenizer, template, DEFAULT_LABELS, cache_dir=tmp_path / "cache")
    batch = Collator(tokenizer.pad_token_id)([rows[i] for i in range(8)])
    model = build_model(tiny_model, head="entity", num_labels=len(DEFAULT_LABELS), tokenizer=tokenizer, dropout=0.0)
    model.encoder.config.hidden_dropout_prob = 0.0
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    loss_fn = torch.nn.CrossEntropyLoss()
    args = TrainingArguments(output_dir=str(tmp_path / "out"), gradient_accumulation_steps=4, use_cpu=True, report_to="none")
    trainer = relation_trainer_class()(model=model, args=args, loss_fn=loss_fn)
    trainer.current_gradient_accumulation_steps = 4  # what Trainer's loop sets for each group of micro-batches

    # the loop also passes the labelled rows of the whole group (Trainer then trusts a loss-kwargs model to scale)
    reported = trainer.training_step(model, dict(batch), num_items_in_batch=torch.tensor(32))
    accumulated = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    model.zero_grad()
    full = loss_fn(model(**{k: v for k, v in batch.items() if k != "labels"}), batch["labels"])
    full.backward()
    plain = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    assert float(reported) == pytest.approx(float(full.detach()) / 4, rel=1e-5)
    assert len(accumulated) == len(plain) > 0
    for a, b in zip(accumulated, plain):
        torch.testing.assert_close(a, b / 4, rtol=1e-4, atol=1e-7)
