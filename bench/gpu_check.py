"""The GPU check of issue 9, driven by `bench/gpu_check.sh` (which sets up the environment).

One CUDA machine, under 8 minutes, one table:
  1. a roberta-large-shaped encoder (24 layers, hidden 1024, 16 heads; random weights from a
     config, a WordPiece tokenizer trained on the fly, no download) trained by `kre train` on
     the real split for 150 steps at batch 32 with --fp16, --bf16, --bf16 --trainer torch_compile=true:
     samples/s, peak GPU memory, whether the training loss fell;
  2. such a run killed mid-way (SIGKILL after its first checkpoint) and continued with --resume;
  3. `kre predict` on test_data.csv from that run;
  4. e5-small-ko for 1 epoch with --bf16: valid micro F1 and epoch time.

Modes: `--cpu` a smoke test of the same steps on CPU (tiny model, a data subset, few steps);
`--prepare` (on the development machine) packs what the device machine lacks into `.gpu-check/`
(data gzipped, e5-small-ko in float16) and `.whl/` (wheels of datasets, dill, multiprocess).
Each `kre` command runs in its own process; the table and a JSON record go to stdout and,
when $OUT is set, to $OUT/gpu_check.md and $OUT/gpu_check.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PACK = REPO / ".gpu-check"
SHARED = REPO.parent.parent / "shared" if (REPO.parent.parent / "shared").is_dir() else REPO.parent / "shared"
WHEELS = ("datasets==5.2.0", "dill==0.4.1", "multiprocess==0.70.19")


@dataclass
class Row:
    """One line of the result table."""

    check: str
    setting: str
    ok: bool | None = None
    samples_s: float | None = None
    peak_gib: float | None = None
    loss: str = ""
    seconds: float | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# -- running kre in a child process, recording its peak GPU memory -------------------------------


def child_main(peak_file: str, argv: list[str]) -> None:
    """Run `kre ARGV` in this process; write torch's peak CUDA memory to `peak_file`."""
    import torch

    from kre.cli import main

    sys.argv = ["kre", *argv]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        peak = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
        Path(peak_file).write_text(json.dumps({"peak_bytes": peak}), encoding="utf-8")
    sys.exit(code)


@dataclass
class Done:
    code: int
    seconds: float
    peak_gib: float | None
    tail: str


