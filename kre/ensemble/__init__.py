"""Ensembles of probability files: members, voting rules, cross-validated weight fitting."""

from .fit import FitReport, fit_weights, search_weights
from .members import Member, MemberSource, expand_member_args, load_members
from .combine import run_ensemble, score
from .voting import Method, Vote, combine, hard, normalise_weights, parse_weights, rank, soft, weighted

__all__ = [
    "FitReport",
    "Member",
    "MemberSource",
    "Method",
    "Vote",
    "combine",
    "expand_member_args",
    "fit_weights",
    "hard",
    "load_members",
    "normalise_weights",
    "parse_weights",
    "rank",
    "run_ensemble",
    "score",
    "search_weights",
    "soft",
    "weighted",
]
