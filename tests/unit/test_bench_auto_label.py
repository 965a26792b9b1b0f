"""bench/auto_label.py: the report judges the issue's criteria from the per-seed files, and the noisy
annotator of the suspects bench flips exactly the share asked, never to the same class."""
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def bench(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("auto_label_bench", ROOT / "bench" / "auto_label.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path)
    return module


def version(name, human, given, right):
    return {"version": name, "human_labels": human, "auto": given, "auto_right": right,
            "auto_accuracy": right / given if given else None, "by_this_version": given,
            "by_this_version_right": right, "version_accuracy": right / given if given else None,
            "threshold": 0.9 if given else None, "validation_size": 120, "active": bool(given)}


def seed(number, human, auto, auto_right, versions, pool=1000):
    return {"dataset": "sms", "seed": number, "pool": pool, "step": 50, "human_labels": human, "human_tasks": human,
            "human_share": human / pool, "auto": auto, "coverage": auto / pool,
            "auto_accuracy": auto_right / auto if auto else None, "left": pool - human - auto,
            "overall_accuracy": (human + auto_right) / pool, "budget_ran_out": pool - human - auto > 0,
            "versions": versions, "audit": {"audited": 3, "agreed": 3}, "wall_s": 10.0}


def test_report_judges_both_criteria_from_the_seed_files(bench, tmp_path):
    seeds = {
        "0": seed(0, 200, 800, 790, [version("v1", 50, 0, 0), version("v2", 100, 700, 690), version("v3", 200, 800, 790)]),
        # a version below the target, and a seed that needed more than 25% people
        "1": seed(1, 300, 700, 690, [version("v1", 50, 0, 0), version("v2", 100, 600, 560), version("v3", 300, 700, 690)]),
    }
    (tmp_path / "auto_label-sms.json").write_text(json.dumps({"settings": {}, "seeds": seeds}))
    bench.report()
    text = (tmp_path / "auto_label.md").read_text()
    assert "3 of 4 (0.750) -> **does not hold**" in text  # v2 of seed 1: 560/600 < 0.95; v1s gave none
    assert "1 of 2 seeds -> **does not hold**" in text  # seed 1: 30% by people
    summary = json.loads((tmp_path / "auto_label.json").read_text())["summary"]["sms"]
    assert summary["human_share_median"] == pytest.approx(0.25)
    assert summary["pairs"] == 4 and summary["pairs_at_target"] == 3
    assert (tmp_path / "auto_label.png").stat().st_size > 0


def test_the_noisy_annotator_flips_the_share_asked_to_another_class(bench):
    labels = [str(i % 3) for i in range(1000)]
    given, flipped = bench.flip_labels(labels, 0.1, seed=4)
    assert len(flipped) == 100
    assert all((given[i] != labels[i]) == (i in flipped) for i in range(len(labels)))
    assert bench.flip_labels(labels, 0.1, seed=4) == (given, flipped)
    assert bench.flip_labels(labels, 0.1, seed=5)[1] != flipped
