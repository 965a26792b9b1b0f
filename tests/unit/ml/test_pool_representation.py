"""The pool representation (ml/pool_representation.py): fitted on unlabelled texts, its sample and
refit rule, the numpy form of every feature mode (labels equal, probabilities within 1e-9), and the
feature mode chosen on the held-out examples."""
import numpy as np
import pytest

from activelabel_client.datasets import SMS_LABEL_CONFIG, sms_split
from chalicelib.ml import numpy_form, pool_representation, sampling, training
from chalicelib.ml.registry import get_kind
from tests.kind_data import target


@pytest.fixture(scope="module")
def sms():
    pool, test = sms_split(1200, 200, seed=2)
    return [r["text"] for r in pool], [r["label"] for r in pool], [r["text"] for r in test]


@pytest.fixture(scope="module")
def projection(sms):
    texts, _, _ = sms
    return pool_representation.fit_text(texts, seed=0, dimensions=64)


def test_the_projection_is_fitted_on_the_pool_and_gives_unit_rows_of_its_dimensions(sms, projection):
    texts, _, test = sms
    assert projection.dimensions == 64 and projection.fitted_on == len(texts)
    rows = projection.transform(test)
    assert rows.shape == (len(test), 64) and np.allclose(np.linalg.norm(rows, axis=1), 1.0)
    # words seen only in the pool shape the space: two texts sharing no labelled word can still be close
    assert len(projection.vectorizer.vocabulary_) > 1000
    # too few texts: no representation (the model keeps its present features)
    assert pool_representation.fit_text(texts[:pool_representation.MIN_TEXTS - 1]) is None


def test_the_sample_is_stable_and_capped_and_the_refit_waits_for_the_pool_to_grow():
    assert all(pool_representation.in_sample("p", i, 1000, cap=5000) for i in range(1, 1001))
    chosen = [i for i in range(1, 100_001) if pool_representation.in_sample("p", i, 100_000, cap=5000)]
    assert 4500 < len(chosen) < 5500
    assert chosen == [i for i in range(1, 100_001) if pool_representation.in_sample("p", i, 100_000, cap=5000)]
    assert pool_representation.needs_refit(None, 10)
    assert not pool_representation.needs_refit(1000, 1249) and pool_representation.needs_refit(1000, 1250)


@pytest.mark.parametrize("mode", pool_representation.MODES)
def test_every_feature_mode_has_a_numpy_form_that_agrees_with_scikit_learn(sms, projection, mode):
    texts, labels, test = sms
    model = get_kind("text_classifier").implementation()(target(SMS_LABEL_CONFIG, "text_classifier"))
    model.use_pool(projection, mode).fit(model.encode(texts[:300]), labels[:300])
    served = numpy_form.load(numpy_form.export(model))
    assert served.feature_mode == mode and served.pool is not None
    ours, theirs = model.predict_proba(model.encode(test)), served.predict_proba(served.encode(test))
    assert np.abs(ours - theirs).max() < 1e-9 and model.predict(test) == served.predict(test)
    # active learning measures diversity in the pool space, in both forms
    embedded = sampling.feature_embedding(model, model.encode(test))
    assert embedded.shape == (len(test), 64)
    assert np.abs(embedded - sampling.feature_embedding(served, served.encode(test))).max() < 1e-9


def test_the_feature_mode_is_chosen_on_the_held_out_examples_and_the_served_model_learns_them(sms, projection):
    texts, labels, _ = sms
    kind = get_kind("text_classifier")
    tgt = target(SMS_LABEL_CONFIG, "text_classifier")
    pairs = [({"text": t}, {"label": [y]}) for t, y in zip(texts, labels)]
    outcome = training.train_choosing_features(kind, tgt, pairs[:120], 0, pairs[120:400], projection)
    choice = outcome.metrics["features"]
    figures = {mode: training.quality("classification", training.train(
        kind, tgt, pairs[:120], 0, pairs[120:400], pool=projection, mode=mode).metrics)
        for mode in pool_representation.MODES}
    assert choice["validation"] == {m: round(v, 4) for m, v in figures.items()}
    assert figures[choice["chosen"]] == max(figures.values())
    assert outcome.judge.feature_mode == outcome.model.feature_mode == choice["chosen"]
    assert outcome.n_train == 400 and outcome.metrics["n_fit_judged"] == 120
    # no projection (another kind, or too small a pool): the present features, as before
    plain = training.train_choosing_features(kind, tgt, pairs[:120], 0, pairs[120:400], None)
    assert "features" not in plain.metrics and plain.model.pool is None and plain.n_train == 400
