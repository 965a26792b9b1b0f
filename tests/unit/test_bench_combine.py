"""bench/active_learning.py --combine: seeds run separately merge into one table, each run keeping
its own budget (a seed that never reached the target counts as its run's budget)."""
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def bench(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("active_learning_bench", ROOT / "bench" / "active_learning.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path / "results")
    return module


def result_file(path, first_seed, budget, curves, full):
    settings = {"pool": 100, "test": 50, "first_batch": 20, "batch": 10, "budget": budget, "product_budget": None,
                "first_seed": first_seed, "seeds": len(full), "datasets": "digits", "tag": ""}
    path.write_text(json.dumps({
        "settings": settings, "rows": [],
        "full_pool": {f"digits/seed{s}": {"accuracy": a, "macro_f1": a} for s, a in full.items()},
        "curves": curves}))
    return str(path)


def test_combine_merges_seeds_and_keeps_each_runs_budget(bench, tmp_path):
    first = result_file(tmp_path / "a.json", 0, 60, {
        "digits/product/auto": {"0": [[20, 0.5, 0.5], [30, 0.96, 0.96]]},
        "digits/product/random": {"0": [[20, 0.5, 0.5], [60, 0.97, 0.97]]}}, {0: 1.0})
    second = result_file(tmp_path / "b.json", 1, 80, {
        "digits/product/auto": {"1": [[20, 0.5, 0.5], [50, 0.96, 0.96]]},
        "digits/product/random": {"1": [[20, 0.5, 0.5], [80, 0.9, 0.9]]}}, {1: 1.0})  # random never there
    bench.main(["--combine", first, second, "--tag", "merged"])
    merged = json.loads((tmp_path / "results" / "active_learning-merged.json").read_text())
    rows = {row["strategy"]: row for row in merged["rows"]}
    assert rows["auto"]["seeds"] == 2 and rows["auto"]["labels_to_95"] == 40  # (30 + 50) / 2
    assert rows["random"]["labels_to_95"] == 70 and rows["random"]["labels_to_95_censored"]  # (60 + 80) / 2
    assert rows["auto"]["labels_vs_random_95"] == round(40 / 70, 3)
    assert (tmp_path / "results" / "active_learning-merged.png").stat().st_size > 0


def test_combine_refuses_files_of_different_splits(bench, tmp_path):
    first = result_file(tmp_path / "a.json", 0, 60, {"digits/product/auto": {"0": [[20, 0.5, 0.5]]}}, {0: 1.0})
    other = json.loads(Path(first).read_text())
    other["settings"]["pool"] = 200
    (tmp_path / "b.json").write_text(json.dumps(other))
    with pytest.raises(SystemExit, match="split settings"):
        bench.main(["--combine", first, str(tmp_path / "b.json")])


def test_combine_keeps_only_the_named_strategies_and_refuses_a_seed_twice(bench, tmp_path):
    curves = {"digits/product/auto": {"0": [[20, 0.5, 0.5], [30, 0.96, 0.96]]},
              "digits/product/margin": {"0": [[20, 0.5, 0.5], [40, 0.96, 0.96]]}}
    old = result_file(tmp_path / "old.json", 0, 60, curves, {0: 1.0})
    new = result_file(tmp_path / "new.json", 0, 60, {"digits/product/auto": curves["digits/product/auto"]}, {0: 1.0})
    with pytest.raises(SystemExit, match="seed 0 is in an earlier file"):
        bench.main(["--combine", old, new])
    bench.main(["--combine", old + ":margin", new, "--tag", "picked"])
    rows = json.loads((tmp_path / "results" / "active_learning-picked.json").read_text())["rows"]
    assert sorted(r["strategy"] for r in rows) == ["auto", "margin"]
