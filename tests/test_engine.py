"""kre.engine: TrainingArguments overrides, precision checks, callbacks on a tiny Trainer, OOM errors."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from kre.engine import (
    EndOfTrainingCallback,
    NonFiniteLossCallback,
    OutOfMemoryError,
    ProgressCallback,
    TimeBudgetCallback,
    check_precision,
    parse_overrides,
    raw_overrides,
    replace_default_output,
    training_arguments,
    translate_engine_errors,
)
from kre.errors import ConfigError, TrainingError

# ---------------------------------------------------------------- overrides


def test_parse_overrides_types_values_by_field() -> None:
    got = parse_overrides(
        [
            "gradient_checkpointing=true",
            "torch_compile=1",
            "dataloader_drop_last=no",
            "save_total_limit=2",
            "max_grad_norm=0.5",
            "optim=adafactor",
            'lr_scheduler_kwargs={"num_cycles": 2}',
            "include_for_metrics=inputs,loss",
            "tf32=none",
            "report_to=none",
            "eval_steps=0.25",
            "deepspeed=ds_config.json",
        ],
        kre_options={},
    )
    assert got == {
        "gradient_checkpointing": True,
        "torch_compile": True,
        "dataloader_drop_last": False,
        "save_total_limit": 2,
        "max_grad_norm": 0.5,
        "optim": "adafactor",
        "lr_scheduler_kwargs": {"num_cycles": 2},
        "include_for_metrics": ["inputs", "loss"],
        "tf32": None,
        "report_to": "none",  # a text default: "none" is a value here, not None
        "eval_steps": 0.25,
        "deepspeed": "ds_config.json",
    }
    assert isinstance(got["save_total_limit"], int) and isinstance(got["max_grad_norm"], float)


def test_parse_overrides_from_a_config_table() -> None:
    got = parse_overrides({"gradient-checkpointing": True, "max_grad_norm": 1, "optim": "adamw_torch", "tf32": "false"}, kre_options={})
    assert got == {"gradient_checkpointing": True, "max_grad_norm": 1.0, "optim": "adamw_torch", "tf32": False}
    assert isinstance(got["max_grad_norm"], float)
    with pytest.raises(ConfigError, match="save_total_limit"):
        parse_overrides({"save_total_limit": [1, 2]}, kre_options={})


def test_command_line_items_win_over_the_config_table_key_by_key() -> None:
    raw = raw_overrides(["optim=adafactor", "save-total-limit=3"], {"optim": "adamw_torch", "tf32": True})
    assert raw == {"optim": "adafactor", "tf32": True, "save_total_limit": "3"}
    assert parse_overrides(raw, kre_options={}) == {"optim": "adafactor", "tf32": True, "save_total_limit": 3}
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        raw_overrides(["optim"], {})


def test_unknown_key_names_the_closest_fields() -> None:
    with pytest.raises(ConfigError) as err:
        parse_overrides(["gradient_checkpoint=true"])
    message = str(err.value)
    assert "\n" not in message
    assert "gradient_checkpoint:" in message and "did you mean gradient_checkpointing" in message


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("gradient_checkpointing", "expected KEY=VALUE"),
        ("=true", "expected KEY=VALUE"),
        ("save_total_limit=two", "not an integer"),
        ("max_grad_norm=big", "not a number"),
        ("fp16=maybe", "not a boolean"),
        ('lr_scheduler_kwargs={"a": ', "not valid JSON"),
    ],
)
def test_bad_values_are_one_line_errors(item: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as err:
        parse_overrides([item])
    assert "\n" not in str(err.value)


def test_overriding_a_kre_option_warns_and_names_it(capsys: pytest.CaptureFixture[str]) -> None:
    got = parse_overrides(["learning_rate=1e-4", "output_dir=/elsewhere", "optim=adafactor"])
    assert got["learning_rate"] == 1e-4
    err = capsys.readouterr().err
    assert "learning_rate overrides kre's --lr" in err
    assert "output_dir is ignored" in err
    assert "optim" not in err


# ---------------------------------------------------------------- TrainingArguments


def test_training_arguments_layers_defaults_base_and_overrides(tmp_path: Path) -> None:
    args = training_arguments(
        tmp_path / "stage",
        {"learning_rate": 3e-5, "per_device_train_batch_size": 4, "use_cpu": True, "seed": 7},
        parse_overrides(["learning_rate=1e-4", "save_total_limit=1", "output_dir=/elsewhere"], kre_options={}),
    )
    assert args.output_dir == str(tmp_path / "stage")  # staging folder always wins
    assert args.learning_rate == 1e-4  # override wins over the kre option
    assert args.per_device_train_batch_size == 4 and args.seed == 7 and args.save_total_limit == 1
    assert args.disable_tqdm is True and args.remove_unused_columns is False
    assert args.dataloader_pin_memory is False  # CPU: no pinned memory
    assert args.report_to in ("none", [], ["none"])
    assert args.save_only_model is False


def test_training_arguments_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TrainingArguments: .*IntervalStrategy") as err:
        training_arguments(tmp_path, {"use_cpu": True}, {"eval_strategy": "sometimes"})
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="not TrainingArguments fields: learning_rat"):
        training_arguments(tmp_path, {"learning_rat": 1e-3}, {})


def test_fp16_without_cuda_is_refused_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="--fp16 needs a CUDA GPU"):
        check_precision(fp16=True, bf16=False, use_cpu=False)
    with pytest.raises(ConfigError, match="--fp16 needs a CUDA GPU"):
        training_arguments(tmp_path, {"fp16": True}, {})
    with pytest.raises(ConfigError, match="exclude each other"):
        check_precision(fp16=True, bf16=True, use_cpu=False)
    check_precision(fp16=False, bf16=True, use_cpu=True)  # bf16 on CPU is fine
    check_precision(fp16=False, bf16=False, use_cpu=False)


def test_bf16_on_a_gpu_without_bf16_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Tesla T4")
    with pytest.raises(ConfigError, match=r"--bf16 is not supported by this GPU \(Tesla T4\)") as err:
        check_precision(fp16=False, bf16=True, use_cpu=False)
    assert err.value.hint == "use --fp16"
    check_precision(fp16=False, bf16=True, use_cpu=True)  # the user asked for CPU
    check_precision(fp16=True, bf16=False, use_cpu=False)  # fp16 on that GPU is fine


# ---------------------------------------------------------------- out of memory


def test_cuda_out_of_memory_becomes_a_one_line_error_with_ways_out() -> None:
    import torch

    with pytest.raises(OutOfMemoryError) as err:
        with translate_engine_errors(batch_size=32, grad_accum=2):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 15.7 GiB total)")
    message, hint = str(err.value), err.value.hint or ""
    assert "\n" not in message and "--batch-size 32" in message
    assert "--batch-size 16 --grad-accum 4" in hint and "gradient_checkpointing=true" in hint
    assert isinstance(err.value, TrainingError)
    with pytest.raises(OutOfMemoryError):
        with translate_engine_errors(batch_size=1, grad_accum=1):
            raise RuntimeError("CUDA error: out of memory")


def test_other_errors_pass_through() -> None:
    with pytest.raises(RuntimeError, match="shape mismatch"):
        with translate_engine_errors(batch_size=8, grad_accum=1):
            raise RuntimeError("shape mismatch")
    with pytest.raises(KeyError):
        with translate_engine_errors(batch_size=8, grad_accum=1):
            raise KeyError("x")


# ---------------------------------------------------------------- callbacks on a tiny Trainer


class _Toy:
    """Builders for a one-layer regression model that the real Trainer trains in milliseconds."""

    @staticmethod
    def model(nan_after: int | None = None, sleep: float = 0.0):
        import torch

        class Toy(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.linear = torch.nn.Linear(4, 1)
                self.calls = 0

            def forward(self, x, labels=None):
                self.calls += 1
                if sleep:
                    time.sleep(sleep)
                out = self.linear(x).squeeze(-1)
                loss = torch.nn.functional.mse_loss(out, labels)
                if nan_after is not None and self.calls > nan_after:
                    loss = loss * float("nan")
                return {"loss": loss, "logits": out}

        torch.manual_seed(0)
        return Toy()

    @staticmethod
    def data(n: int = 64) -> list[dict]:
        import torch

        g = torch.Generator().manual_seed(0)
        x = torch.randn(n, 4, generator=g)
        y = x.sum(-1)
        return [{"x": x[i], "labels": y[i]} for i in range(n)]


def _trainer(tmp_path: Path, model, callbacks: list, **extra):
    from transformers import Trainer

    base = {"per_device_train_batch_size": 8, "learning_rate": 0.05, "use_cpu": True, "logging_steps": 1, "save_strategy": "no", **extra}
    args = training_arguments(tmp_path / "out", base, {})
    trainer = Trainer(model=model, args=args, train_dataset=_Toy.data(), callbacks=callbacks)
    replace_default_output(trainer)
    return trainer


def test_progress_prints_plain_lines_without_a_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    def metrics(pred) -> dict[str, float]:
        return {"micro_f1": 41.25 + float(np.zeros(1)[0])}

    progress = ProgressCallback("toy", every=4)
    assert progress.tty is False
    from transformers import Trainer

    args = training_arguments(
        tmp_path / "out",
        {"per_device_train_batch_size": 8, "use_cpu": True, "logging_steps": 2, "save_strategy": "no",
         "num_train_epochs": 1, "eval_strategy": "steps", "eval_steps": 8},
        {},
    )
    trainer = Trainer(model=_Toy.model(), args=args, train_dataset=_Toy.data(), eval_dataset=_Toy.data(16),
                      compute_metrics=metrics, callbacks=[progress])
    replace_default_output(trainer)
    trainer.train()
    out = capsys.readouterr()
    lines = [line for line in out.err.splitlines() if line.startswith("toy: step")]
    assert [line.split()[2] for line in lines] == ["4/8", "8/8", "8/8"]  # every 4 steps, then the evaluation
    assert lines[0].startswith("toy: step 4/8 (50%) loss ")
    assert "elapsed 0:00:0" in lines[0] and "remaining 0:00:0" in lines[0]
    assert lines[-1].endswith("valid F1 41.2")
    assert "{'loss'" not in out.out  # Trainer's own log printing is gone


def test_progress_line_counts_remaining_time_from_the_resumed_step() -> None:
    cb = ProgressCallback("tapt", every=10)
    state = SimpleNamespace(global_step=50, max_steps=100, is_world_process_zero=False)
    cb.on_train_begin(None, state, None)
    cb._started -= 10.0  # 10 s spent on 25 steps since the resume
    cb.on_log(None, state, None, logs={"loss": 2.5})
    line = cb.line(75)
    assert re.fullmatch(r"tapt: step 75/100 \(75%\) loss 2\.500 elapsed 0:00:10 remaining 0:00:(09|10)", line)
    assert "valid F1" not in line


def test_time_budget_stops_training_cleanly(tmp_path: Path) -> None:
    budget = TimeBudgetCallback(minutes=0.15 / 60)  # 0.15 s; each step sleeps 0.05 s
    trainer = _trainer(tmp_path, _Toy.model(sleep=0.05), [budget], max_steps=200)
    trainer.train()
    assert budget.stopped
    assert 2 <= trainer.state.global_step < 20
    assert budget.fraction_spent() == 1.0


def test_time_budget_carries_the_spent_time_into_a_resumed_run() -> None:
    budget = TimeBudgetCallback(minutes=10)
    budget._started = time.monotonic() - 120
    saved = budget.state()
    assert saved["attributes"]["spent_before"] == pytest.approx(120, abs=1)
    resumed = TimeBudgetCallback(minutes=10)
    state = SimpleNamespace(global_step=40, stateful_callbacks={"TimeBudgetCallback": saved})
    resumed.on_train_begin(None, state, None)
    assert resumed.fraction_spent() == pytest.approx(0.2, abs=0.01)
    fresh = TimeBudgetCallback(minutes=10)
    fresh.on_train_begin(None, SimpleNamespace(global_step=0, stateful_callbacks={"TimeBudgetCallback": saved}), None)
    assert fresh.fraction_spent() < 0.01


def test_time_budget_under_ddp_decides_on_rank0_clock_every_sync_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under DDP the stop decision and the lr fraction use rank 0's broadcast time, refreshed every
    `sync_every` steps, never this process's own clock (which differs from rank to rank)."""
    import kre.engine.ranks as ranks_mod

    sent: list[float] = []
    rank0 = iter([30.0, 61.0])  # rank 0's elapsed seconds at steps 10 and 20

    def broadcast(value: float, device: object) -> float:
        sent.append(value)
        return next(rank0)

    monkeypatch.setattr(ranks_mod, "rank0_value", broadcast)
    budget = TimeBudgetCallback(minutes=1, sync_every=10)
    budget._started = time.monotonic() - 1000  # this rank's own clock says the budget is long spent
    args = SimpleNamespace(world_size=2, device="cpu")
    budget.on_train_begin(args, SimpleNamespace(global_step=0, stateful_callbacks={}), None)
    budget._started = time.monotonic() - 1000
    control = SimpleNamespace(should_training_stop=False)
    fractions = []
    for step in range(1, 31):
        budget.on_step_end(args, SimpleNamespace(global_step=step), control)
        fractions.append(budget.fraction_spent())
        if control.should_training_stop:
            break
    assert step == 20 and budget.stopped and len(sent) == 2  # one broadcast per 10 steps
    assert sent[0] > 999  # what was sent is this rank's clock (only rank 0's is used)
    assert fractions == [0.0] * 9 + [0.5] * 10 + [1.0]

    single = TimeBudgetCallback(minutes=1, sync_every=10)  # one process: its own clock at every step, no broadcast
    single.on_train_begin(SimpleNamespace(world_size=1, device="cpu"), SimpleNamespace(global_step=0), None)
    single._started = time.monotonic() - 61
    control = SimpleNamespace(should_training_stop=False)
    single.on_step_end(None, SimpleNamespace(global_step=3), control)
    assert control.should_training_stop and len(sent) == 2