def kre(argv: list[str], work: Path, log: Path, *, kill_when: Any = None, timeout: float = 600) -> Done:
    """Run one kre command (optionally SIGKILLed once `kill_when()` is true); output goes to `log`."""
    peak_file = work / f".peak-{time.monotonic_ns()}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(peak_file), "--", *argv]
    started = time.perf_counter()
    with log.open("a", encoding="utf-8") as out:
        out.write(f"\n$ kre {' '.join(argv)}\n")
        out.flush()
        proc = subprocess.Popen(cmd, cwd=work, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            while proc.poll() is None:
                if kill_when is not None and kill_when():
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    break
                if time.perf_counter() - started > timeout:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    break
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    seconds = time.perf_counter() - started
    peak = None
    if peak_file.is_file():
        peak_bytes = json.loads(peak_file.read_text())["peak_bytes"]
        peak = peak_bytes / 2**30 if peak_bytes is not None else None
        peak_file.unlink()
    text = log.read_text(encoding="utf-8", errors="replace")
    return Done(proc.returncode, seconds, peak, text[-1500:])


# -- inputs ---------------------------------------------------------------------------------------


def _open_csv(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def stage_data(source: Path, work: Path, limit: int | None) -> tuple[Path, Path]:
    """train.csv and test_data.csv (gunzipped; the first `limit` rows in --cpu mode) under work/data."""
    out = work / "data"
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in ("train.csv", "test_data.csv"):
        found = _open_csv(source, name)
        if found is None:
            sys.exit(f"gpu_check: {source}/{name}(.gz) not found (run --prepare, or give --data)")
        opener = gzip.open if found.suffix == ".gz" else open
        with opener(found, "rt", encoding="utf-8", newline="") as f:
            import csv

            rows = list(csv.reader(f))
        if limit is not None:
            rows = rows[: 1 + (limit if name == "train.csv" else max(50, limit // 4))]
        target = out / name
        with target.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows(rows)
        paths.append(target)
    return paths[0], paths[1]


def unpacked(folder: Path, target: Path) -> Path:
    """`folder` with its `*.gz` files gunzipped (a copy under `target`), or `folder` itself."""
    if not any(folder.glob("*.gz")):
        return folder
    target.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as src, (target / path.stem).open("wb") as dst:
                shutil.copyfileobj(src, dst)
        elif path.is_file():
            shutil.copy(path, target / path.name)
    return target


def build_large_model(train_csv: Path, folder: Path, *, cpu: bool) -> str:
    """A random-weight encoder saved as a HF folder (float16 weights: kre must load them in float32)."""
    import csv

    import torch
    from transformers import BertConfig, BertModel
    from transformers.utils import logging as hf_logging

    from kre.tapt.model import train_tokenizer

    hf_logging.disable_progress_bar()

    with train_csv.open(encoding="utf-8", newline="") as f:
        texts = [row["sentence"] for row in csv.DictReader(f)]
    tokenizer = train_tokenizer(texts, vocab_size=2000 if cpu else 32000, max_length=512)
    shape = dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=256) if cpu else \
        dict(num_hidden_layers=24, hidden_size=1024, num_attention_heads=16, intermediate_size=4096)
    config = BertConfig(vocab_size=len(tokenizer), max_position_embeddings=514, type_vocab_size=2,
                        pad_token_id=tokenizer.pad_token_id, **shape)
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() and not cpu else "cpu"
    with torch.device(device):
        model = BertModel(config)
    model.to(torch.float16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    n = sum(p.numel() for p in model.parameters())
    return f"{shape['num_hidden_layers']} layers, hidden {shape['hidden_size']}, {n / 1e6:.0f}M parameters"


# -- reading results ------------------------------------------------------------------------------


def latest_run(root: Path) -> Path | None:
    runs = sorted(p for p in (root / "runs").glob("[0-9][0-9][0-9][0-9]-*") if p.is_dir())
    return runs[-1] if runs else None


def run_facts(run: Path) -> dict[str, Any]:
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    train = next(iter(metrics.get("history", {}).values()), {}).get("train", [])
    losses = [float(e["loss"]) for e in train if "loss" in e]
    info = {**manifest.get("info", {}), **manifest}
    return {
        "samples_s": info.get("samples_per_second"),
        "train_seconds": info.get("train_seconds"),
        "steps": info.get("steps"),
        # means of the first and last three logged losses, so one noisy batch does not decide
        "first_loss": sum(losses[:3]) / len(losses[:3]) if losses else None,
        "last_loss": sum(losses[-3:]) / len(losses[-3:]) if losses else None,
        "micro_f1": (manifest.get("metrics") or {}).get("micro_f1"),
        "optimizer_state": any(p.name in ("optimizer.pt", "scheduler.pt", "rng_state.pth") for p in run.rglob("*")),
        "id": manifest.get("id"),
    }


def loss_fell(facts: dict[str, Any]) -> tuple[bool | None, str]:
    a, b = facts.get("first_loss"), facts.get("last_loss")
    if a is None or b is None:
        return None, "no loss log"
    return b < a, f"{a:.3f} -> {b:.3f}"


def staged_checkpoint(root: Path) -> Path | None:
    found = sorted((root / "runs").glob(".staging-*/**/checkpoint-*/trainer_state.json"))
    return found[-1].parent if found else None


# -- the checks -----------------------------------------------------------------------------------


class Check:
    """The checks in priority order, each run only when its estimated time fits the budget."""

    def __init__(self, opts: argparse.Namespace) -> None:
        self.cpu = opts.cpu
        budget = opts.budget if opts.budget is not None else (float("inf") if self.cpu else 470.0)
        self.deadline = time.perf_counter() + budget
        self.work = Path(opts.work).resolve()
        if self.work.exists():
            shutil.rmtree(self.work)
        self.root = self.work / "root"
        self.root.mkdir(parents=True)
        self.log = self.work / "kre.log"
        self.opts = opts
        self.steps = opts.steps or (10 if self.cpu else 150)
        self.device = ["--device", "cpu"] if self.cpu else []
        self.rows: dict[str, Row] = {}
        self.base_seconds = 60.0  # replaced by the first run's measured time

    def room(self, factor: float, extra: float = 0.0) -> bool:
        """True when about `factor` first-run durations (+ `extra` s) still fit before the deadline."""
        return time.perf_counter() + factor * self.base_seconds + extra < self.deadline

    def kre(self, argv: list[str], **kw: Any) -> Done:
        timeout = max(60.0, min(600.0, self.deadline + 60 - time.perf_counter()))
        return kre(argv, self.work, self.log, timeout=timeout, **kw)

    def prepare(self) -> bool:
        opts = self.opts
        data_dir = Path(opts.data) if opts.data else (PACK / "data" if (PACK / "data").is_dir() else SHARED / "data" / "klue-re")
        self.train_csv, self.test_csv = stage_data(data_dir, self.work, opts.rows if self.cpu else None)
        t = time.perf_counter()
        done = self.kre(["split", str(self.train_csv), "--root", str(self.root)])
        if done.code != 0:
            print(done.tail)
            self.rows["0"] = Row("split", "real train.csv", False, note=_last_error(done.tail))
            return False
        self.model_dir = self.work / "large"
        shape = build_large_model(self.train_csv, self.model_dir, cpu=self.cpu)
        print(f"model: {shape}; tokenizer and weights built in {time.perf_counter() - t:.0f}s", flush=True)
        self.common = ["train", "splits/latest", "--model", str(self.model_dir), "--max-steps", str(self.steps),
                       "--batch-size", "32", "--eval-batch-size", "256", "--root", str(self.root), *self.device]
        return True

    def large(self, key: str, label: str, name: str, flags: list[str], factor: float, extra: float = 0.0) -> None:
        check = f"1 {'tiny' if self.cpu else 'large'}, {self.steps} steps"
        if self.cpu and "torch_compile" in label:
            self.rows[key] = Row(check, label, None, note="skipped in --cpu mode")
            return
        if not self.room(factor, extra):
            self.rows[key] = Row(check, label, None, note="skipped: time budget")
            return
        done = self.kre([*self.common, *flags, "--name", name])
        run = latest_run(self.root)
        if key == "1a":
            self.base_seconds = done.seconds
        if done.code != 0 or run is None or not run.name.endswith(name):
            self.rows[key] = Row(check, label, False, seconds=done.seconds, note=_last_error(done.tail))
            return
        facts = run_facts(run)
        fell, loss = loss_fell(facts)
        self.rows[key] = Row(check, label, fell, facts["samples_s"], done.peak_gib, loss, done.seconds,
                             note="optimizer state published!" if facts["optimizer_state"] else "", extra=facts)

    def resume(self) -> None:
        key, check = "2", "2 kill + --resume"
        if not self.room(2.0):
            self.rows[key] = Row(check, "--bf16", None, note="skipped: time budget")
            return
        cmd = [*self.common, "--bf16", "--eval-every", str(max(2, self.steps // 3)), "--name", "resume"]
        seen: dict[str, Any] = {}

        def checkpoint_written() -> bool:
            found = staged_checkpoint(self.root)
            if found is not None:
                seen.setdefault("at", found.name)
                seen.setdefault("t", time.perf_counter())
            return found is not None and time.perf_counter() - seen["t"] > 1.0

        killed = self.kre(cmd, kill_when=checkpoint_written)
        if "at" not in seen:
            self.rows[key] = Row(check, "--bf16", False, seconds=killed.seconds,
                                 note=f"no checkpoint before the end (exit {killed.code})")
            return
        again = self.kre([*cmd, "--resume"])
        run = latest_run(self.root)
        facts = run_facts(run) if again.code == 0 and run is not None else {}
        ok = again.code == 0 and facts.get("steps") == self.steps
        self.resumed_run = run if ok else None
        losses = [facts.get("first_loss"), facts.get("last_loss")]
        self.rows[key] = Row(check, "--bf16", ok, facts.get("samples_s"), again.peak_gib,
                             " -> ".join(f"{x:.3f}" if x is not None else "?" for x in losses), again.seconds,
                             note=f"SIGKILL after {seen['at']}, resumed to step {facts.get('steps')}" if ok
                             else _last_error(again.tail))

    def predict(self) -> None:
        key, check = "3", "3 kre predict"
        source = getattr(self, "resumed_run", None) or latest_run(self.root)
        if source is None or not self.room(0.5):
            self.rows[key] = Row(check, "test_data.csv", None, note="skipped: no run or time budget")
            return
        done = self.kre(["predict", str(source), str(self.test_csv), "--batch-size", "256", "--root", str(self.root)])
        probs = sorted((self.root / "predictions").glob("[0-9]*/probs.csv"))
        n = sum(1 for _ in probs[-1].open(encoding="utf-8")) - 1 if probs and done.code == 0 else 0
        expected = sum(1 for _ in self.test_csv.open(encoding="utf-8")) - 1
        self.rows[key] = Row(check, f"from {source.name}", done.code == 0 and n == expected,
                             round(n / done.seconds, 1) if n else None, done.peak_gib, "", done.seconds,
                             note=f"{n} of {expected} rows of test_data.csv" if done.code == 0 else _last_error(done.tail))

    def e5(self) -> None:
        key = "4"
        check = "4 e5-small-ko, 2 steps" if self.cpu else "4 e5-small-ko, 1 epoch"
        setting = "fp32 (cpu)" if self.cpu else "--bf16"
        opts = self.opts
        e5 = Path(opts.e5) if opts.e5 else (PACK / "e5-small-ko" if (PACK / "e5-small-ko").is_dir() else SHARED / "models" / "e5-small-ko")
        if not (e5 / "config.json").is_file():
            self.rows[key] = Row(check, setting, None, note=f"skipped: no model at {e5}")
            return
        if not self.room(1.5):
            self.rows[key] = Row(check, setting, None, note="skipped: time budget")
            return
        e5 = unpacked(e5, self.work / "e5-small-ko")
        # --cpu: fp32 (bf16 autocast is emulated, minutes per step, on CPUs without bf16 units), 2 small steps
        options = ["--max-steps", "2", "--batch-size", "8", "--max-length", "128"] if self.cpu else ["--bf16", "--batch-size", "32"]
        done = self.kre(["train", "splits/latest", "--model", str(e5), "--epochs", "1", *options,
                         "--eval-batch-size", "256", "--root", str(self.root), "--name", "e5", *self.device])
        run = latest_run(self.root)
        if done.code != 0 or run is None or not run.name.endswith("e5"):
            self.rows[key] = Row(check, setting, False, seconds=done.seconds, note=_last_error(done.tail))
            return
        facts = run_facts(run)
        _, loss = loss_fell(facts)
        f1 = facts.get("micro_f1")
        self.rows[key] = Row(check, setting, True, facts["samples_s"], done.peak_gib, loss, facts.get("train_seconds"),
                             note=(f"valid micro F1 {f1:.2f}; " if f1 is not None else "") + "seconds = the epoch's training time",
                             extra=facts)


def main_check(opts: argparse.Namespace) -> int:
    env_note = _environment(opts.cpu)
    print(env_note, flush=True)
    check = Check(opts)
    os.environ["KRE_CACHE"] = str(check.work / "cache")
    if check.prepare():
        # most important first; torch_compile (slowest, most fragile) last; the table keeps the order
        check.large("1a", "fp32 (cpu)" if opts.cpu else "--fp16", "fp32" if opts.cpu else "fp16", [] if opts.cpu else ["--fp16"], 0.0)
        check.large("1b", "--bf16", "bf16", ["--bf16"], 1.0)
        check.resume()
        check.predict()
        check.e5()
        check.large("1c", "--bf16 torch_compile", "bf16-compile", ["--bf16", "--trainer", "torch_compile=true"], 1.5, 60.0)
    rows = [check.rows[k] for k in sorted(check.rows)]
    return _finish(rows, check.work, env_note)


def _last_error(tail: str) -> str:
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("Error", "Traceback")) or "Error" in line[:40]]
    return (errors[-1] if errors else (lines[-1] if lines else "failed"))[:160]


def _environment(cpu: bool) -> str:
    import torch
    import transformers

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no CUDA GPU"
    return (f"gpu_check ({'--cpu smoke' if cpu else 'GPU'}): {gpu}; torch {torch.__version__}, "
            f"transformers {transformers.__version__}, python {sys.version.split()[0]}")


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _finish(rows: list[Row], work: Path, env_note: str) -> int:
    head = "| check | setting | passed | samples/s | peak GPU GiB | train loss first -> last | seconds | note |"
    lines = [env_note, "", head, "|" + "---|" * 8]
    for r in rows:
        lines.append(f"| {r.check} | {r.setting} | {_fmt(r.ok)} | {_fmt(r.samples_s)} | {_fmt(r.peak_gib, 2)} | {r.loss} | "
                     f"{_fmt(r.seconds, 0)} | {r.note} |")
    table = "\n".join(lines)
    print("\n" + table, flush=True)
    out = os.environ.get("OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        Path(out, "gpu_check.md").write_text(table + "\n", encoding="utf-8")
        Path(out, "gpu_check.json").write_text(json.dumps([r.__dict__ for r in rows], indent=2, default=str), encoding="utf-8")
        shutil.copy(work / "kre.log", Path(out, "kre.log"))
    return 0 if all(r.ok is not False for r in rows) else 1


# -- packing what the device machine lacks --------------------------------------------------------


def prepare(opts: argparse.Namespace) -> int:
    """Fill .gpu-check/ (gzipped data, e5-small-ko in float16) and .whl/ (missing packages); both git-ignored."""
    exclude = Path(subprocess.run(["git", "rev-parse", "--git-path", "info/exclude"], cwd=REPO, text=True,
                                  capture_output=True, check=True).stdout.strip())
    exclude = exclude if exclude.is_absolute() else REPO / exclude
    known = exclude.read_text(encoding="utf-8").splitlines() if exclude.is_file() else []
    with exclude.open("a", encoding="utf-8") as f:
        for entry in ("/.gpu-check/", "/.whl/"):
            if entry not in known:
                f.write(entry + "\n")
    data = PACK / "data"
    data.mkdir(parents=True, exist_ok=True)
    source = Path(opts.data) if opts.data else SHARED / "data" / "klue-re"
    for name in ("train.csv", "test_data.csv"):
        with (source / name).open("rb") as src, gzip.open(data / f"{name}.gz", "wb", compresslevel=9) as dst:
            shutil.copyfileobj(src, dst)
    e5_src = Path(opts.e5) if opts.e5 else SHARED / "models" / "e5-small-ko"
    if (e5_src / "config.json").is_file():
        import torch
        from transformers import AutoModel, AutoTokenizer

        target = PACK / "e5-small-ko"
        AutoModel.from_pretrained(e5_src).to(torch.float16).save_pretrained(target)
        AutoTokenizer.from_pretrained(e5_src).save_pretrained(target)
        for big in (target / "model.safetensors", target / "tokenizer.json"):  # the weights gzip to ~2/3
            with big.open("rb") as src, gzip.open(big.with_name(big.name + ".gz"), "wb", compresslevel=9) as dst:
                shutil.copyfileobj(src, dst)
            big.unlink()
    if not opts.no_wheels:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
               "--implementation", "cp", "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
               "--platform", "manylinux2014_x86_64", "-d", str(REPO / ".whl"), *WHEELS]
        subprocess.run(cmd, check=True)
    total = sum(p.stat().st_size for d in (PACK, REPO / ".whl") if d.is_dir() for p in d.rglob("*") if p.is_file())
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    tree = sum((REPO / f.decode()).stat().st_size for f in tracked if f and (REPO / f.decode()).is_file())
    print(f"packed {total / 2**20:.1f} MiB in .gpu-check/ and .whl/, plus {tree / 2**20:.1f} MiB of tracked files "
          f"(the device tool carries 64 MiB): run(command='bash bench/gpu_check.sh', carry=['.gpu-check', '.whl'])")
    return 0 if total + tree < 62 * 2**20 else 1


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child_main(sys.argv[2], sys.argv[4:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="smoke test on CPU: tiny model, a data subset, few steps")
    parser.add_argument("--prepare", action="store_true", help="pack data, e5-small-ko and wheels for the device machine")
    parser.add_argument("--no-wheels", action="store_true", help="--prepare without downloading wheels")
    parser.add_argument("--data", help="folder with train.csv(.gz) and test_data.csv(.gz)")
    parser.add_argument("--e5", help="e5-small-ko model folder")
    parser.add_argument("--work", default="/tmp/kre-gpu-check", help="scratch folder (emptied first)")
    parser.add_argument("--steps", type=int, default=0, help="training steps of check 1 (default 150; 10 with --cpu)")
    parser.add_argument("--rows", type=int, default=300, help="--cpu: training rows used")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds after which the remaining checks are skipped (default 450; none with --cpu)")
    opts = parser.parse_args()
    return prepare(opts) if opts.prepare else main_check(opts)


if __name__ == "__main__":
    sys.exit(main())
