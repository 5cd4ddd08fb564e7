"""kre's glue to `transformers.Trainer`: TrainingArguments from kre options, callbacks, errors.

Import this package only where training happens (it imports transformers).
"""

from .arguments import KRE_OPTIONS, check_precision, parse_overrides, raw_overrides, trainer_fields, training_arguments
from .callbacks import EndOfTrainingCallback, NonFiniteLossCallback, ProgressCallback, TimeBudgetCallback, replace_default_output
from .errors import OutOfMemoryError, is_out_of_memory, translate_engine_errors

__all__ = [
    "EndOfTrainingCallback",
    "KRE_OPTIONS",
    "NonFiniteLossCallback",
    "OutOfMemoryError",
    "ProgressCallback",
    "TimeBudgetCallback",
    "check_precision",
    "is_out_of_memory",
    "parse_overrides",
    "raw_overrides",
    "replace_default_output",
    "trainer_fields",
    "training_arguments",
    "translate_engine_errors",
]
