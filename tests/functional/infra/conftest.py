"""Fixtures for the deployment artifacts: the package `make package` builds, unpacked and translated.

`packaged` runs infra/package.py (the layer is cached in dist/.layer-cache, keyed on
requirements.txt, so only `chalice package` runs again: about a second). Everything is checked
on the files that would be uploaded: the zips are unpacked into a temporary directory, and the
SAM template is turned into plain CloudFormation the way `aws cloudformation package` + the
SAM transform would (local paths -> S3 URIs, then aws-sam-translator, offline).
"""
from __future__ import annotations

import importlib.util
import json
import os
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
STAGE = "dev"
SIZES: dict[str, int] = {}  # printed in the terminal summary (see pytest_terminal_summary)
MB = 1024 * 1024


def load_package_module():
    """infra/package.py (a script, not a package): the build, and the clean environment it tests in."""
    spec = importlib.util.spec_from_file_location("activelabel_infra_package", ROOT / "infra" / "package.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PACKAGE = load_package_module()
clean_env = PACKAGE.clean_env


@pytest.fixture(scope="session")
def python312():
    found = PACKAGE.find_python312()
    if found is None:
        pytest.fail("no CPython 3.12 found (the Lambda runtime): run `make package`, which installs one, "
                    "or set PYTHON312")
    return found


@pytest.fixture(scope="session")
def packaged(python312):
    """dist/dev/ as `make package` leaves it; returns {"out", "report", "runtime_provided"}."""
    report = PACKAGE.build(STAGE, ROOT / "dist", python312)
    SIZES.update({k: v for k, v in report.items() if k.endswith("_bytes")})
    out = ROOT / "dist" / STAGE
    return {
        "out": out,
        "report": report,
        "runtime_provided": ROOT / "dist" / ".layer-cache" / report["layer_key"] / "runtime-provided",
    }


@pytest.fixture(scope="session")
def unpacked(packaged, tmp_path_factory):
    """The two zips extracted as Lambda would: the app in task/, the layer in opt/ (-> opt/python)."""
    root = tmp_path_factory.mktemp("lambda")
    with zipfile.ZipFile(packaged["out"] / "deployment.zip") as z:
        z.extractall(root / "task")
    with zipfile.ZipFile(packaged["out"] / "layer.zip") as z:
        z.extractall(root / "opt")
    return {"task": root / "task", "layer": root / "opt" / "python", "runtime_provided": packaged["runtime_provided"]}


@pytest.fixture(scope="session")
def sam_template(packaged):
    from cfnlint.decode import decode

    template, matches = decode(str(packaged["out"] / "sam.yaml"))
    assert not matches, matches
    return json.loads(json.dumps(template))  # plain dicts and lists


@pytest.fixture(scope="session")
def cloudformation(sam_template, tmp_path_factory):
    """The template CloudFormation would execute: after `aws cloudformation package` (local zips
    -> S3 URIs) and the AWS::Serverless transform. Returns (template, path of its JSON file)."""
    from samtranslator.translator.transform import transform

    template = json.loads(json.dumps(sam_template))
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str) and not properties[key].startswith("s3://"):
                properties[key] = "s3://artifact-bucket/" + properties[key].lstrip("./")
    saved = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"  # the translator wants a region for ARNs
    try:
        translated = transform(template, {}, None)
    finally:
        if saved is not None:
            os.environ["AWS_DEFAULT_REGION"] = saved
    path = tmp_path_factory.mktemp("cfn") / "translated.json"
    path.write_text(json.dumps(translated, indent=1))
    return translated, path


def pytest_terminal_summary(terminalreporter):
    if not SIZES:
        return
    write = terminalreporter.write_line
    terminalreporter.section("Lambda package sizes (dist/dev)")
    write(f"deployment.zip: {SIZES['package_zip_bytes'] / MB:7.2f} MB zipped, "
          f"{SIZES['package_unzipped_bytes'] / MB:7.2f} MB unzipped")
    write(f"layer.zip:      {SIZES['layer_zip_bytes'] / MB:7.2f} MB zipped, "
          f"{SIZES['layer_unzipped_bytes'] / MB:7.2f} MB unzipped")
    write(f"total unzipped: {SIZES['total_unzipped_bytes'] / MB:7.2f} MB (budget 230 MB, Lambda limit 250 MB)")
