"""Active-learning strategies: properties on real and constructed probability arrays."""
import numpy as np
import pytest

from chalicelib.ml import sampling


def dirichlet(n, classes, seed):
    return np.random.default_rng(seed).dirichlet(np.ones(classes), size=n)


def test_margin_picks_the_most_ambiguous():
    p = np.array([[0.9, 0.1], [0.52, 0.48], [0.7, 0.3], [0.49, 0.51], [0.99, 0.01]])
    assert list(sampling.select("margin", 2, p)) == [3, 1]
    assert list(sampling.select("least_confidence", 2, p)) == [3, 1]
    assert list(sampling.select("entropy", 2, p)) == [3, 1]


def test_strategies_differ_on_three_classes():
    # least confidence prefers a flat top class; margin prefers two tied classes
    p = np.array([[0.4, 0.4, 0.2], [0.34, 0.33, 0.33], [0.6, 0.39, 0.01]])
    assert sampling.select("least_confidence", 1, p)[0] == 1
    assert sampling.select("entropy", 1, p)[0] == 1
    m = sampling.priorities("margin", p)
    assert m[0] == pytest.approx(0.0) and m[1] == pytest.approx(0.01)


@pytest.mark.parametrize("strategy", ["least_confidence", "margin", "entropy"])
def test_uncertainty_orders_agree_with_their_definition(strategy):
    p = dirichlet(200, 4, seed=3)
    order = sampling.select(strategy, 200, p)
    top = np.sort(p, axis=1)[:, ::-1]
    value = {"least_confidence": top[:, 0], "margin": top[:, 0] - top[:, 1],
             "entropy": -(p * np.log(p)).sum(axis=1) * -1}[strategy]
    assert np.all(np.diff(value[order]) >= -1e-12)  # served in increasing priority


