"""Benchmark: `kre train` against a plain reproduction of the KLUE-RE starter pipeline.

One run, same machine, same model, same split, same lr / batch size / number of steps:

- starter: input `subject[SEP]object` + sentence, the whole data set padded to its
  longest row (max_length 256), AutoModelForSequenceClassification ([CLS] pooler head),
  cross-entropy, random batches;
- kre: `kre.training.training_run.train` with typed-marker-punct, the entity head, label
  smoothing 0.1, per-batch padding with length-grouped batches.

Each system trains in its own subprocess (so peak memory, `ru_maxrss`, is its own),
for a fixed number of optimizer steps; training samples/second counts only the
training steps (no tokenization, no evaluation). Then both are scored on the same
validation rows (micro F1 without no_relation, AUPRC). The table is printed and
written to bench/results.md.

    python bench/bench_train.py                      # defaults: 2,000 train / 500 valid rows
    python bench/bench_train.py --steps 40 --rounds 2

The model is /work/shared/models/e5-small-ko when present, else a tiny BERT built here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import tempfile
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_MODEL = Path("/work/shared/models/e5-small-ko")
DEFAULT_DATA = Path("/work/shared/data/klue-re/train.csv")


# -- setup ------------------------------------------------------------------------------------
def build_tiny_model(folder: Path, texts: list[str]) -> Path:
    """A 4-layer hidden-128 BERT with a WordPiece vocab trained on the data (no pretraining)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from tokenizers.processors import TemplateProcessing
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=8000, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                            special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=512)
    config = BertConfig(vocab_size=len(fast), hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=512, max_position_embeddings=512, pad_token_id=fast.pad_token_id)
    folder.mkdir(parents=True, exist_ok=True)
    BertModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def make_split(root: Path, data: Path, n_train: int, n_valid: int, seed: int) -> Path:
    """A group-aware subset: rows sharing a sentence are on one side only."""
    from kre.artifacts import ArtifactStore
    from kre.data import read_examples, write_csv

    examples = read_examples(data)
    groups: dict[str, list] = {}
    for e in examples:
        groups.setdefault(e.sentence, []).append(e)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    train, valid = [], []
    for k in keys:
        if len(valid) < n_valid:
            valid += groups[k]
        elif len(train) < n_train:
            train += groups[k]
        else:
            break
    store = ArtifactStore(root)
    with store.create("splits", "bench", params={"seed": seed, "train_rows": len(train), "valid_rows": len(valid),
                                                 "source": str(data), "group_aware": True}, seed=seed) as b:
        write_csv(b.path / "train.csv", train)
        write_csv(b.path / "valid.csv", valid)
    assert b.published is not None
    return b.published.path


# -- workers (one subprocess each) ---------------------------------------------------------------
def load_average() -> float:
    return os.getloadavg()[0]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def worker_starter(args: argparse.Namespace) -> dict:
    """The starter pipeline, reproduced plainly."""
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from kre.data import read_examples
    from kre.labels import DEFAULT_LABELS
    from kre.metrics import evaluate

    torch.manual_seed(args.seed)
    split = Path(args.split)
    tokenizer = AutoTokenizer.from_pretrained(args.model)

    def encode(rows):  # starter: subject[SEP]object + sentence, padded to the longest row, max 256
        firsts = [f"{e.subject.word}[SEP]{e.object.word}" for e in rows]
        enc = tokenizer(firsts, [e.sentence for e in rows], padding=True, truncation=True, max_length=256,
                        add_special_tokens=True, return_tensors="pt")
        labels = torch.tensor(DEFAULT_LABELS.ids([e.label for e in rows]))
        return enc, labels

    train_rows, valid_rows = read_examples(split / "train.csv"), read_examples(split / "valid.csv")
    train_enc, train_y = encode(train_rows)
    valid_enc, valid_y = encode(valid_rows)
    model = AutoModelForSequenceClassification.from_pretrained(args.model, num_labels=len(DEFAULT_LABELS))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = int(args.steps * 0.1 + 0.999)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / (warmup + 1) if s < warmup else max(0.0, (args.steps - s) / max(1, args.steps - warmup)))
    loss_fn = torch.nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(args.seed)
    n = len(train_rows)
    order: list[int] = []
    model.train()
    train_seconds, samples = 0.0, 0
    for _ in range(args.steps):
        if len(order) < args.batch_size:
            order += torch.randperm(n, generator=g).tolist()
        idx, order = order[: args.batch_size], order[args.batch_size :]
        t0 = time.perf_counter()
        batch = {k: v[idx] for k, v in train_enc.items()}
        logits = model(**batch).logits
        loss = loss_fn(logits, train_y[idx])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        train_seconds += time.perf_counter() - t0
        samples += len(idx)
    if args.skip_eval:  # later rounds only re-measure speed; the scores are deterministic
        return {"samples_per_second": samples / train_seconds, "train_seconds": train_seconds, "samples": samples,
                "padded_length": int(train_enc["input_ids"].shape[1]), "peak_rss_mb": peak_rss_mb(), "load_avg": load_average()}
    model.eval()
    probs = []
    with torch.inference_mode():
        for i in range(0, len(valid_rows), args.eval_batch_size):
            batch = {k: v[i : i + args.eval_batch_size] for k, v in valid_enc.items()}
            probs.append(torch.softmax(model(**batch).logits, -1).numpy())
    scores = evaluate(valid_y.numpy(), np.concatenate(probs), DEFAULT_LABELS, detail=False)
    return {"samples_per_second": samples / train_seconds, "train_seconds": train_seconds, "samples": samples,
            "padded_length": int(train_enc["input_ids"].shape[1]), "micro_f1": scores["micro_f1"],
            "auprc": scores["auprc"], "accuracy": scores["accuracy"], "peak_rss_mb": peak_rss_mb(), "load_avg": load_average()}


