"""The layer contracts of tests/import_layers.py hold for this repository, and the check fails on
deliberate breaches (a throwaway tree with one of each)."""
from pathlib import Path

from tests.import_layers import violations

ROOT = Path(__file__).resolve().parents[2]


def test_chalicelib_follows_its_layers():
    assert violations(ROOT) == []


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return root


CLEAN = {
    "chalicelib/__init__.py": "",
    "chalicelib/errors.py": "",
    "chalicelib/api/__init__.py": "",
    "chalicelib/api/routes.py": "from chalicelib.services import flow\n",
    "chalicelib/events/__init__.py": "",
    "chalicelib/events/worker.py": "from chalicelib.services import flow\nfrom chalicelib.store import table\n",
    "chalicelib/services/__init__.py": "",
    "chalicelib/services/flow.py": "from chalicelib.domain import rules\nfrom chalicelib.store import table\n",
    "chalicelib/store/__init__.py": "",
    "chalicelib/store/table.py": "from chalicelib.domain import rules\n",
    "chalicelib/domain/__init__.py": "",
    "chalicelib/domain/rules.py": "from chalicelib.labeling import config\n",
    "chalicelib/labeling/__init__.py": "",
    "chalicelib/labeling/config.py": "from chalicelib.errors import ValidationError\n",
    "chalicelib/ml/__init__.py": '"""numpy is imported lazily: the API imports this package (cold start)."""\n',
    "chalicelib/ml/fit.py": "def fit():\n    import numpy\n    return numpy\n",
}


def test_a_clean_tree_passes(tmp_path):
    assert violations(_tree(tmp_path, CLEAN)) == []


def test_each_kind_of_breach_is_reported(tmp_path):
    broken = dict(CLEAN)
    broken["chalicelib/api/routes.py"] += "from chalicelib.store import table\nfrom chalicelib.events import worker\n"
    broken["chalicelib/domain/rules.py"] += "from chalicelib.ml import fit\n"
    broken["chalicelib/store/table.py"] += "def later():\n    from chalicelib.services import flow\n"
    broken["chalicelib/labeling/config.py"] += "from chalicelib.labeling import other\n"
    broken["chalicelib/labeling/other.py"] = "from chalicelib.labeling import config\n"
    broken["chalicelib/services/flow.py"] += "def slow():\n    import json\n    return json\n"
    broken["chalicelib/domain/heavy.py"] = "def f():\n    import numpy\n    return numpy\n"
    broken["chalicelib/services/flow.py"] += "from pynamodb.models import Model\n"
    found = "\n".join(violations(_tree(tmp_path, broken)))
    assert "chalicelib.api.routes (api) imports chalicelib.store.table (store)" in found  # store only from services/events
    assert "chalicelib.api.routes (api) imports chalicelib.events.worker (events)" in found  # edge -> edge
    assert "chalicelib.domain.rules (domain) imports chalicelib.ml.fit (ml)" in found  # domain: labeling only
    assert "chalicelib.store.table (store) imports chalicelib.services.flow (services)" in found  # upwards
    assert "chalicelib.store.table imports chalicelib.services.flow inside a function" in found  # lazy own import
    assert "import cycle: chalicelib.labeling.config <-> chalicelib.labeling.other" in found
    assert "chalicelib.services.flow imports json inside a function" in found  # lazy: heavy libraries only
    assert "chalicelib.domain.heavy imports a heavy library lazily without saying why" in found
    assert "chalicelib.services.flow imports pynamodb.models (PynamoDB stays inside store/" in found
    assert len(found.splitlines()) == 9, found
