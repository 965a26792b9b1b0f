"""The final estimator of the numpy form: `Linear` reproduces the decision function and link of
LogisticRegression, SGDClassifier (log_loss), Ridge and a multilabel OneVsRestClassifier over
them; `export_final` writes a fitted one as arrays.

numpy is imported inside functions only, and scikit-learn only when exporting: the API imports
this package at cold start, and the predict path must not import scikit-learn.
"""
from chalicelib.ml.numpy_form.arrays import CannotExport, Rows, Writer


class Linear:
    """A linear model's decision function and its link: "logistic" (binary), "softmax", "ovr"
    (one-vs-rest normalised), "multilabel" (a logistic per column, constant columns kept) or
    "identity" (regression)."""

    def __init__(self, link: str, coef, intercept, constant=None):
        self.link, self.coef, self.intercept, self.constant = link, coef, intercept, constant

    def decision_function(self, X):
        import numpy as np

        if isinstance(X, Rows):
            weights = self.coef.T[X.indices] * X.data[:, None]
            ids = X.row_ids()
            out = np.empty((len(X), self.coef.shape[0]))
            for j in range(self.coef.shape[0]):
                out[:, j] = np.bincount(ids, weights=weights[:, j], minlength=len(X))
        else:
            out = np.asarray(X, dtype=np.float64) @ self.coef.T
        out += self.intercept
        return out.ravel() if out.shape[1] == 1 else out

    def predict(self, X):
        return self.decision_function(X)

    def predict_proba(self, X):
        import numpy as np

        scores = self.decision_function(X)
        if self.link == "softmax":
            scores = scores - scores.max(axis=1)[:, None]
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=1)[:, None]
            return scores
        with np.errstate(over="ignore"):  # exp overflows to inf for very negative scores: probability 0
            prob = 1.0 / (1.0 + np.exp(-scores))
        if self.link == "logistic":
            return np.stack([1 - prob, prob], axis=1)
        if self.link == "multilabel":
            prob = prob.reshape(len(prob), -1)
            if self.constant is not None:
                fixed = ~np.isnan(self.constant)
                prob[:, fixed] = self.constant[fixed]
            if prob.shape[1] == 1:
                return np.concatenate([1 - prob, prob], axis=1)
            return prob
        total = prob.sum(axis=1)  # "ovr"
        zero = total == 0
        if zero.any():
            prob[zero, :] = 1
            total[zero] = prob.shape[1]
        prob /= total[:, None]
        return prob


def export_final(step, writer: Writer) -> dict:
    import numpy as np
    from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier
    from sklearn.multiclass import OneVsRestClassifier

    def linear(link, coef, intercept, constant=None):
        out = {"type": "linear", "link": link, "coef": writer.array("final.coef", np.atleast_2d(coef)),
               "intercept": writer.array("final.intercept", np.atleast_1d(intercept))}
        if constant is not None:
            out["constant"] = writer.array("final.constant", constant)
        return out

    if isinstance(step, LogisticRegression):
        return linear("logistic" if step.coef_.shape[0] == 1 else "softmax", step.coef_, step.intercept_)
    if isinstance(step, SGDClassifier):
        if step.loss != "log_loss":
            raise CannotExport(f"SGDClassifier loss {step.loss!r}")
        return linear("logistic" if step.coef_.shape[0] == 1 else "ovr", step.coef_, step.intercept_)
    if isinstance(step, Ridge):
        if np.ndim(step.coef_) != 1:
            raise CannotExport("Ridge with several targets")
        return linear("identity", step.coef_, step.intercept_)
    if isinstance(step, OneVsRestClassifier):
        if not step.multilabel_:
            raise CannotExport("multiclass OneVsRestClassifier")
        coefs, intercepts, constant = [], [], []
        for estimator in step.estimators_:
            if isinstance(estimator, LogisticRegression) and estimator.coef_.shape[0] == 1:
                coefs.append(estimator.coef_[0])
                intercepts.append(estimator.intercept_[0])
                constant.append(np.nan)
            elif hasattr(estimator, "y_"):  # a column that was constant in training
                coefs.append(np.zeros(step.n_features_in_))
                intercepts.append(0.0)
                constant.append(float(estimator.predict_proba(np.zeros((1, 1)))[0, 1]))
            else:
                raise CannotExport(f"one-vs-rest column {type(estimator).__name__}")
        return linear("multilabel", np.vstack(coefs), np.asarray(intercepts), np.asarray(constant))
    raise CannotExport(f"no numpy form for {type(step).__name__}")
