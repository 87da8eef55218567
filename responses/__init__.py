"""responses package: the questionnaire, its answers and scoring (the score report: `reports`).

The public face: what other packages may import from responses.
"""

from typing import TYPE_CHECKING, Any

from responses.models import CorrectionInput, IndexHistory, Response, ResponseLink, ResponseStatus
from responses.questionnaire import DATA_DIR, GROUPS, load_questionnaire
from responses.scoring import InstitutionScore, score_institution
from responses.scoring.method import RENTAN, TERJAGA, WASPADA
from responses.stats import response_counts

__all__ = [
    "CorrectionInput",
    "Response",
    "score_institution",
]

# What integrity's signals and the score report read: answers and their link to an assignment,
# the questionnaires (and responses/data/), the risk levels, participation counts.
__all__ += ["IndexHistory"]  # reports.history (issue 24)
__all__ += ["DATA_DIR", "GROUPS", "RENTAN", "TERJAGA", "WASPADA", "InstitutionScore", "ResponseLink",
            "ResponseStatus", "load_questionnaire", "response_counts"]

# What capi (interviewers' offline interviews) writes answers through: the same path as the form.
from responses.service import (  # noqa: E402
    AlreadySubmitted,
    InvalidAnswers,
    ResponseError,
    SubmissionConflict,
    submit_answers,
    submit_unlinked,
)

__all__ += ["AlreadySubmitted", "InvalidAnswers", "ResponseError", "SubmissionConflict", "submit_answers",
            "submit_unlinked"]

# The `spibot score` command group, which reports adds `score report` to. Loaded on first use
# (`__getattr__` below), not with the package: it is the CLI (typer, the answer importer).
if TYPE_CHECKING:
    from responses.cli import score_app

__all__ += ["score_app"]


def __getattr__(name: str) -> Any:
    """A name of the public face, imported from its module on first use (see above)."""
    if name == "score_app":
        from responses.cli import score_app  # lazy: see above

        globals()[name] = score_app
        return score_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