def worker_kre(args: argparse.Namespace) -> dict:
    """`kre train` with its defaults for speed and the techniques that helped on KLUE-RE."""
    from kre.training.config import TrainConfig
    from kre.training.training_run import train

    config = TrainConfig(model=args.model, marker="typed-marker-punct", head="entity", loss="label-smoothing",
                         smoothing=0.1, lr=args.lr, batch_size=args.batch_size, eval_batch_size=args.eval_batch_size,
                         epochs=100, max_steps=args.steps, eval_every=args.steps, warmup_ratio=0.1, weight_decay=0.01,
                         max_length=256, seed=args.seed, device="cpu")
    art = train(data=args.split, config=config, root=args.root, slug="bench")
    assert art is not None
    m = art.manifest
    return {"samples_per_second": m["samples_per_second"], "train_seconds": m["train_seconds"],
            "samples": args.steps * args.batch_size, "micro_f1": art.metrics["micro_f1"], "auprc": art.metrics["auprc"],
            "accuracy": art.metrics["accuracy"], "peak_rss_mb": peak_rss_mb(), "run": str(art.path),
            "steps": args.steps, "load_avg": load_average()}


# -- driver -----------------------------------------------------------------------------------
def run_worker(kind: str, args: argparse.Namespace, split: Path, root: Path, steps: int | None = None,
               skip_eval: bool = False) -> dict:
    out = root / f"result-{kind}-{time.time_ns()}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--split", str(split), "--root", str(root),
           "--model", str(args.model), "--steps", str(steps or args.steps), "--batch-size", str(args.batch_size),
           "--eval-batch-size", str(args.eval_batch_size), "--lr", str(args.lr), "--seed", str(args.seed),
           "--threads", str(args.threads), "--result", str(out), *(["--skip-eval"] if skip_eval else [])]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"))
    result = json.loads(out.read_text())
    result["wall_s"] = time.perf_counter() - t0
    return result


