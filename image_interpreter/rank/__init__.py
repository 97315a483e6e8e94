"""Ranking candidates: CLIP score against the prompt, agreement with the target's priors
(extracted again through `extract/`), a weighted total with its parts, and the users' picks as
preference data. This part measures pictures; it never generates them."""

from image_interpreter.lazy import lazy_exports

_EXPORTS = {
    "clip_cosines": "clip",
    "clipscore": "clip",
    "load_clip": "clip",
    "Agreement": "consistency",
    "prior_consistency": "consistency",
    "Pick": "preferences",
    "PreferencesError": "preferences",
    "candidate_records": "preferences",
    "export_preferences": "preferences",
    "preference_rows": "preferences",
    "record_pick": "preferences",
    "write_preferences": "preferences",
    "Candidate": "ranking",
    "RankedCandidate": "ranking",
    "rank": "ranking",
    "CandidateScore": "scoring",
    "RankWeights": "scoring",
    "combine": "scoring",
    "order": "scoring",
}

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

__getattr__ = lazy_exports(__name__, _EXPORTS)
