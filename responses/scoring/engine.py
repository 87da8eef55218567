"""Vectorised scoring of many respondents at once, for any grouping (institution, unit, service...).

Input is a code matrix (respondents x items, uint8) of *transformed* answers: 1..6 where 1-3 is
always the negative side (negated items already reversed, experience items already mapped by
"one is too many": any occurrence -> 1, none -> 6), 0 = not answered.

Everything is derived from one histogram H[group, item, code] (a single `np.bincount`):
- item score 0..100 = mean of (code - 1) / 5 * 100 over answering respondents;
- variable score = mean of its items' scores; dimension score = mean of its variables;
- sub-index = sum(w_d * dimension_d) / sum(w_d) over the dimensions that have answers (the
  published weights sum to 1.0000 or 0.9999; dividing by the sum keeps 100 reachable);
- risk map: negative share = share of codes 1..3; prevention items: positive share (codes 4..6).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from responses.questionnaire import Question, Questionnaire
from responses.scoring.method import find_threshold, weights

SCORE_OF_CODE = np.array([np.nan, 0.0, 20.0, 40.0, 60.0, 80.0, 100.0])
FloatArray = npt.NDArray[np.float64]
CHUNK_ROWS = 65_536


@dataclass(frozen=True)
class Layout:
    """How one questionnaire's items roll up: items -> variables -> dimensions -> sub-index."""

    group: str
    items: tuple[Question, ...]
    variables: tuple[str, ...]
    dimensions: tuple[str, ...]
    item_variable: npt.NDArray[np.float64]  # I x V indicator
    variable_dimension: npt.NDArray[np.float64]  # V x D indicator
    dimension_weight: npt.NDArray[np.float64]  # D

    @property
    def prevention(self) -> npt.NDArray[np.bool_]:
        return np.array([q.kind == "pencegahan" for q in self.items])


def build_layout(q: Questionnaire, year: int | None = None) -> Layout:
    items = tuple(q.items)
    w = weights(year or q.year)
    variables = tuple(dict.fromkeys(str(i.variable) for i in items))
    if q.group == "expert":
        # One dimension of 12 weighted variables: each variable is its own weighted "dimension".
        dimensions = variables
        var_dim = np.eye(len(variables))
        dim_w = np.array([float(w["expert_variables"][v]) for v in variables])
    else:
        table = w[f"{q.group}_dimensions"]
        dimensions = tuple(dict.fromkeys(str(i.dimension) for i in items))
        missing = [d for d in dimensions if d not in table]
        if missing:
            raise ValueError(f"{q.group} questionnaire dimensions without a weight: {missing}")
        var_dim = np.zeros((len(variables), len(dimensions)))
        for i in items:
            var_dim[variables.index(str(i.variable)), dimensions.index(str(i.dimension))] = 1.0
        dim_w = np.array([float(table[d]) for d in dimensions])
    item_var = np.zeros((len(items), len(variables)))
    for n, i in enumerate(items):
        item_var[n, variables.index(str(i.variable))] = 1.0
    return Layout(q.group, items, variables, dimensions, item_var, var_dim, dim_w)


def encode_answers(layout: Layout, answers: list[dict[str, object]]) -> npt.NDArray[np.uint8]:
    """Stored answers (raw values) -> transformed code matrix."""
    codes = np.zeros((len(answers), len(layout.items)), dtype=np.uint8)
    for col, q in enumerate(layout.items):
        key = q.id
        for row, ans in enumerate(answers):
            value = ans.get(key)
            if value is None:
                continue
            if q.scale == "experience":
                codes[row, col] = 1 if value == "ya" else 6 if value == "tidak" else 0
            elif isinstance(value, int) and 1 <= value <= 6:
                codes[row, col] = 7 - value if q.scale == "negated" else value
    return codes


def _mean_over(values: FloatArray, indicator: FloatArray) -> FloatArray:
    """Column means of `values` (G x A) into B groups given an A x B indicator, ignoring NaN."""
    present = ~np.isnan(values)
    sums = np.where(present, values, 0.0) @ indicator
    counts = present.astype(np.float64) @ indicator
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


