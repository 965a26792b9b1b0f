"""Benchmark: CPU cost of one rescoring chunk, and where it goes (moto vs botocore vs our code).

    .venv/bin/python bench/rescore_chunk.py                       # this tree, pool of 5,000
    git archive c99bb6f | tar -x -C /tmp/before && \\
    .venv/bin/python bench/rescore_chunk.py --root /tmp/before     # the same for an older commit

Embedded moto (`mock_aws`), a pool of `--pool` SMS tasks, a promoted text model (as
bench/next_task.py builds them). A first chunk warms the model cache; then `--chunks` leaf
messages of 500 ids are handled directly (`rescoring.handle_request`) and their process CPU time
is recorded (CPU, not wall time: the machine is shared). One more chunk runs under cProfile, and
its own time is grouped by where the code lives: moto (and the standard library calls it makes),
which DynamoDB replaces; botocore (request building, signing, parsing: also paid against
DynamoDB); pynamodb; scikit-learn/numpy/scipy (featurisation, predict_proba); chalicelib.
Prints one JSON line; `--out` also writes it to bench/results/.
"""
from __future__ import annotations

import argparse
import collections
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHUNK = 500


def package_of(filename: str) -> str:
    for marker, group in (("/moto/", "moto"), ("/botocore/", "botocore"), ("/urllib3/", "botocore"),
                          ("/pynamodb/", "pynamodb"), ("/sklearn/", "sklearn/numpy/scipy"),
                          ("/numpy/", "sklearn/numpy/scipy"), ("/scipy/", "sklearn/numpy/scipy"),
                          ("chalicelib", "chalicelib")):
        if marker in filename:
            return group
    return "stdlib/builtins"


def profile_groups(stats: pstats.Stats) -> dict:
    """Own time per group; the standard library's and builtins' go to the group of the package
    that calls them (following each function's heaviest caller)."""
    groups: dict = {}

    def group_of(function, depth=0) -> str:
        if function not in groups:
            group = package_of(function[0])
            callers = stats.stats[function][4] if function in stats.stats else {}
            if group == "stdlib/builtins" and callers and depth < 50:
                groups[function] = group  # breaks cycles
                group = group_of(max(callers.items(), key=lambda kv: kv[1][3])[0], depth + 1)
            groups[function] = group
        return groups[function]

    own = collections.Counter()
    for function, (_, _, tottime, _, _) in stats.stats.items():
        own[group_of(function)] += tottime
    total = sum(own.values())
    return {group: round(seconds / total, 3) for group, seconds in own.most_common()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(HERE.parent), help="the code tree to measure (an exported commit)")
    parser.add_argument("--pool", type=int, default=5000)
    parser.add_argument("--chunks", type=int, default=5)
    parser.add_argument("--out", help="also write the JSON line to bench/results/OUT")
    args = parser.parse_args(argv)
    import next_task as bench  # fill_pool / train_and_promote / env_setup: store API common to old trees

    sys.path.insert(0, args.root)
    bench.env_setup()
    from moto import mock_aws

    with mock_aws():
        import chalicelib
        from activelabel_client.datasets import SMS_LABEL_CONFIG, sms_spam
        from chalicelib.services import rescoring
        from chalicelib.local.resources import create_resources
        from chalicelib.store import projects as project_db
        from chalicelib.store.models import bind_tables

        assert chalicelib.__file__.startswith(str(Path(args.root).resolve())), chalicelib.__file__
        os.environ.update(create_resources("activelabel-bench"))
        bind_tables()
        project = project_db.create_project("rescore", SMS_LABEL_CONFIG, {"model": "text_classifier", "sampling": "margin"})
        project_id = project.project_id
        bench.fill_pool(project_id, args.pool, [r["text"] for r in sms_spam()], seed=7)
        version = bench.train_and_promote(project_id)
        rescoring.handle_request(project_id, version, 1, CHUNK, CHUNK)  # loads the model
        firsts = [1 + CHUNK * (1 + i * (args.pool // CHUNK - 2) // max(1, args.chunks)) for i in range(args.chunks + 1)]
        cpu, outcomes = [], []
        for first in firsts[:-1]:
            started = time.process_time()
            outcomes.append(rescoring.handle_request(project_id, version, first, first + CHUNK - 1, CHUNK))
            cpu.append(time.process_time() - started)
        profiler = cProfile.Profile()
        profiler.enable()
        rescoring.handle_request(project_id, version, firsts[-1], firsts[-1] + CHUNK - 1, CHUNK)
        profiler.disable()
    result = {"root": args.root, "pool": args.pool, "chunk": CHUNK, "outcomes": sorted(set(outcomes)),
              "chunk_cpu_s": [round(c, 3) for c in cpu],
              "cpu_ms_per_task": round(statistics.median(cpu) * 1000 / CHUNK, 2),
              "profile_share": profile_groups(pstats.Stats(profiler))}
    line = json.dumps(result)
    print(line)
    if args.out:
        (HERE / "results" / args.out).write_text(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
