"""TrainingArguments from kre's own options plus `--trainer KEY=VALUE` overrides.

The rule: kre's options (`--lr`, `--batch-size`, `--epochs`, ...) keep their names and
defaults and map onto TrainingArguments fields (the `base` mapping). Any field can also
be set with `--trainer KEY=VALUE` or a `[trainer]` table in `--config`; an override wins
over the kre option it shadows, with a warning naming that option. `output_dir` is the
exception: kre always sets it to the run's staging folder (an override is ignored, with a
warning), because nothing may be written outside staging before the run completes.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from collections.abc import Mapping, Sequence
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

from ..console import warn
from ..errors import ConfigError

#: TrainingArguments fields that kre sets from its own options -> the option to use instead.
KRE_OPTIONS: dict[str, str] = {
    "output_dir": "kre's staging folder (always set by kre)",
    "learning_rate": "--lr",
    "per_device_train_batch_size": "--batch-size",
    "per_device_eval_batch_size": "--eval-batch-size",
    "num_train_epochs": "--epochs",
    "max_steps": "--max-steps",
    "seed": "--seed",
    "fp16": "--fp16",
    "bf16": "--bf16",
    "gradient_accumulation_steps": "--grad-accum",
    "weight_decay": "--weight-decay",
    "warmup_steps": "--warmup-ratio",
    "report_to": "--report-to",
    "resume_from_checkpoint": "--resume",
    "use_cpu": "--device cpu",
}

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_NONE = {"none", "null"}


@cache
def _field_types() -> dict[str, Any]:
    """Every TrainingArguments init field -> its resolved type annotation."""
    from transformers import TrainingArguments

    try:
        hints = typing.get_type_hints(TrainingArguments)
    except Exception:  # an annotation that cannot be resolved: fall back to the raw ones
        hints = {}
    return {f.name: hints.get(f.name, f.type) for f in dataclasses.fields(TrainingArguments) if f.init}


def trainer_fields() -> list[str]:
    """The names `--trainer KEY=VALUE` accepts (every TrainingArguments field)."""
    return sorted(_field_types())


def _members(annotation: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _kinds(annotation: Any) -> set[str]:
    """The value kinds a field accepts: bool, int, float, str, json, none."""
    kinds: set[str] = set()
    for member in _members(annotation):
        origin = typing.get_origin(member) or member
        if member is type(None):
            kinds.add("none")
        elif member is bool:
            kinds.add("bool")
        elif member is int:
            kinds.add("int")
        elif member is float:
            kinds.add("float")
        elif member is str or origin is typing.Literal or (isinstance(origin, type) and issubclass(origin, Enum)):
            kinds.add("str")
        elif origin in (dict, list, tuple) or origin is Mapping or origin is Sequence:
            kinds.add("json")
        else:
            kinds.add("other")
    return kinds


def _closest(key: str) -> str:
    near = difflib.get_close_matches(key, trainer_fields(), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(near)}?" if near else ""


@cache
def _string_default(key: str) -> bool:
    """True when the field's default is text (then "none" is a value, e.g. report_to=none)."""
    from transformers import TrainingArguments

    field = next(f for f in dataclasses.fields(TrainingArguments) if f.name == key)
    return isinstance(field.default, str)


def _convert(key: str, raw: Any) -> Any:
    """Type one value for field `key` (strings are parsed; typed values are checked)."""
    kinds = _kinds(_field_types()[key])
    where = f"--trainer {key}"
    if not isinstance(raw, str):
        if raw is None and "none" in kinds:
            return None
        if isinstance(raw, bool):
            if "bool" in kinds:
                return raw
        elif isinstance(raw, int) and kinds & {"int", "float"}:
            return raw if "int" in kinds else float(raw)
        elif isinstance(raw, float) and "float" in kinds:
            return raw
        elif isinstance(raw, (dict, list)) and "json" in kinds:
            return raw
        elif "other" in kinds:
            return raw
        raise ConfigError(f"{where}: {raw!r} is not a valid value (expected {_describe(kinds)})")
    text = raw.strip()
    if text.lower() in _NONE and "none" in kinds and not _string_default(key):
        return None
    if "bool" in kinds:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        if kinds <= {"bool", "none"}:
            raise ConfigError(f"{where}: '{raw}' is not a boolean (use true/false, 1/0, yes/no)")
    if "int" in kinds:
        try:
            return int(text)
        except ValueError:
            if kinds <= {"int", "none"}:
                raise ConfigError(f"{where}: '{raw}' is not an integer") from None
    if "float" in kinds:
        try:
            return float(text)
        except ValueError:
            if kinds <= {"float", "int", "none"}:
                raise ConfigError(f"{where}: '{raw}' is not a number") from None
    if "json" in kinds and (text[:1] in "[{" or "str" not in kinds):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            if "str" not in kinds:
                # a plain list of names may also be written comma-separated
                return [part.strip() for part in text.split(",") if part.strip()]
            raise ConfigError(f"{where}: '{raw}' is not valid JSON ({exc.msg})") from None
        return value
    if "str" in kinds or "other" in kinds:
        return text
    raise ConfigError(f"{where}: '{raw}' is not a valid value (expected {_describe(kinds)})")