def test_end_of_training_logs_the_last_steps_and_writes_no_final_checkpoint(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, _Toy.model(), [EndOfTrainingCallback()], max_steps=7, logging_steps=5,
                       save_strategy="steps", save_steps=3, save_total_limit=None)
    trainer.train()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["checkpoint-3", "checkpoint-6"]  # none at 7
    assert [h["step"] for h in trainer.state.log_history if "loss" in h] == [5, 7]


def test_nan_loss_that_persists_raises_training_error(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, _Toy.model(nan_after=3), [NonFiniteLossCallback(patience=3)], max_steps=50)
    with pytest.raises(TrainingError, match="NaN/inf"):
        trainer.train()
    assert trainer.state.global_step < 10


def test_a_skipped_step_is_not_an_error_but_a_persisting_one_is() -> None:
    import torch

    guard = NonFiniteLossCallback(patience=3)
    model = torch.nn.Linear(2, 2)  # finite weights: the bad steps were skipped (fp16 loss scaling)
    state = SimpleNamespace(global_step=10)
    guard.on_log(None, state, None, logs={"loss": 0.7, "grad_norm": math.inf}, model=model)
    guard.on_log(None, state, None, logs={"loss": math.nan}, model=model)
    guard.on_log(None, state, None, logs={"loss": 0.6, "grad_norm": 1.0}, model=model)  # recovered: count resets
    guard.on_log(None, state, None, logs={"loss": math.nan}, model=model)
    guard.on_log(None, state, None, logs={"eval_loss": math.nan}, model=model)  # evaluation logs do not count
    guard.on_log(None, state, None, logs={"loss": math.inf}, model=model)
    with pytest.raises(TrainingError, match="3 logs in a row"):
        guard.on_log(None, state, None, logs={"loss": math.nan}, model=model)


