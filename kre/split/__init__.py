"""`kre split`: fixed, stratified, sentence-group-aware train/valid splits and K folds."""

from .assign import Group, assign_groups, build_groups, group_key
from .core import load_report, make_split
from .dedupe import CONFLICT_POLICIES, DedupeResult, find_duplicates
from .summary import print_summary

__all__ = [
    "CONFLICT_POLICIES",
    "DedupeResult",
    "Group",
    "assign_groups",
    "build_groups",
    "find_duplicates",
    "group_key",
    "load_report",
    "make_split",
    "print_summary",
]
