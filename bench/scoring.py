"""Benchmark: SPI scoring at national scale and for one kabupaten.

    .venv/bin/python bench/scoring.py [--responses 600000] [--institutions 640]

1. National: synthetic answers of 600,000 respondents across 640 institutions (~25 units each;
   ~55% internal, ~43% external, 13 experts per institution) scored at once: institution
   sub-indices, per-unit internal/external indices, per-service-type and per-expert-group indices,
   risk-map levels of every item for every institution, and the integrity index with categories.
2. One kabupaten (~750 responses) stored in a SQLite database and scored end to end with
   `score_institution` (database read included).
Prints the figures; not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def national(n_resp: int, n_inst: int, seed: int = 1) -> dict[str, float]:
    from responses.questionnaire import load_questionnaire
    from responses.scoring import engine
    from responses.scoring.method import category

    rng = np.random.default_rng(seed)
    units_per_inst = 25
    n_expert = 13 * n_inst
    n_internal = int((n_resp - n_expert) * 0.56)
    n_external = n_resp - n_expert - n_internal
    sizes = {"internal": n_internal, "external": n_external, "expert": n_expert}
    layouts = {g: engine.build_layout(load_questionnaire(g, 2024)) for g in sizes}
    data = {}
    for g, n in sizes.items():
        codes = rng.integers(1, 7, size=(n, len(layouts[g].items)), dtype=np.uint8)
        inst = np.sort(rng.integers(0, n_inst, size=n))
        data[g] = (codes, inst, inst * units_per_inst + rng.integers(0, units_per_inst, size=n),
                   rng.integers(0, 2, size=n))
    t0 = time.perf_counter()
    sub = {}
    for g, (codes, inst, unit, extra) in data.items():
        layout = layouts[g]
        s = engine.score(layout, codes, inst, n_inst).suppress(5)
        engine.level_codes(layout, s)  # risk map of every institution
        sub[g] = s.index
        if g != "expert":
            engine.score(layout, codes, unit, n_inst * units_per_inst).suppress(5)
        # service type (external) / expert group (expert): two sub-groups per institution
        if g != "internal":
            engine.score(layout, codes, inst * 2 + extra, n_inst * 2).suppress(5)
    index = 0.305 * sub["internal"] + 0.328 * sub["external"] + 0.367 * sub["expert"]
    cats = [category(float(v)) for v in index if not np.isnan(v)]
    elapsed = time.perf_counter() - t0
    return {"responses": float(n_resp), "institutions": float(n_inst), "seconds": elapsed,
            "categorised": float(len(cats))}


def kabupaten(n_resp: int = 750, seed: int = 2) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        os.environ["DATABASE_URL"] = url
        from core.clock import utcnow
        from core.config import reset_settings
        from core.db import session_scope
        from core.migrate import upgrade
        from core.models import Campaign, Institution, Unit
        from responses.models import Response
        from responses.questionnaire import load_questionnaire
        from responses.scoring import score_institution

        reset_settings()
        upgrade(url)
        rng = np.random.default_rng(seed)
        with session_scope(write=True, url=url) as session:
            inst = Institution(code="KAB-BENCH", name="Kabupaten Bench")
            session.add(inst)
            session.flush()
            units = [Unit(institution_id=inst.id, code=f"U{i}", name=f"Dinas {i}") for i in range(26)]
            session.add_all(units)
            camp = Campaign(institution_id=inst.id, year=2024, name="SPI 2024", opens_at=utcnow(), closes_at=utcnow())
            session.add(camp)
            session.flush()
            plan = {"internal": int(n_resp * 0.52), "external": n_resp - int(n_resp * 0.52) - 13, "expert": 13}
            for group, n in plan.items():
                q = load_questionnaire(group, 2024)
                for _ in range(n):
                    answers: dict[str, object] = {}
                    for item in q.items:
                        answers[item.id] = (("ya" if rng.random() < 0.1 else "tidak") if item.scale == "experience"
                                            else int(rng.integers(1, 7)))
                    session.add(Response(campaign_id=camp.id, institution_id=inst.id,
                                         unit_id=units[int(rng.integers(0, 26))].id, group=group,
                                         respondent_group=group, questionnaire_year=2024, status="submitted",
                                         answers=answers, service_type="pbj" if rng.random() < 0.2 else "non_pbj",
                                         expert_group="melekat" if rng.random() < 0.5 else "publik",
                                         submitted_at=utcnow()))
            campaign_id = camp.id
        with session_scope(url=url) as session:
            score_institution(session, campaign_id)  # warm-up (questionnaire/threshold caches)
            t0 = time.perf_counter()
            result = score_institution(session, campaign_id)
            elapsed = time.perf_counter() - t0
        from core.db import dispose_engines

        dispose_engines()
        return {"responses": float(sum(g.n for g in result.groups.values())), "seconds": elapsed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--responses", type=int, default=600_000)
    parser.add_argument("--institutions", type=int, default=640)
    args = parser.parse_args()
    nat = national(args.responses, args.institutions)
    print(f"national: {int(nat['responses']):,} responses, {int(nat['institutions'])} institutions, "
          f"all indices + unit/service/expert breakdowns + risk maps in {nat['seconds']:.2f} s (target <= 10 s)")
    kab = kabupaten()
    print(f"kabupaten: {int(kab['responses'])} responses from SQLite, score_institution in {kab['seconds']:.3f} s "
          f"(target <= 0.5 s)")


if __name__ == "__main__":
    main()
