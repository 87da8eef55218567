"""responses package: the questionnaire, its answers and scoring (the score report: `reports`).

The public face: what other packages may import from responses.
"""

from responses.models import CorrectionInput, Response
from responses.scoring import score_institution

__all__ = [
    "CorrectionInput",
    "Response",
    "score_institution",
]
