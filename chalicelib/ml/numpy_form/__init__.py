"""The numpy serving form of a trained model: scored with numpy alone, loaded without pickle.

At training time `export(model)` walks the fitted scikit-learn pipeline and writes every step it
knows as arrays in an .npz (coefficients, idf weights, scaler moments) plus JSON (parameters,
vocabularies, the model's own state) stored in the same .npz as uint8 arrays; it returns None when
a step has no numpy form (that model keeps its joblib artifact). At serving time `load(body)` reads
it with `np.load(allow_pickle=False)` and rebuilds the same model class with a `NumpyPipeline` as
its `estimator`: the model's own `predictions` / `predict_proba` / `scored` run unchanged, and no
scikit-learn (nor scipy, except for `transform` of a sparse embedding) is imported.

Steps with a numpy form (the ones the built-in kinds use):
- TfidfVectorizer (analyzer "word" or "char_wb", lowercase, no accent stripping or stop words),
  a FeatureUnion of them, DictVectorizer (sparse or dense), StandardScaler, passthrough, the NER
  tagger's int32-index FunctionTransformer (a no-op here);
- LogisticRegression (binary: logistic; multiclass: softmax), SGDClassifier with log_loss (binary:
  logistic; multiclass: one-vs-rest normalised), OneVsRestClassifier over them (multilabel),
  Ridge (one target).
Each reproduces scikit-learn's arithmetic (same order of operations), so outputs agree to
Each reproduces scikit-learn's arithmetic (same order of operations), so outputs agree to
floating-point rounding (tests/unit/ml/test_numpy_form.py checks 1e-9 per kind on real data).

The package: `container` (the .npz format, `export`, `load`, `NumpyPipeline`), `features` (the
transform steps), `estimators` (the final linear model), `arrays` (sparse rows, the array writer).
numpy is imported inside functions only, and scikit-learn only when exporting: the API imports
this package at cold start, and the predict path must not import scikit-learn.
"""
from chalicelib.ml.numpy_form.arrays import CannotExport, Rows
from chalicelib.ml.numpy_form.container import FORMAT, FORMAT_VERSION, NumpyPipeline, export, is_numpy_form, load
from chalicelib.ml.numpy_form.features import WORD_CACHE_SIZE

__all__ = ["FORMAT", "FORMAT_VERSION", "WORD_CACHE_SIZE", "CannotExport", "NumpyPipeline", "Rows",
           "export", "is_numpy_form", "load"]
