"""Active-learning strategies: pure functions from class probabilities to a serving order.

Every strategy turns a model's `predict_proba` output (n_samples x n_classes, any probabilistic
model kind) into one *priority* per sample, lower = served first. Priorities are plain floats so
they can be stored in a DynamoDB index and compared across chunks of a pool scored separately
(see services/rescoring_chunk.py); `select` takes the k lowest for an in-memory loop, so the
product and the benchmark's plain loop use the very same code.

- `sequential`: task id order.            - `random`: a seeded uniform permutation.
- `least_confidence`: highest class probability, lowest first.
- `margin`: gap between the two most probable classes, smallest first.
- `entropy`: predictive entropy, highest first.
- `diverse_margin`: the `candidates_per_cluster * clusters` smallest-margin samples are clustered
  (k-means on the model's feature embedding, or on the probabilities when the model has none) and
  served round-robin over clusters, each cluster's sample nearest its centre first (as in Zhdanov's
  "diverse mini-batch active learning", 2019: the typical sample of an ambiguous region rather than
  its oddest one), so a batch of labels covers several regions of the pool instead of one
  ambiguous corner. Priority = rank-within-cluster + margin, candidates before every other sample.
- `badge` (Ash et al., ICLR 2020): each sample's gradient embedding, the gradient of the loss at
  its predicted label w.r.t. a linear last layer, (p - onehot(argmax p)) (x) x; the first
  BADGE_PICKS samples of a k-means++ seeding over those embeddings are served first, in pick order,
  the rest by margin. Large gradients = uncertain, k-means++ = spread out. Exact for the linear
  classifiers the built-in kinds train; computed through <g_i, g_j> = <r_i, r_j> <x_i, x_j>, so
  sparse text features are never expanded into classes x features.
- `auto` (default) and `uncertainty` (Label Studio's name) resolve to AUTO_STRATEGY, the strategy
  bench/active_learning.py measured best on both SMS and digits: `diverse_margin` (see
  bench/results/README.md: through the product loop 0.43x random's labels on all of digits and
  0.29x on SMS, fewer than plain `margin` on both; badge and a dozen other strategies were worse).

Diversity is computed within one rescoring chunk (services/rescoring_chunk.py, 2,000 tasks by
default): a pool of several chunks gets each chunk's own clusters, which overlap.

numpy / scikit-learn are imported inside the functions: this module is imported by the API.
"""

STRATEGIES = ("sequential", "random", "least_confidence", "margin", "entropy", "diverse_margin", "badge")
EMBEDDING_STRATEGIES = ("diverse_margin", "badge")  # rescoring passes them the model's feature embedding
ALIASES = {"auto": "diverse_margin", "uncertainty": "diverse_margin"}
AUTO_STRATEGY = ALIASES["auto"]
MODEL_FREE = ("sequential", "random")

BADGE_PICKS = 100  # per chunk of rescored tasks, like diverse_margin's 100 candidates
DEFAULT_CLUSTERS = 10  # about one retraining's worth of labels (retrain_every defaults to 10)
CANDIDATES_PER_CLUSTER = 10  # 10 x 10 = the 100 smallest margins of a chunk (measured: 5 too narrow on digits)


def resolve(strategy: str | None) -> str:
    """The concrete strategy a project setting names ("auto"/"uncertainty"/None -> AUTO_STRATEGY)."""
    name = ALIASES.get(strategy or "auto", strategy)
    if name not in STRATEGIES:
        raise ValueError(f"unknown sampling strategy {strategy!r}; expected one of {STRATEGIES + tuple(ALIASES)}")
    return name


def needs_model(strategy: str | None) -> bool:
    return resolve(strategy) not in MODEL_FREE


def _sorted_probabilities(probabilities):
    import numpy as np

    p = np.asarray(probabilities, dtype=float)
    if p.ndim != 2 or p.shape[1] < 1:
        raise ValueError(f"probabilities must be n_samples x n_classes, got shape {p.shape}")
    return np.sort(p, axis=1)[:, ::-1]


def least_confidence(probabilities):
    return _sorted_probabilities(probabilities)[:, 0]


def margin(probabilities):
    top = _sorted_probabilities(probabilities)
    if top.shape[1] == 1:
        return top[:, 0]
    return top[:, 0] - top[:, 1]


def entropy(probabilities):
    import numpy as np

    p = np.clip(np.asarray(probabilities, dtype=float), 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=1)


def random_keys(n: int, seed: int):
    import numpy as np

    return np.random.default_rng(seed).random(n)


def clusters_of(embedding, n_clusters: int, seed: int):
    """k-means of the rows of `embedding` (dense or sparse, at least one row): each row's cluster id
    and its distance to that cluster's centre."""
    import numpy as np
    from sklearn.cluster import KMeans

    n = embedding.shape[0]
    kmeans = KMeans(n_clusters=max(1, min(n_clusters, n)), n_init=1, random_state=seed).fit(embedding)
    return kmeans.labels_, kmeans.transform(embedding)[np.arange(n), kmeans.labels_]


def diverse_margin(probabilities, embedding=None, clusters: int = DEFAULT_CLUSTERS,
                   candidates_per_cluster: int = CANDIDATES_PER_CLUSTER, seed: int = 0,
                   representative_first: bool = True):
    return diverse_margin_clusters(probabilities, embedding, clusters, candidates_per_cluster, seed,
                                   representative_first)[0]