def test_random_is_a_seeded_uniform_permutation():
    a = sampling.select("random", 100, task_ids=list(range(100)), seed=7)
    b = sampling.select("random", 100, task_ids=list(range(100)), seed=7)
    c = sampling.select("random", 100, task_ids=list(range(100)), seed=8)
    assert list(a) == list(b) and list(a) != list(c)
    assert sorted(a) == list(range(100))
    # uniform: over many seeds the first pick lands in each decile about equally often
    firsts = [sampling.select("random", 1, task_ids=list(range(100)), seed=s)[0] // 10 for s in range(2000)]
    counts = np.bincount(firsts, minlength=10)
    assert counts.min() > 140 and counts.max() < 260


def test_sequential_is_task_order():
    assert list(sampling.select("sequential", 3, task_ids=[5, 2, 9, 1])) == [3, 1, 0]


def test_aliases_resolve_and_unknown_is_refused():
    assert sampling.resolve("auto") == sampling.AUTO_STRATEGY
    assert sampling.resolve("uncertainty") == sampling.AUTO_STRATEGY
    assert sampling.resolve(None) == sampling.AUTO_STRATEGY
    assert not sampling.needs_model("random") and sampling.needs_model("auto")
    with pytest.raises(ValueError):
        sampling.resolve("bald")


def test_diverse_margin_spreads_a_batch_over_clusters():
    # two tight blobs: blob A (0-9) holds the most ambiguous samples, blob B (10-49) slightly less ambiguous ones
    rng = np.random.default_rng(0)
    embedding = np.vstack([rng.normal(0, 0.05, (10, 2)), rng.normal(5, 0.05, (40, 2))])
    gaps = np.concatenate([np.linspace(0.0, 0.1, 10), np.linspace(0.11, 0.5, 40)])
    p = np.column_stack([(1 + gaps) / 2, (1 - gaps) / 2])
    plain = sampling.select("margin", 4, p)
    diverse = sampling.select("diverse_margin", 4, p, embedding=embedding, seed=0)
    assert all(i < 10 for i in plain)  # margin alone stays in blob A
    assert any(i < 10 for i in diverse) and any(i >= 10 for i in diverse)
    # within a cluster the candidate nearest its centre comes first (ties to the most ambiguous) ...
    first = sampling.diverse_margin(p, embedding, clusters=2, candidates_per_cluster=20, seed=0)
    served = np.argsort(first, kind="stable")[:2]
    for blob, members in ((0, np.arange(10)), (1, np.arange(10, 40))):  # the 40 candidates: 0-39
        centre = embedding[members].mean(axis=0)
        nearest = members[np.argmin(((embedding[members] - centre) ** 2).sum(axis=1))]
        assert nearest in served, (blob, nearest, served)
    # ... or, with representative_first=False, the most ambiguous one
    by_margin = sampling.diverse_margin(p, embedding, clusters=2, candidates_per_cluster=20, seed=0,
                                        representative_first=False)
    assert set(np.argsort(by_margin, kind="stable")[:2]) == {0, 10}


def test_diverse_margin_candidates_come_before_confident_samples():
    p = dirichlet(300, 3, seed=1)
    scores = sampling.diverse_margin(p, embedding=p, clusters=4, candidates_per_cluster=5, seed=0)
    candidates = np.argsort(sampling.margin(p), kind="stable")[:20]
    others = np.setdiff1d(np.arange(300), candidates)
    assert scores[candidates].max() < scores[others].min()


def test_badge_distances_are_those_of_the_explicit_gradient_embeddings():
    """The kernel-trick distances equal the distances of the (p - onehot) (x) x vectors, dense or sparse."""
    import scipy.sparse

    p = dirichlet(40, 3, seed=5)
    x = np.random.default_rng(5).normal(size=(40, 4))
    r = p.copy()
    r[np.arange(40), p.argmax(axis=1)] -= 1.0
    g = (r[:, :, None] * x[:, None, :]).reshape(40, -1)
    first = int(np.argmax((g * g).sum(axis=1)))
    scores = sampling.badge(p, x, picks=1)
    assert scores[first] == 0 and (np.delete(scores, first) > 1).all()  # the largest gradient first
    dense = sampling.badge(p, x, picks=10, seed=3)
    assert np.array_equal(dense, sampling.badge(p, scipy.sparse.csr_matrix(x), picks=10, seed=3))
    assert sorted(dense[dense < 10]) == list(range(10))
    explicit = ((g - g[first]) ** 2).sum(axis=1)
    kernel = np.clip((g * g).sum(1) + (g[first] ** 2).sum() - 2 * (r @ r[first]) * (x @ x[first]), 0, None)
    assert np.allclose(explicit, kernel)


def test_badge_spreads_its_picks_over_both_blobs():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 0.05, (10, 2)), rng.normal(5, 0.05, (40, 2))]) + 1.0
    gaps = np.concatenate([np.linspace(0.0, 0.1, 10), np.linspace(0.11, 0.5, 40)])
    p = np.column_stack([(1 + gaps) / 2, (1 - gaps) / 2])
    picked = sampling.select("badge", 4, p, embedding=x, seed=0)
    assert any(i < 10 for i in picked) and any(i >= 10 for i in picked)


def test_deterministic_with_a_seed():
    p = dirichlet(120, 3, seed=2)
    a = sampling.priorities("diverse_margin", p, embedding=p, seed=4)
    b = sampling.priorities("diverse_margin", p, embedding=p, seed=4)
    assert np.array_equal(a, b)


def test_feature_embedding_uses_the_pipeline_features():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    class Kind:
        pipeline = Pipeline([("tfidf", TfidfVectorizer()), ("lr", LogisticRegression())]).fit(
            ["free prize now", "see you at lunch", "win cash", "call me later"], ["s", "h", "s", "h"])

    embedding = sampling.feature_embedding(Kind(), ["free lunch"])
    assert embedding.shape[0] == 1 and embedding.shape[1] == len(Kind.pipeline[0].vocabulary_)
    assert sampling.feature_embedding(object(), ["x"]) is None