def table(rows: dict[str, dict], args: argparse.Namespace, model: str, split: Path, rounds: int,
          equal_time: dict | None = None) -> str:
    s, k = rows["starter"], rows["kre"]
    lines = [
        "| pipeline | train samples/s | peak RSS (MB) | valid micro F1 | valid AUPRC | accuracy |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in (("starter (pad to longest, [CLS], CE)", s), ("kre train (typed punct, entity head, LS 0.1, dynamic padding)", k)):
        lines.append(f"| {name} | {r['samples_per_second']:.2f} | {r['peak_rss_mb']:.0f} | {r['micro_f1']:.2f} | {r['auprc']:.2f} | {r['accuracy']:.2f} |")
    lines.append(f"| **kre / starter** | **{k['samples_per_second'] / s['samples_per_second']:.2f}x** | "
                 f"{k['peak_rss_mb'] / s['peak_rss_mb']:.2f}x | {k['micro_f1'] - s['micro_f1']:+.2f} | {k['auprc'] - s['auprc']:+.2f} | "
                 f"{k['accuracy'] - s['accuracy']:+.2f} |")
    if equal_time is not None:
        e = equal_time
        lines.append(f"| kre train, {e['steps']} steps (about the starter's training time for {args.steps} steps) | "
                     f"{e['samples_per_second']:.2f} | {e['peak_rss_mb']:.0f} | {e['micro_f1']:.2f} | {e['auprc']:.2f} | {e['accuracy']:.2f} |")
    meta = (f"Model `{public_name(model)}`; split `{split.name}` ({args.train_rows} train / {args.valid_rows} valid rows requested, "
            f"group-aware subset of KLUE-RE train.csv, seed {args.seed}); {args.steps} optimizer steps, batch {args.batch_size}, "
            f"lr {args.lr}, linear warmup 10 % + decay, AdamW, fp32, CPU ({platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores, torch threads {args.threads or 'default'}). Throughput = training samples / seconds spent in training steps "
            f"(mean of {rounds} round(s), runs alternated; per round: starter {s['per_round']}, kre {k['per_round']}); "
            f"peak RSS = ru_maxrss of the first round's process of each (includes evaluation). "
            f"Starter padded length: {s.get('padded_length', '?')} tokens. "
            f"The machine's cores were shared with other jobs (highest 1-minute load average at the end of a run: "
            f"starter {s.get('load_avg', float('nan')):.1f}, kre {k.get('load_avg', float('nan')):.1f}), so absolute "
            f"numbers are low and the ratio carries several tens of percent of noise.")
    return "\n".join(lines) + "\n\n" + meta + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(DEFAULT_MODEL) if DEFAULT_MODEL.exists() else "")
    ap.add_argument("--data", default=str(DEFAULT_DATA if DEFAULT_DATA.exists() else HERE.parent / "kre/sample_data/train.csv"))
    ap.add_argument("--train-rows", type=int, default=2000)
    ap.add_argument("--valid-rows", type=int, default=500)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--eval-batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--rounds", type=int, default=1, help="alternate starter/kre runs this many times and average")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads per run (0 = torch default); 1 is far less sensitive to other jobs on a shared CPU")
    ap.add_argument("--skip-eval", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--equal-time", action="store_true",
                    help="also train kre for as many steps as fit in the starter's training time (capped at 6x)")
    ap.add_argument("--workdir", default=str(Path(tempfile.gettempdir()) / "kre-bench"))
    ap.add_argument("--out", default=str(HERE / "results.md"))
    # worker mode (internal)
    ap.add_argument("--worker", choices=("starter", "kre"))
    ap.add_argument("--split")
    ap.add_argument("--root")
    ap.add_argument("--result")
    args = ap.parse_args()
    if args.worker:
        if args.threads > 0:
            import torch

            torch.set_num_threads(args.threads)
        fn = worker_starter if args.worker == "starter" else worker_kre
        Path(args.result).write_text(json.dumps(fn(args)))
        return
    workdir = Path(args.workdir)
    root = workdir / "root"
    root.mkdir(parents=True, exist_ok=True)
    if not args.model:
        from kre.data import read_examples

        texts = [e.sentence for e in read_examples(args.data)][:5000]
        args.model = str(build_tiny_model(workdir / "tiny-bert", texts))
    split = make_split(root, Path(args.data), args.train_rows, args.valid_rows, args.seed)
    results: dict[str, list[dict]] = {"starter": [], "kre": []}
    for r in range(args.rounds):
        order = ("starter", "kre") if r % 2 == 0 else ("kre", "starter")
        for kind in order:
            res = run_worker(kind, args, split, root, skip_eval=r > 0 and kind == "starter")
            print(f"round {r + 1} {kind}: {json.dumps(res)}", flush=True)
            results[kind].append(res)
    merged = {}
    for kind, rs in results.items():
        m = dict(rs[0])
        m["samples_per_second"] = sum(x["samples_per_second"] for x in rs) / len(rs)
        m["per_round"] = [round(x["samples_per_second"], 2) for x in rs]
        m["load_avg"] = max(x["load_avg"] for x in rs)
        merged[kind] = m
    equal = None
    if args.equal_time:
        ratio = merged["kre"]["samples_per_second"] / merged["starter"]["samples_per_second"]
        steps = max(args.steps, min(int(args.steps * ratio), 6 * args.steps))
        equal = run_worker("kre", args, split, root, steps=steps)
        print(f"equal time kre ({steps} steps): {json.dumps(equal)}", flush=True)
    text = table(merged, args, args.model, split, args.rounds, equal)
    header = (f"# kre train vs the starter pipeline\n\nMeasured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
              f"with `python bench/bench_train.py {' '.join(public_name(a) for a in sys.argv[1:])}`.\n\n")
    Path(args.out).write_text(header + text, encoding="utf-8")
    print(text)


def public_name(text: str) -> str:
    """An argument as the results file shows it: a local absolute path becomes its last part (no machine paths)."""
    return Path(text).name if os.path.isabs(text) else text


if __name__ == "__main__":
    main()
