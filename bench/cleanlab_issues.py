"""cleanlab's find_label_issues on out-of-fold probabilities from a JSON file (bench/auto_label.py --suspects).

Runs in .venv-cleanlab only (`make cleanlab-venv`): cleanlab is AGPL-3.0, so it is never imported
by the product nor installed in its venv; the bench calls this script in a subprocess.

    .venv-cleanlab/bin/python bench/cleanlab_issues.py IN.json OUT.json

IN: {"labels": [class index per example], "pred_probs": [[probability per class] per example]}.
OUT: {"cleanlab_version", "issues": {filter_by: [indices flagged, most likely wrong first]}} for
cleanlab's default filter (prune_by_noise_rate) and for confident_learning (the off-diagonal of the
confident joint, the rule the product implements).
"""
import json
import sys


def main(source: str, target: str) -> None:
    import cleanlab
    import numpy as np
    from cleanlab.filter import find_label_issues

    data = json.loads(open(source).read())
    labels = np.asarray(data["labels"], dtype=int)
    pred_probs = np.asarray(data["pred_probs"], dtype=float)
    pred_probs = pred_probs / pred_probs.sum(axis=1, keepdims=True)  # rounded in the JSON: rows sum to 1 again
    issues = {}
    for filter_by in ("prune_by_noise_rate", "confident_learning"):
        ranked = find_label_issues(labels, pred_probs, filter_by=filter_by,
                                   return_indices_ranked_by="self_confidence", n_jobs=1)
        issues[filter_by] = [int(i) for i in ranked]
    with open(target, "w") as handle:
        json.dump({"cleanlab_version": cleanlab.__version__, "issues": issues}, handle)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
