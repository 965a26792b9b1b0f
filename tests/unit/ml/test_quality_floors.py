"""Quality floors on real data, each measured against a baseline computed in the same test.

The models are trained directly through the model-kind modules (the moto path is covered once
per kind in tests/functional/test_model_kinds.py). Each trained model's numpy serving form
(chalicelib/ml/numpy_form/) is checked against it on the same held-out data: labels equal,
probabilities and scores within 1e-9."""
import re
from collections import Counter

import pytest

from activelabel_client.datasets import sms_split
from chalicelib.labeling.config import parse_label_config
from chalicelib.labeling.validation import validate_result
from chalicelib.ml import numpy_form, sampling, training
from chalicelib.ml.registry import get_kind
from tests import kind_data
from tests.kind_data import entity_spans, target, wnut


def make(kind_name, config_xml, seed=0):
    return get_kind(kind_name).implementation()(target(config_xml, kind_name), seed=seed)


def assert_numpy_form_matches(model, X):
    """The model's numpy form, loaded without pickle, scores encoded inputs X as the model does."""
    import numpy as np
    from scipy.sparse import issparse

    from chalicelib.ml.span_tagger import token_features, tokenize

    body = numpy_form.export(model)
    assert body is not None and numpy_form.is_numpy_form(body)
    served = numpy_form.load(body)
    assert type(served) is type(model) and served.target == model.target
    ours, theirs = model.scored(X), served.scored(X)
    if model.problem == "spans":  # a label is spans (start, end, label, score): the score compared apart
        ours = [(tuple(span[:3] for span in spans), [score, *(span[3] for span in spans)]) for spans, score in ours]
        theirs = [(tuple(span[:3] for span in spans), [score, *(span[3] for span in spans)])
                  for spans, score in theirs]
    assert [label for label, _ in theirs] == [label for label, _ in ours]
    assert np.abs(np.hstack([s for _, s in theirs]) - np.hstack([s for _, s in ours])).max() <= 1e-9
    if model.problem == "spans":
        X = [row for text in X for row in token_features(text, tokenize(text))]
    if model.problem == "regression":
        expected, got = model.estimator.predict(X), served.estimator.predict(X)
    else:
        expected, got = model.estimator.predict_proba(X), served.estimator.predict_proba(X)
    assert got.shape == expected.shape and np.abs(got - expected).max() <= 1e-9
    embedding, served_embedding = sampling.feature_embedding(model, X), sampling.feature_embedding(served, X)
    if issparse(embedding):  # compared sparse: the NER embedding densified is gigabytes
        assert served_embedding.shape == embedding.shape and abs(served_embedding - embedding).max() <= 1e-9
    else:
        assert np.abs(np.asarray(served_embedding) - np.asarray(embedding)).max() <= 1e-9


@pytest.fixture(scope="module")
def wnut_splits():
    return wnut("train"), wnut("test")


def test_sms_spam_macro_f1_at_least_090_from_500_labels():
    from activelabel_client.datasets import SMS_LABEL_CONFIG
    from sklearn.metrics import f1_score

    pool, test = sms_split(500, 1000, seed=3)
    model = make("text_classifier", SMS_LABEL_CONFIG)
    model.fit(model.encode([r["text"] for r in pool]), [r["label"] for r in pool])
    predicted = model.predict(model.encode([r["text"] for r in test]))
    macro_f1 = f1_score([r["label"] for r in test], predicted, average="macro")
    print(f"SMS spam, 500 labels: macro-F1 {macro_f1:.4f} on {len(test)} held-out texts")
    assert macro_f1 >= 0.90
    assert_numpy_form_matches(model, model.encode([r["text"] for r in test]))


def lookup_baseline(train_rows, texts):
    """Tag every whole-word occurrence of a training entity string with its most frequent type."""
    types: dict[str, Counter] = {}
    for row in train_rows:
        for s, e, label in entity_spans(row):
            types.setdefault(row["text"][s:e], Counter())[label] += 1
    lexicon = {entity: counts.most_common(1)[0][0] for entity, counts in types.items()}
    pattern = re.compile(r"(?<!\w)(" + "|".join(re.escape(e) for e in sorted(lexicon, key=len, reverse=True)) + r")(?!\w)")
    return [tuple((m.start(), m.end(), lexicon[m.group(0)]) for m in pattern.finditer(text)) for text in texts]