@dataclass
class GroupScores:
    """Scores of G aggregate groups (rows) of one questionnaire."""

    layout: Layout
    n: npt.NDArray[np.int64]  # respondents per group
    answered: npt.NDArray[np.int64]  # G x I respondents who answered each item
    item: FloatArray  # G x I item scores 0..100
    negative_share: FloatArray  # G x I share of codes 1..3 (risk map)
    positive_share: FloatArray  # G x I share of codes 4..6 (prevention items)
    variable: FloatArray  # G x V
    dimension: FloatArray  # G x D
    index: FloatArray  # G sub-index 0..100

    def suppress(self, min_cell: int) -> GroupScores:
        """NaN for every group with fewer than `min_cell` respondents (never shown or exported)."""
        small = self.n < min_cell
        for name in ("item", "negative_share", "positive_share", "variable", "dimension"):
            getattr(self, name)[small] = np.nan
        self.index[small] = np.nan
        return self


def score(layout: Layout, codes: npt.NDArray[np.uint8], group_ids: npt.NDArray[np.integer],
          n_groups: int) -> GroupScores:
    """Score every group at once. `group_ids[r]` in 0..n_groups-1 (negative = leave row out)."""
    n_items = len(layout.items)
    keep = group_ids >= 0
    codes, group_ids = codes[keep], group_ids[keep].astype(np.int64)
    size = n_groups * n_items * 7
    counts = np.zeros(size, dtype=np.int64)
    offsets = np.arange(n_items, dtype=np.int64)[None, :] * 7
    for start in range(0, len(codes), CHUNK_ROWS):  # bounded memory for 600,000 respondents
        g = group_ids[start:start + CHUNK_ROWS, None] * (n_items * 7)
        flat = g + offsets + codes[start:start + CHUNK_ROWS]
        counts += np.bincount(flat.ravel(), minlength=size)
    hist = counts.reshape(n_groups, n_items, 7)
    answered = hist[:, :, 1:].sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = np.where(answered > 0, answered, 1).astype(np.float64)
        item = np.where(answered > 0, (hist[:, :, 1:] @ SCORE_OF_CODE[1:]) / denom, np.nan)
        negative = np.where(answered > 0, hist[:, :, 1:4].sum(axis=2) / denom, np.nan)
        positive = np.where(answered > 0, hist[:, :, 4:7].sum(axis=2) / denom, np.nan)
    variable = _mean_over(item, layout.item_variable)
    dimension = _mean_over(variable, layout.variable_dimension)
    present = ~np.isnan(dimension)
    wsum = present.astype(np.float64) @ layout.dimension_weight
    with np.errstate(invalid="ignore", divide="ignore"):
        index = np.where(wsum > 0, (np.where(present, dimension, 0.0) @ layout.dimension_weight) / wsum, np.nan)
    n = np.bincount(group_ids, minlength=n_groups).astype(np.int64)
    return GroupScores(layout, n, answered, item, negative, positive, variable, dimension, index)


def level_codes(layout: Layout, scores: GroupScores, year: int | None = None) -> npt.NDArray[np.int8]:
    """Risk-map levels of every group and item at once (G x I), vectorised.

    keberadaan/risiko: 0 Rendah .. 3 Sangat Tinggi (a share on a boundary takes the lower level);
    pencegahan: 0 at or above the national mean, 1 below; -1 where there is no value.
    """
    n_items = len(layout.items)
    bounds = np.full((n_items, 3), np.inf)
    means = np.full(n_items, np.nan)
    for i, q in enumerate(layout.items):
        t = find_threshold(layout.group, str(q.kind), str(q.reference), year or 2024)
        if q.kind == "pencegahan":
            means[i] = t.national_mean
        else:
            bounds[i] = (t.rendah_max, t.sedang_max, t.tinggi_max)
    prevention = layout.prevention
    neg = scores.negative_share
    risk = (neg[:, :, None] > bounds[None, :, :]).sum(axis=2)
    prev = (scores.positive_share < means[None, :]).astype(np.int64)
    out = np.where(prevention[None, :], prev, risk)
    missing = np.where(prevention[None, :], np.isnan(scores.positive_share), np.isnan(neg))
    return np.where(missing, -1, out).astype(np.int8)
