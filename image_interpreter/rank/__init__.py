"""Ranking candidates: CLIP score against the prompt, agreement with the target's priors
(extracted again through `extract/`), a weighted total with its parts, and the users' picks as
preference data. This part measures pictures; it never generates them."""

from image_interpreter.rank.clip import clip_cosines, clipscore, load_clip
from image_interpreter.rank.consistency import Agreement, prior_consistency
from image_interpreter.rank.preferences import (
    Pick,
    PreferencesError,
    candidate_records,
    export_preferences,
    preference_rows,
    record_pick,
    write_preferences,
)
from image_interpreter.rank.ranking import Candidate, RankedCandidate, rank
from image_interpreter.rank.scoring import CandidateScore, RankWeights, combine, order

__all__ = [
    "Agreement",
    "Candidate",
    "CandidateScore",
    "Pick",
    "PreferencesError",
    "RankWeights",
    "RankedCandidate",
    "candidate_records",
    "clip_cosines",
    "clipscore",
    "combine",
    "export_preferences",
    "load_clip",
    "order",
    "preference_rows",
    "prior_consistency",
    "rank",
    "record_pick",
    "write_preferences",
]
