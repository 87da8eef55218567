"""KPK's method: thresholds (every boundary), categories, the index, the Katingan check, the CLI."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from typer.testing import CliRunner

from responses.cli import score_app
from responses.questionnaire import Question, load_questionnaire
from responses.scoring import engine
from responses.scoring.method import (
    DATA_DIR,
    MethodError,
    category,
    classify,
    find_threshold,
    integrity_index,
    weights,
)

ROWS = list(csv.DictReader((DATA_DIR / "spi2024_risk_thresholds.csv").open(encoding="utf-8")))


def _group(table: str) -> str:
    minor = int(table.split(".")[1])
    return "internal" if minor <= 12 else "external" if minor <= 17 else "expert"


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r['table']}-{r['item'][:30]}")
def test_every_threshold_boundary_takes_the_lower_level(row: dict[str, str]) -> None:
    g, kind, item = _group(row["table"]), row["kind"], row["item"]
    if kind == "pencegahan":
        mean = float(row["national_mean_2021"])
        assert classify(g, kind, item, mean) == "Di atas rata-rata"
        assert classify(g, kind, item, max(mean - 0.001, 0)) == "Di bawah rata-rata"
        return
    r, s, t = float(row["rendah_max"]), float(row["sedang_max"]), float(row["tinggi_max"])
    assert classify(g, kind, item, r) == "Rendah"
    assert classify(g, kind, item, min(r + 0.001, s)) == ("Sedang" if r < s else "Rendah")
    assert classify(g, kind, item, s) == ("Sedang" if r < s else "Rendah")
    assert classify(g, kind, item, t) == "Tinggi"
    assert classify(g, kind, item, t + 0.001) == "Sangat Tinggi"
    assert classify(g, kind, item, 0.0) == "Rendah"


def test_classify_refuses_unknown_items_and_bad_values() -> None:
    with pytest.raises(MethodError, match="no keberadaan threshold"):
        classify("internal", "keberadaan", "Tidak ada item seperti ini", 0.3)
    item = ROWS[0]["item"]
    with pytest.raises(MethodError, match="0..1"):
        classify("internal", "keberadaan", item, 41)


def test_katingan_2024_published_figures() -> None:
    ex = weights()["published_example"]
    value = integrity_index(ex["internal"], ex["external"], ex["expert"], ex["correction"])
    assert value == ex["integrity_index"] == 74.62
    assert category(value) == "Waspada"


@pytest.mark.parametrize(("value", "expected"), [
    (0, "Rentan"), (72.99, "Rentan"), (72.994, "Rentan"), (72.995, "Waspada"), (73, "Waspada"),
    (77.99, "Waspada"), (77.995, "Terjaga"), (78, "Terjaga"), (100, "Terjaga"),
])
def test_category_boundaries(value: float, expected: str) -> None:
    assert category(value) == expected


def test_cli_index_and_classify() -> None:
    runner = CliRunner()
    out = runner.invoke(score_app, ["index", "--internal", "72.81", "--external", "86.3", "--expert", "79.13",
                                    "--correction", "4.93"])
    assert out.exit_code == 0 and out.stdout.strip() == "74.62 Waspada"
    item = "Pengaruh pihak lain dalam penentuan program/kegiatan"
    out = runner.invoke(score_app, ["classify", "--group", "internal", "--kind", "risiko", "--item", item,
                                    "--value", "0.29"])
    assert out.exit_code == 0 and out.stdout.strip() == "Sedang"
    out = runner.invoke(score_app, ["classify", "--group", "internal", "--kind", "risiko", "--item", "nope",
                                    "--value", "0.29"])
    assert out.exit_code == 2 and "no risiko threshold" in out.stdout
    out = runner.invoke(score_app, ["index", "--internal", "172", "--external", "1", "--expert", "1"])
    assert out.exit_code == 2 and "outside 0..100" in out.stdout


def test_questionnaires_match_the_reference() -> None:
    counts = {}
    for g in ("internal", "external", "expert"):
        q = load_questionnaire(g, 2024)
        for item in q.items:
            find_threshold(g, str(item.kind), str(item.reference))  # exact description on file
        counts[g] = (len({i.variable for i in q.items}), len({i.dimension for i in q.items}))
    assert counts["internal"] == (43, 7)
    assert counts["external"][1] == 3
    assert counts["expert"][0] == 12
    layout = engine.build_layout(load_questionnaire("internal", 2024))
    assert set(layout.dimensions) == set(weights()["internal_dimensions"])


def _tiny_layout() -> engine.Layout:
    def item(qid: str, dim: str, scale: str, kind: str) -> Question:
        return Question(id=qid, text=qid, options=(), variable=qid, dimension=dim, kind=kind, scale=scale,
                        reference=qid)

    items = (item("a1", "A", "likert", "pencegahan"), item("a2", "A", "negated", "risiko"),
             item("b1", "B", "experience", "keberadaan"))
    return engine.Layout("internal", items, ("a1", "a2", "b1"), ("A", "B"),
                         np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 1]]), np.array([[1.0, 0], [1, 0], [0, 1]]),
                         np.array([0.6, 0.4]))


def test_hand_computed_small_case() -> None:
    layout = _tiny_layout()
    answers = [{"a1": 6, "a2": 1, "b1": "tidak"},  # 100, 100, 100
               {"a1": 1, "a2": 6, "b1": "ya"},  # 0, 0, 0 (one is too many)
               {"a1": 4, "a2": 3, "b1": "tidak"}]  # 60, 60 (7-3=4), 100
    codes = engine.encode_answers(layout, answers)
    assert codes.tolist() == [[6, 6, 6], [1, 1, 1], [4, 4, 6]]
    s = engine.score(layout, codes, np.zeros(3, dtype=np.int64), 1)
    assert s.item[0] == pytest.approx([160 / 3, 160 / 3, 200 / 3])
    assert s.dimension[0] == pytest.approx([160 / 3, 200 / 3])
    assert s.index[0] == pytest.approx(0.6 * 160 / 3 + 0.4 * 200 / 3)
    assert s.negative_share[0] == pytest.approx([1 / 3, 1 / 3, 1 / 3])
    assert s.positive_share[0, 0] == pytest.approx(2 / 3)
    # Per-group scoring and suppression of small groups.
    s2 = engine.score(layout, codes, np.array([0, 0, 1]), 2).suppress(2)
    assert s2.n.tolist() == [2, 1]
    assert s2.index[0] == pytest.approx(0.6 * 50 + 0.4 * 50)
    assert np.isnan(s2.index[1]) and np.isnan(s2.item[1]).all()


def test_missing_answers_are_left_out_not_zero() -> None:
    layout = _tiny_layout()
    codes = engine.encode_answers(layout, [{"a1": 6}, {"a1": 2, "a2": 1, "b1": "tidak"}])
    s = engine.score(layout, codes, np.zeros(2, dtype=np.int64), 1)
    assert s.answered[0].tolist() == [2, 1, 1]
    assert s.item[0].tolist() == pytest.approx([60.0, 100.0, 100.0])


def test_vectorised_levels_agree_with_classify() -> None:
    from responses.scoring.method import ABOVE, BELOW, LEVELS

    q = load_questionnaire("internal", 2024)
    layout = engine.build_layout(q)
    rng = np.random.default_rng(3)
    codes = rng.integers(1, 7, size=(400, len(layout.items))).astype(np.uint8)
    groups = rng.integers(0, 40, size=400)
    s = engine.score(layout, codes, groups, 40)
    levels = engine.level_codes(layout, s)
    for g in range(40):
        for i, item in enumerate(layout.items):
            if item.kind == "pencegahan":
                expected = classify("internal", "pencegahan", str(item.reference), float(s.positive_share[g, i]))
                assert expected == (BELOW if levels[g, i] else ABOVE)
            else:
                expected = classify("internal", str(item.kind), str(item.reference), float(s.negative_share[g, i]))
                assert expected == LEVELS[levels[g, i]]