def test_wnut17_entity_f1_beats_the_training_lexicon_lookup(wnut_splits):
    train_rows, test_rows = wnut_splits
    model = make("ner_tagger", kind_data.NER_CONFIG)
    model.fit([r["text"] for r in train_rows], [entity_spans(r) for r in train_rows])
    texts = [r["text"] for r in test_rows]
    gold = [entity_spans(r) for r in test_rows]
    ours = training.span_scores(gold, model.predict(texts))
    baseline = training.span_scores(gold, lookup_baseline(train_rows, texts))
    print(f"WNUT-17 test: tagger {ours}, lexicon lookup {baseline}")
    assert ours["f1"] > baseline["f1"]
    assert ours["f1"] >= 0.12  # the absolute floor this tagger reaches (0.177 measured), so a regression shows
    assert_numpy_form_matches(model, texts[:500])

    config = parse_label_config(kind_data.NER_CONFIG)
    predictions = model.predictions([{"text": t} for t in texts[:300]], "v1")
    n_spans = 0
    for text, prediction in zip(texts, predictions):
        validate_result(config, prediction["result"], {"text": text})
        for item in prediction["result"]:
            value = item["value"]
            assert text[value["start"]:value["end"]] == value["text"] and value["text"].strip() == value["text"]
            n_spans += 1
    assert n_spans > 0


def test_multilabel_entity_types_beat_the_most_frequent_set(wnut_splits):
    train_rows, test_rows = [[r for r in rows if r["spans"]][:n] for rows, n in zip(wnut_splits, (500, 300))]
    model = make("text_classifier", kind_data.TOPICS_CONFIG)
    assert model.problem == "multilabel"
    labels = [tuple(sorted({s["label"] for s in r["spans"]})) for r in train_rows]
    model.fit(model.encode([r["text"] for r in train_rows]), labels)
    gold = [tuple(sorted({s["label"] for s in r["spans"]})) for r in test_rows]
    ours = training.scores("multilabel", gold, model.predict([r["text"] for r in test_rows]))
    most_frequent = Counter(labels).most_common(1)[0][0]
    baseline = training.scores("multilabel", gold, [most_frequent] * len(gold))
    print(f"entity types per sentence: ours {ours}, most frequent set {baseline}")
    assert ours["macro_f1"] > baseline["macro_f1"] + 0.1 and ours["micro_f1"] > baseline["micro_f1"]
    several = model.predictions([{"text": r["text"]} for r in test_rows], "v1")
    assert any(len(p["result"][0]["value"]["choices"]) > 1 for p in several)
    assert_numpy_form_matches(model, [r["text"] for r in test_rows])


def test_taxonomy_of_the_first_entity_beats_the_majority_path(wnut_splits):
    from sklearn.metrics import f1_score

    train_rows, test_rows = [[r for r in rows if r["spans"]][:n] for rows, n in zip(wnut_splits, (500, 400))]
    model = make("taxonomy_classifier", kind_data.TAXONOMY_CONFIG)

    def consensus(row):
        return {"kind": [list(kind_data.TAXONOMY_OF[row["spans"][0]["label"]])]}

    inputs, labels = training.collect_examples(model, [({"text": r["text"]}, consensus(r)) for r in train_rows])
    model.fit(model.encode(inputs), labels)
    predictions = model.predictions([{"text": r["text"]} for r in test_rows], "v1")
    predicted = [p["result"][0]["value"]["taxonomy"][0] for p in predictions]
    gold = [consensus(r)["kind"][0] for r in test_rows]
    macro_f1 = f1_score(list(map("/".join, gold)), list(map("/".join, predicted)), average="macro")
    majority = Counter(map("/".join, [consensus(r)["kind"][0] for r in train_rows])).most_common(1)[0][0]
    baseline = f1_score(list(map("/".join, gold)), [majority] * len(gold), average="macro")
    print(f"taxonomy paths: macro-F1 {macro_f1:.4f}, majority path {baseline:.4f}")
    assert macro_f1 > baseline + 0.05
    config = parse_label_config(kind_data.TAXONOMY_CONFIG)
    for p in predictions:
        validate_result(config, p["result"])
    assert len(model.classes_) > 2  # softmax over the paths
    assert_numpy_form_matches(model, [r["text"] for r in test_rows])