def test_progress_on_a_terminal_drives_a_rich_bar() -> None:
    cb = ProgressCallback("train")
    cb.tty = True
    state = SimpleNamespace(global_step=2, max_steps=6, is_world_process_zero=True)
    cb.on_train_begin(None, state, None)  # a resumed run: the bar starts at step 2
    task = cb._bar.tasks[0]
    assert (task.total, task.completed) == (6, 2)
    state.global_step = 4
    cb.on_log(None, state, None, logs={"loss": 1.5})
    cb.on_step_end(None, state, None)
    cb.on_evaluate(None, state, None, metrics={"eval_micro_f1": 55.55})
    assert task.completed == 4 and task.fields["status"] == "loss 1.500  valid F1 55.5"
    cb.on_train_end(None, state, None)
    assert cb._bar is None


def test_progress_is_silent_on_other_ranks(capsys: pytest.CaptureFixture[str]) -> None:
    cb = ProgressCallback("train", every=1)
    state = SimpleNamespace(global_step=0, max_steps=3, is_world_process_zero=False)
    cb.on_train_begin(None, state, None)
    state.global_step = 1
    cb.on_step_end(None, state, None)
    cb.on_evaluate(None, state, None, metrics={"eval_micro_f1": 10.0})
    assert "step" not in capsys.readouterr().err
