"""Which tasks `GET /next` serves, and in what order: plain rules, no AWS, no numpy.

A task is in one of three queues (sparse DynamoDB indexes, see store/models.py):
- `rework`: someone started it but it is not accepted: fewer completions than `overlap`, or their
  agreement is below the threshold; or it is accepted but its label is a suspect (the model
  confidently contradicts it, services/suspects.py) and another person should judge it. Served
  first (lowest agreement first), to annotators who have not done it, up to
  `overlap + MAX_EXTRA_ANNOTATORS` completions (then it is left for review).
- `scored`: nobody completed it and the last promoted model ranked it (priority from the project's
  sampling strategy, see ml/sampling.py).
- `pool`: nobody completed it; read in random-key order = a uniform random permutation.

The first batch (`first_batch_size`, default `min_completions`) is always uniform random, and a
model-free strategy (`random`, `sequential`) never reads `scored`; otherwise `scored` comes first and
`pool` catches tasks no model has scored yet (a rescoring in progress, tasks imported since).
"""
import random

from chalicelib.domain.settings import MODEL_FREE_STRATEGIES

MAX_EXTRA_ANNOTATORS = 2
LOCK_TTL_SECONDS = 600
PAGE_SIZE = 20  # index items read per Query
# A call reads at most 3 queues x 5 pages however large the pool: enough to pass 99 tasks other
# annotators hold at the head of a queue, so N <= 100 concurrent callers on M >= N open tasks each
# get one (a lost race means another caller won that task, so a caller loses at most N - 1).
MAX_PAGES_PER_QUEUE = 5
MAX_LOCK_ATTEMPTS = 100  # conditional writes per call; past it (or past the pages) 503, never 204


def pick_after_lost_race(n_candidates: int) -> int:
    """Which of the page's remaining candidates to try after losing a race: a uniform one."""
    return random.randrange(n_candidates)


QUEUES = ("rework", "scored", "pool")  # the order `next` reads them in (after the random phase)
# A completion being started takes its task out of these at once (the stream then re-judges it).
LEFT_ON_COMPLETION = frozenset({"pool", "scored"})


def queues_of(n_completions: int, accepted: bool, agreement: float | None, overlap: int,
              has_random_key: bool, has_score: bool, suspect: bool = False) -> frozenset[str]:
    """The queues a task is in, from its judged label state. The one rule: the store only turns the
    answer into the sparse index attributes (`<queue>_project`).

    - `pool`: nobody completed it (and it has its random key, the index's sort key);
    - `scored`: in the pool and ranked by a model;
    - `rework`: started, not accepted (or accepted with a `suspect` label: relabel it), fewer than
      `overlap + MAX_EXTRA_ANNOTATORS` completions, and an agreement (the index's sort key) to rank it by.
    """
    queues = set()
    if n_completions == 0 and has_random_key:
        queues.add("pool")
        if has_score:
            queues.add("scored")
    if (not accepted or suspect) and 0 < n_completions < overlap + MAX_EXTRA_ANNOTATORS and agreement is not None:
        queues.add("rework")
    return frozenset(queues)


def first_batch_size(settings: dict) -> int:
    return int(settings.get("first_batch_size") or settings.get("min_completions") or 1)


def queue_order(settings: dict, completions_count: int) -> list[str]:
    """The indexes to read, in order, for the next task."""
    random_phase = completions_count < first_batch_size(settings) * int(settings.get("overlap") or 1)
    if random_phase or settings.get("sampling") in MODEL_FREE_STRATEGIES:
        return ["rework", "pool"]
    return ["rework", "scored", "pool"]