def diverse_margin_clusters(probabilities, embedding=None, clusters: int = DEFAULT_CLUSTERS,
                            candidates_per_cluster: int = CANDIDATES_PER_CLUSTER, seed: int = 0,
                            representative_first: bool = True):
    """diverse_margin's priorities and each sample's cluster id (-1: not a candidate)."""
    import numpy as np

    gaps = margin(probabilities)
    n = len(gaps)
    cluster_of = np.full(n, -1, dtype=int)
    if n == 0:
        return gaps, cluster_of
    order = np.argsort(gaps, kind="stable")
    candidates = order[: min(n, clusters * candidates_per_cluster)]
    space = np.asarray(probabilities, dtype=float) if embedding is None else embedding
    labels, distances = clusters_of(space[candidates], clusters, seed)
    # each candidate's rank in its cluster: nearest the cluster's centre first (the cluster's most
    # typical ambiguous sample, measured better than its most ambiguous one), or by margin
    within = np.lexsort((gaps[candidates], distances)) if representative_first else np.arange(len(candidates))
    ranks = np.empty(len(candidates), dtype=float)
    seen: dict[int, int] = {}
    for i in within:
        label = int(labels[i])
        ranks[i] = seen.get(label, 0)
        seen[label] = int(ranks[i]) + 1
    rest_base = float(ranks.max() + 1) if len(ranks) else 0.0
    out = rest_base + 1.0 + gaps  # margins are <= 1: every non-candidate after every candidate
    out[candidates] = ranks + gaps[candidates]
    cluster_of[candidates] = labels
    return out, cluster_of


def _row_dots(x, i):
    """<x_j, x_i> for every row j of x (dense or scipy sparse), as a dense vector."""
    import numpy as np

    product = x @ x[i].T
    return np.asarray(product.todense() if hasattr(product, "todense") else product, dtype=float).ravel()


def badge(probabilities, embedding=None, picks: int = BADGE_PICKS, seed: int = 0):
    import numpy as np

    p = np.asarray(probabilities, dtype=float)
    n = len(p)
    x = p if embedding is None else embedding
    if hasattr(x, "multiply"):  # scipy sparse
        x = x.tocsr()
        x_sq = np.asarray(x.multiply(x).sum(axis=1), dtype=float).ravel()
    else:
        x = np.asarray(x, dtype=float)
        x_sq = (x * x).sum(axis=1)
    r = p.copy()
    r[np.arange(n), p.argmax(axis=1)] -= 1.0  # gradient of the cross-entropy at the predicted label
    g_sq = (r * r).sum(axis=1) * x_sq

    def squared_distances(i):
        return np.clip(g_sq + g_sq[i] - 2.0 * (r @ r[i]) * _row_dots(x, i), 0.0, None)

    out = float(min(picks, n)) + 1.0 + margin(p)  # the rest after every pick, smallest margin first
    if n == 0:
        return out
    rng = np.random.default_rng(seed)
    chosen = [int(np.argmax(g_sq))]  # k-means++ starts from the largest gradient, as BADGE does
    nearest = squared_distances(chosen[0])
    while len(chosen) < min(picks, n) and nearest.sum() > 0:
        pick = int(rng.choice(n, p=nearest / nearest.sum()))
        chosen.append(pick)
        nearest = np.minimum(nearest, squared_distances(pick))
        nearest[chosen] = 0.0
    out[chosen] = np.arange(len(chosen), dtype=float)
    return out


def priorities(strategy: str | None, probabilities=None, *, task_ids=None, embedding=None, seed: int = 0,
               clusters: int = DEFAULT_CLUSTERS):
    """One float per sample, lower = serve first, for `strategy` (a name or alias).

    `probabilities` (n x classes) is needed by every strategy but sequential and random;
    `task_ids` by sequential; `embedding` (n x d, optional) by diverse_margin and badge.
    """
    import numpy as np

    name = resolve(strategy)
    if name == "sequential":
        return np.asarray(task_ids, dtype=float)
    n = len(task_ids) if probabilities is None else len(probabilities)
    if name == "random":
        return random_keys(n, seed)
    if probabilities is None:
        raise ValueError(f"strategy {name!r} needs class probabilities")
    if name == "least_confidence":
        return least_confidence(probabilities)
    if name == "margin":
        return margin(probabilities)
    if name == "entropy":
        return -entropy(probabilities)
    if name == "badge":
        return badge(probabilities, embedding, seed=seed)
    return diverse_margin(probabilities, embedding, clusters=clusters, seed=seed)


def ranked(strategy: str | None, probabilities=None, *, task_ids=None, embedding=None, seed: int = 0):
    """`priorities` and, for diverse_margin, each sample's cluster id (-1: not a candidate; None for
    the strategies without clusters)."""
    if resolve(strategy) == "diverse_margin" and probabilities is not None:
        return diverse_margin_clusters(probabilities, embedding, seed=seed)
    return priorities(strategy, probabilities, task_ids=task_ids, embedding=embedding, seed=seed), None


def select(strategy: str | None, k: int, probabilities=None, *, task_ids=None, embedding=None, seed: int = 0):
    """Indices of the k samples `strategy` serves first (ties broken by position)."""
    import numpy as np

    scores = priorities(strategy, probabilities, task_ids=task_ids, embedding=embedding, seed=seed, clusters=k)
    return np.argsort(scores, kind="stable")[:k]


def feature_embedding(model, inputs):
    """The features a model's classifier sees, for diversity: `model.embed(inputs)` when the kind
    defines it, the project's pool representation when the model has one (`model.embedding`), else every step but the last of its scikit-learn pipeline (`estimator`, or `pipeline`
    in artifacts older than the shared model base); None when neither exists (diverse_margin then
    clusters the probabilities)."""
    if hasattr(model, "embed"):
        return model.embed(inputs)
    pooled = model.embedding(inputs) if hasattr(model, "embedding") else None
    if pooled is not None:
        return pooled
    pipeline = getattr(model, "estimator", None) or getattr(model, "pipeline", None)
    steps = getattr(pipeline, "steps", None)
    if steps and len(steps) > 1:
        return pipeline[:-1].transform(inputs)
    return None