def _describe(kinds: set[str]) -> str:
    names = {"bool": "true/false", "int": "an integer", "float": "a number", "str": "text", "json": "JSON", "none": "none"}
    return " or ".join(names[k] for k in sorted(kinds) if k in names) or "a value"


def raw_overrides(items: Sequence[str] | Mapping[str, Any], table: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Untyped overrides: a `[trainer]` table (typed TOML values) updated by "KEY=VALUE" items.

    Keys are normalised to snake_case; the command line wins over the table, key by key.

    Raises:
        ConfigError: an item without "=".
    """
    out: dict[str, Any] = {str(k).strip().replace("-", "_"): v for k, v in (table or {}).items()}
    if isinstance(items, Mapping):
        out.update({str(k).strip().replace("-", "_"): v for k, v in items.items()})
        return out
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--trainer '{item}': expected KEY=VALUE", hint="e.g. --trainer gradient_checkpointing=true")
        out[key.strip().replace("-", "_")] = value
    return out


def parse_overrides(
    items: Sequence[str] | Mapping[str, Any], *, kre_options: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Typed TrainingArguments overrides from "KEY=VALUE" strings or a `[trainer]` table.

    Args:
        items: repeated `--trainer KEY=VALUE` strings, or a mapping (TOML values).
        kre_options: fields the calling command sets itself -> its option (default: KRE_OPTIONS);
            overriding one warns and names the option.

    Raises:
        ConfigError: a malformed item, an unknown key (with the closest valid names) or a value
            of the wrong type.
    """
    pairs = list(raw_overrides(items).items())
    known = _field_types()
    owned = KRE_OPTIONS if kre_options is None else kre_options
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key not in known:
            raise ConfigError(
                f"--trainer {key}: not a TrainingArguments field{_closest(key)}",
                hint="any field of transformers.TrainingArguments is accepted",
            )
        result[key] = _convert(key, value)
        if key in owned:
            if key == "output_dir":
                warn("--trainer output_dir is ignored: kre writes to its staging folder and publishes the run")
            else:
                warn(f"--trainer {key} overrides kre's {owned[key]} (prefer the kre option)")
    return result


def check_precision(*, fp16: bool, bf16: bool, use_cpu: bool) -> None:
    """Refuse impossible mixed precision before any work starts.

    Raises:
        ConfigError: both flags; `--fp16` without a CUDA GPU; `--bf16` on a CUDA GPU without
            bfloat16 support (bf16 on CPU is allowed).
    """
    if fp16 and bf16:
        raise ConfigError("--fp16 and --bf16 exclude each other", hint="pick one")
    if not (fp16 or bf16):
        return
    import torch

    cuda = torch.cuda.is_available() and not use_cpu
    if fp16 and not cuda:
        raise ConfigError("--fp16 needs a CUDA GPU", hint="on CPU use --bf16, or neither")
    if bf16 and cuda and not _cuda_bf16(torch):
        name = torch.cuda.get_device_name()
        raise ConfigError(f"--bf16 is not supported by this GPU ({name})", hint="use --fp16")


def _cuda_bf16(torch: Any) -> bool:
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # older torch without the keyword
        return bool(torch.cuda.is_bf16_supported())


def kre_defaults(*, cuda: bool) -> dict[str, Any]:
    """kre's defaults for TrainingArguments fields (the caller's base and overrides win)."""
    return {
        "report_to": "none",
        "disable_tqdm": True,  # kre shows its own progress (kre.engine.ProgressCallback)
        "save_only_model": False,  # checkpoints exist for --resume, so they keep optimizer state
        "logging_strategy": "steps",
        "remove_unused_columns": False,
        "dataloader_pin_memory": cuda,
        "log_level": "warning",
    }


def training_arguments(output_dir: Path, base: Mapping[str, Any], overrides: Mapping[str, Any]) -> Any:
    """TrainingArguments from kre's defaults, its mapped options (`base`) and `overrides`.

    `overrides` win over `base`, except `output_dir`, which is always `output_dir`.

    Raises:
        ConfigError: an unknown field, impossible precision, or any error TrainingArguments
            raises on the combination (one line).
    """
    import torch
    from transformers import TrainingArguments

    known = _field_types()
    unknown = sorted(set(base) - set(known))
    if unknown:
        raise ConfigError(f"not TrainingArguments fields: {', '.join(unknown)}{_closest(unknown[0])}")
    merged = dict(base)
    merged.update(parse_overrides(overrides, kre_options={}) if overrides else {})
    if merged.get("bf16") and "use_cpu" not in merged and not torch.cuda.is_available():
        merged["use_cpu"] = True  # bf16 autocast on CPU: TrainingArguments wants it said
    use_cpu = bool(merged.get("use_cpu", False))
    merged = {**kre_defaults(cuda=torch.cuda.is_available() and not use_cpu), **merged, "output_dir": str(output_dir)}
    check_precision(fp16=bool(merged.get("fp16")), bf16=bool(merged.get("bf16")), use_cpu=use_cpu)
    try:
        return TrainingArguments(**merged)
    except (ValueError, TypeError, ImportError, RuntimeError, AttributeError) as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        if len(text) > 300:
            text = text[:297] + "..."
        raise ConfigError(f"TrainingArguments: {text}", hint="check the --trainer KEY=VALUE overrides") from exc
