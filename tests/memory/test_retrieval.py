import numpy as np
import pytest

from mesa_llm.memory import PRESETS, Retrieval, retrieval
from mesa_llm.memory.retrieval import top

# Three candidates, ids 0, 1, 2, last accessed at hours 0, 10 and 20, of importance 2, 8
# and 5, with cosine similarities 1.0, 0.6 and 0.0 to the query; now is hour 30.
IDS = np.array([0, 1, 2])
LAST_ACCESS = np.array([0.0, 10.0, 20.0])
IMPORTANCE = np.array([2.0, 8.0, 5.0])
SIMILARITY = np.array([1.0, 0.6, 0.0])
NOW = 30.0


def test_the_paper_preset_scores_by_hours_since_access_with_weights_one():
    recency, importance, relevance = PRESETS["paper"].components(
        LAST_ACCESS, IMPORTANCE, SIMILARITY, IDS, NOW
    )
    # Recency: 0.995 ** hours since the last access (30, 20, 10 hours):
    #   0.995**30 = 0.8603842, 0.995**20 = 0.9046105, 0.995**10 = 0.9511101;
    #   min-max: (x - 0.8603842) / (0.9511101 - 0.8603842) = 0, 0.0442263 / 0.0907259 = 0.4874713, 1.
    assert recency == pytest.approx([0.0, 0.4874713, 1.0], abs=1e-7)
    # Importance 2, 8, 5: (x - 2) / (8 - 2) = 0, 1, 0.5.
    assert importance == pytest.approx([0.0, 1.0, 0.5])
    # Relevance 1.0, 0.6, 0.0: (x - 0) / (1 - 0) = 1, 0.6, 0.
    assert relevance == pytest.approx([1.0, 0.6, 0.0])
    # Score, all weights 1: 0 + 0 + 1 = 1.0; 0.4874713 + 1 + 0.6 = 2.0874713; 1 + 0.5 + 0 = 1.5.
    scores = PRESETS["paper"].total(recency, importance, relevance)
    assert scores == pytest.approx([1.0, 2.0874713, 1.5], abs=1e-7)
    assert top(scores, IDS, 3).tolist() == [1, 2, 0]


def test_the_code_preset_scores_by_rank_of_access_with_weights_half_two_three():
    code = PRESETS["code"]
    assert (code.recency_weight, code.importance_weight, code.relevance_weight) == (0.5, 2.0, 3.0)
    assert (code.decay, code.recency, code.k) == (0.99, "rank", 30)
    recency, importance, relevance = code.components(LAST_ACCESS, IMPORTANCE, SIMILARITY, IDS, NOW)
    # Recency: 0.99 ** position, positions 1, 2, 3 from the least recently accessed
    # (the authors' extract_recency over their ascending sort by last access):
    #   0.99, 0.9801, 0.970299; min-max: 1, (0.9801 - 0.970299) / (0.99 - 0.970299)
    #   = 0.009801 / 0.019701 = 0.4974874, 0.
    assert recency == pytest.approx([1.0, 0.4974874, 0.0], abs=1e-7)
    # Score: 0.5 * recency + 2 * importance + 3 * relevance:
    #   0.5 * 1 + 2 * 0 + 3 * 1 = 3.5; 0.5 * 0.4974874 + 2 * 1 + 3 * 0.6 = 4.0487437;
    #   0.5 * 0 + 2 * 0.5 + 3 * 0 = 1.0.
    scores = code.total(recency, importance, relevance)
    assert scores == pytest.approx([3.5, 4.0487437, 1.0], abs=1e-7)
    assert top(scores, IDS, 3).tolist() == [1, 0, 2]  # the paper's order is 1, 2, 0


def test_rank_recency_counts_equal_last_accesses_newest_first():
    # All accessed at hour 5: positions by id, newest first: id 2 -> 1, id 1 -> 2, id 0 -> 3,
    # so raw 0.99**3, 0.99**2, 0.99 and scaled 0, 0.4974874, 1.
    recency, _, _ = PRESETS["code"].components(np.full(3, 5.0), IMPORTANCE, SIMILARITY, IDS, NOW)
    assert recency == pytest.approx([0.0, 0.4974874, 1.0], abs=1e-7)


def test_a_component_equal_over_all_candidates_is_scaled_to_one_half():
    # Equal importance (4, 4, 4) and equal access times: both components are 0.5 everywhere
    # (the authors' normalize_dict_floats), so only relevance orders the candidates.
    recency, importance, relevance = PRESETS["paper"].components(
        np.full(3, 10.0), np.full(3, 4.0), SIMILARITY, IDS, NOW
    )
    assert recency.tolist() == importance.tolist() == [0.5, 0.5, 0.5]
    assert PRESETS["paper"].total(recency, importance, relevance) == pytest.approx([2.0, 1.6, 1.0])
    # One candidate: every component is 0.5, its score 1.5 with weights 1.
    one = PRESETS["paper"].components(LAST_ACCESS[:1], IMPORTANCE[:1], SIMILARITY[:1], IDS[:1], NOW)
    assert [c.tolist() for c in one] == [[0.5], [0.5], [0.5]]


def test_access_in_the_future_counts_as_now():
    recency, _, _ = PRESETS["paper"].components(
        np.array([40.0, 20.0]), IMPORTANCE[:2], SIMILARITY[:2], IDS[:2], NOW
    )
    assert recency.tolist() == [1.0, 0.0]  # 0.995**0 = 1 against 0.995**10


def test_top_k_matches_a_full_sort_with_ties_newest_first():
    rng = np.random.default_rng(7)
    for n, k in [(1000, 10), (1000, 999), (50, 50), (50, 80), (5, 1)]:
        scores = rng.integers(0, 20, n).astype(float)  # many ties
        ids = np.arange(n)
        expected = sorted(range(n), key=lambda i: (-scores[i], -i))[:k]
        assert top(scores, ids, k).tolist() == expected


def test_retrieval_settings_are_checked():
    with pytest.raises(ValueError, match="decay must be at most 1"):
        Retrieval(decay=1.5)
    with pytest.raises(ValueError, match="decay must be greater than 0"):
        Retrieval(decay=0)
    with pytest.raises(ValueError, match="recency_weight must be at least 0"):
        Retrieval(recency_weight=-1)
    with pytest.raises(ValueError, match="k must be at least 1"):
        Retrieval(k=0)
    with pytest.raises(ValueError, match="recency must be 'time'"):
        Retrieval(recency="hours")
    with pytest.raises(ValueError, match=r"unknown retrieval preset 'papr': use one of \['code', 'paper'\]"):
        Retrieval.of("papr")
    with pytest.raises(TypeError, match="retrieval must be a Retrieval or a preset name"):
        Retrieval.of(3)
    assert Retrieval.of("code") is PRESETS["code"]


def test_similarities_are_the_dot_products_of_the_rows():
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((500, 24)).astype(np.float32)
    query = rng.standard_normal(24).astype(np.float32)
    found = retrieval.similarities(vectors, query)
    assert found.dtype == np.float64
    assert found == pytest.approx((vectors.astype(np.float64) @ query.astype(np.float64)), abs=1e-4)