def test_entity_count_number_on_text_beats_the_mean(wnut_splits):
    train_rows, test_rows = wnut_splits
    model = make("text_regressor", kind_data.COUNT_CONFIG)
    model.fit(model.encode([r["text"] for r in train_rows]), [float(len(r["spans"])) for r in train_rows])
    gold = [float(len(r["spans"])) for r in test_rows]
    ours = training.scores("regression", gold, model.predict([r["text"] for r in test_rows]))
    mean = sum(len(r["spans"]) for r in train_rows) / len(train_rows)
    baseline = training.scores("regression", gold, [mean] * len(gold))
    print(f"entities per sentence (Number): ours {ours}, training mean {baseline}")
    assert ours["mae"] < baseline["mae"]
    assert all(0 <= v <= 10 for v in model.predict([r["text"] for r in test_rows]))
    assert_numpy_form_matches(model, [r["text"] for r in test_rows])


def test_breast_cancer_table_within_003_of_plain_logistic_regression():
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    rows = kind_data.breast_cancer_rows()
    fit_rows, eval_rows = train_test_split(rows, test_size=0.3, random_state=0, stratify=[r[1] for r in rows])
    model = make("tabular", kind_data.tabular_config("Choices"))
    model.fit(model.encode([r[0] for r in fit_rows]), [r[1] for r in fit_rows])
    ours = training.scores("classification", [r[1] for r in eval_rows], model.predict(model.encode([r[0] for r in eval_rows])))

    def arrays(part):
        return np.array([list(r[0].values()) for r in part]), [r[1] for r in part]

    plain = LogisticRegression(max_iter=5000).fit(*arrays(fit_rows))
    x_eval, y_eval = arrays(eval_rows)
    plain_accuracy = float((plain.predict(x_eval) == np.array(y_eval)).mean())
    print(f"breast cancer: tabular {ours}, plain LogisticRegression accuracy {plain_accuracy:.4f}")
    assert ours["accuracy"] >= plain_accuracy - 0.03
    assert_numpy_form_matches(model, model.encode([r[0] for r in eval_rows]))


def test_diabetes_number_on_table_within_003_r2_of_plain_ridge():
    import numpy as np
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score
    from sklearn.model_selection import train_test_split

    rows = kind_data.diabetes_rows()
    fit_rows, eval_rows = train_test_split(rows, test_size=0.3, random_state=0)
    model = make("tabular", kind_data.tabular_config("Number"))
    assert model.problem == "regression"
    model.fit(model.encode([r[0] for r in fit_rows]), [r[1] for r in fit_rows])
    ours = training.scores("regression", [r[1] for r in eval_rows], model.predict(model.encode([r[0] for r in eval_rows])))
    plain = Ridge().fit(np.array([list(r[0].values()) for r in fit_rows]), [r[1] for r in fit_rows])
    plain_r2 = r2_score([r[1] for r in eval_rows], plain.predict(np.array([list(r[0].values()) for r in eval_rows])))
    print(f"diabetes: tabular {ours}, plain Ridge r2 {plain_r2:.4f}")
    assert ours["r2"] >= plain_r2 - 0.03
    assert_numpy_form_matches(model, model.encode([r[0] for r in eval_rows]))


def test_digits_as_png_in_s3_read_through_the_image_path(aws):
    from chalicelib.store.aws import client

    s3 = client("s3")
    s3.create_bucket(Bucket="activelabel-media-test")
    rows = kind_data.put_digits(s3, "activelabel-media-test", range(1000))
    fit_rows, eval_rows = rows[:700], rows[700:]
    model = make("image_classifier", kind_data.DIGITS_CONFIG)
    model.fit(model.encode([url for url, _ in fit_rows]), [d for _, d in fit_rows])
    X_eval = model.encode([url for url, _ in eval_rows])
    predicted = model.predict(X_eval)
    accuracy = sum(p == d for p, (_, d) in zip(predicted, eval_rows)) / len(eval_rows)
    print(f"digits as PNG via s3://: accuracy {accuracy:.4f} on {len(eval_rows)} images")
    assert accuracy >= 0.90
    assert_numpy_form_matches(model, X_eval)
