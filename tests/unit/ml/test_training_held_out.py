"""Training on a validation set: metrics from the fitted model on it (no refit), its scores reused
by champion / challenger exactly as if computed again; the pickled artifact read by joblib too."""
import io
from types import SimpleNamespace

import joblib
import numpy as np

from chalicelib.labeling.config import parse_label_config
from chalicelib.ml import training
from chalicelib.ml.registry import get_kind
from chalicelib.services import promotion
from tests.kind_data import breast_cancer_rows, tabular_config


def pairs(rows):
    return [({"x": x}, {"label": [y]}) for x, y in rows]


def test_metrics_come_from_the_validation_set_and_its_scores_are_reused_as_computed():
    kind = get_kind("tabular")
    target = kind.target(parse_label_config(tabular_config("Choices")))
    rows = breast_cancer_rows()
    validation = pairs(rows[300:400]) + [({"x": {"a": 1.0}}, {})]  # a task without this control's label
    outcome = training.train(kind, target, pairs(rows[:300]), seed=0, held_out=validation)
    model = outcome.model
    assert outcome.metrics["method"] == "holdout-validation-set" and outcome.metrics["n_eval"] == 100
    truth = [y for _, y in rows[300:400]]
    predicted = model.predict(model.inputs([{"x": x} for x, _ in rows[300:400]]))
    assert outcome.metrics["accuracy"] == round(float(np.mean(np.array(predicted) == np.array(truth))), 4)
    assert outcome.metrics["n_train"] == 300 and outcome.n_train == 300

    tasks = [SimpleNamespace(data=d, consensus=c) for d, c in pairs(rows[300:400])]
    champion = training.train(kind, target, pairs(rows[100:200]), seed=1).model
    reused = [promotion.qualities(m, tasks, training.score_held_out(model, pairs(rows[300:400])))
              for m in (model, champion)]
    assert reused == [promotion.qualities(model, tasks), promotion.qualities(champion, tasks)]
    assert reused[0] != reused[1]  # two different models: the reuse did not score one twice

    # without a validation set: the 20% hold-out refit, as before
    plain = training.train(kind, target, pairs(rows[:300]), seed=0)
    assert plain.metrics["method"] == "holdout-20%" and plain.held_out is None


def test_the_artifact_is_a_pickle_joblib_reads_and_old_joblib_artifacts_still_load():
    kind = get_kind("tabular")
    target = kind.target(parse_label_config(tabular_config("Choices")))
    rows = breast_cancer_rows()
    model = training.train(kind, target, pairs(rows[:200]), seed=0).model
    X = model.inputs([{"x": x} for x, _ in rows[200:260]])
    expected = model.predict_proba(X)
    body = training.serialize(model)
    old = io.BytesIO()
    joblib.dump(model, old)
    for loaded in (joblib.load(io.BytesIO(body)), training.deserialize(body), training.deserialize(old.getvalue())):
        assert np.array_equal(loaded.predict_proba(X), expected)


def test_the_champion_reads_the_challengers_examples_only_from_the_same_task_objects():
    kind = get_kind("tabular")
    target = kind.target(parse_label_config(tabular_config("Choices")))
    rows = breast_cancer_rows()
    tasks = [SimpleNamespace(data=d, consensus=c) for d, c in pairs(rows[300:400])]
    challenger = training.train(kind, target, pairs(rows[:300]), seed=0).model
    champion = training.train(kind, target, pairs(rows[100:200]), seed=1).model
    scored = training.score_held_out(challenger, [(t.data, t.consensus) for t in tasks])
    assert promotion.examples_of(champion, tasks, scored) is scored.examples
    assert promotion.qualities(champion, tasks, scored) == promotion.qualities(champion, tasks)
    # a task whose consensus is another object (here another label): its example is read again
    flipped = {"label": ["benign" if tasks[0].consensus["label"] == ["malignant"] else "malignant"]}
    changed = [SimpleNamespace(data=tasks[0].data, consensus=flipped)] + tasks[1:]
    assert promotion.examples_of(champion, changed, scored)[0][1] == flipped["label"][0]
    assert promotion.qualities(champion, changed, scored) == promotion.qualities(champion, changed)


def test_the_champion_reads_its_stored_validation_predictions_and_predicts_only_changed_tasks():
    """What a version keeps of its own validation predictions (promotion.prediction_document, stored
    as JSON) gives the qualities predicting would, when it is judged as the next training's champion;
    a task that is new, or whose input changed, is predicted again."""
    import json

    kind = get_kind("tabular")
    target = kind.target(parse_label_config(tabular_config("Choices")))
    rows = breast_cancer_rows()
    tasks = [SimpleNamespace(task_id=i, data=d, consensus=c) for i, (d, c) in enumerate(pairs(rows[300:400]))]
    old = training.train(kind, target, pairs(rows[100:200]), seed=1,
                         held_out=[(t.data, t.consensus) for t in tasks[:90]])
    kept = json.loads(json.dumps(promotion.prediction_document(old.model, tasks[:90], old.held_out)))
    assert len(kept["predictions"]) == 90
    champion = old.model
    moved = [SimpleNamespace(task_id=0, data={"x": rows[0][0]}, consensus=tasks[0].consensus)] + tasks[1:]
    expected = [promotion.qualities(champion, some) for some in (tasks[:90], moved)]  # predicted in full
    calls = []
    original = champion.predict
    champion.predict = lambda X: calls.append(len(X)) or original(X)
    assert promotion.qualities(champion, tasks[:90], known=kept) == expected[0]
    assert calls == []  # every prediction came from the stored document
    assert promotion.qualities(champion, moved, known=kept) == expected[1]
    assert calls == [11]  # task 0's input changed and tasks 90-99 are new: only they are predicted
    assert promotion._restored(promotion._plain(((1, 4, "PER"), (6, 9, "LOC")))) == ((1, 4, "PER"), (6, 9, "LOC"))


def test_the_served_model_learns_the_held_out_labels_too_while_the_evidence_stays_the_judges():
    """refit_with_held_out: the metrics and held-out scores are those of a fit without the
    validation set (bit for bit as without the refit), and the served model is the same learner
    fit on the training and validation examples together."""
    kind = get_kind("tabular")
    target = kind.target(parse_label_config(tabular_config("Choices")))
    rows = breast_cancer_rows()
    validation = pairs(rows[300:400]) + [({"x": {"a": 1.0}}, {})]  # no label for this control: not refit on
    both = training.train(kind, target, pairs(rows[:300]), seed=0, held_out=validation, refit_with_held_out=True)
    judge_only = training.train(kind, target, pairs(rows[:300]), seed=0, held_out=validation)
    assert both.judge is not both.model and both.held_out.owner is both.judge
    assert {k: v for k, v in both.metrics.items() if k not in ("n_train", "n_fit_judged")} == \
        {k: v for k, v in judge_only.metrics.items() if k != "n_train"}
    assert both.metrics["n_fit_judged"] == 300 and both.n_train == both.metrics["n_train"] == 400

    inputs = both.model.inputs([{"x": x} for x, _ in rows[400:]])
    assert np.array_equal(both.judge.predict_proba(inputs), judge_only.model.predict_proba(inputs))
    every_label = training.train(kind, target, pairs(rows[:400]), seed=0).model
    assert np.allclose(both.model.predict_proba(inputs), every_label.predict_proba(inputs), atol=1e-9)
    assert not np.allclose(both.model.predict_proba(inputs), both.judge.predict_proba(inputs))
