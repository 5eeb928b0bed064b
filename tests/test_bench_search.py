"""bench/search.py and bench/search_data.py: the generator's rows are valid rows of the real
tables (COPY refuses any that break a constraint), they are the same rows whatever order the
database grew in, and a quick bench run measures every query class."""

from __future__ import annotations

import random
from datetime import timedelta

from bench.search import QUICK, job_cases, search_bench, worker_cases
from bench.search_data import SearchData, query_words


def test_rows_are_a_function_of_their_index() -> None:
    one, other = SearchData(seed=7, clients=10), SearchData(seed=7, clients=10)
    assert [one.worker(i) for i in (0, 5, 99)] == [other.worker(i) for i in (0, 5, 99)]
    assert one.job(3) == other.job(3)
    assert SearchData(seed=8, clients=10).job(3) != one.job(3)


def test_the_vocabulary_is_zipf_and_its_common_words_are_common() -> None:
    data = SearchData(seed=1, clients=10)
    v = data.vocabulary
    assert len(v.words) == len(set(v.words)) == 20_000
    assert len(v.skills) == len(set(v.skills)) == 400
    drawn = v.draw(random.Random(0), 50_000)
    top = v.common(1)[0]
    # Rank 1 under Zipf(1.05) over 20,000 words: about one word in nine.
    assert 0.08 < drawn.count(top) / len(drawn) < 0.14
    assert drawn.count(v.words[0]) > 10 * drawn.count(v.words[100])
    assert len(query_words(data, random.Random(0), 3).split()) == 3


def test_rows_look_like_people_and_jobs() -> None:
    data = SearchData(seed=3, clients=10)
    for i in range(300):
        user, profile = data.worker(i)
        count, total = user[7], user[8]
        assert count <= total <= 5 * count  # integer stars 1-5
        assert 1 <= len(profile[3]) <= 8 and all(s == s.lower() for s in profile[3])
        assert 5 <= profile[9] <= 80 and profile[4] > 0
        job = data.job(i)
        assert (job[17] is None) == (job[18] is None) == (job[16] is None) == (not job[9])
        assert (job[10] == "closed") == (job[14] is not None) == (job[11] is not None)
        assert job[13] - job[12] == timedelta(days=30) and job[15] == 1
    located = sum(data.job(i)[17] is not None for i in range(1000))
    assert 500 < located < 700  # 60 % on site


async def test_a_quick_run_measures_every_class_at_every_size() -> None:
    results = await search_bench(QUICK)
    data = SearchData(seed=QUICK.seed, clients=QUICK.clients)
    classes = {
        "workers": [c.name for c in worker_cases(data)],
        "jobs": [c.name for c in job_cases(data)],
    }
    assert list(results["sizes"]) == [str(s) for s in QUICK.sizes]
    for figures in results["sizes"].values():
        assert figures["load_seconds"] > 0
        for side, names in classes.items():
            assert list(figures[side]) == names
            for name in names:
                f = figures[side][name]
                assert f["count"] > 0 and 0 < f["p50"] <= f["p95"] <= f["p99"], (side, name, f)
            for floor in ("pk_read", "naive_single", "naive_common"):
                assert figures[f"{side}_floors"][floor]["p95"] > 0
            assert figures[side]["common"]["mean_hits"] > 0  # the top words match rows
    cost = results["write_cost"]
    assert cost["ratio"]["all"] > 0
    assert set(cost["us_per_write"]["head"]) == {
        "project_job insert",
        "project_job update",
        "project_contract",
        "save_review",
        "reveal_reviews",
        "project_verification",
        "all",
    }
