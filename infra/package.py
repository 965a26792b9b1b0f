"""Build what `make deploy` uploads: a slimmed dependency layer, the app package and the template.

    python infra/package.py [--stage dev] [--out dist] [--python312 PATH]

Output, in `<out>/<stage>/`:
  sam.yaml        `chalice package --merge-template infra/resources.yaml` (CloudFormation + SAM)
  deployment.zip  the app (app.py, chalicelib/ without local/, Chalice's runtime) with its 3.12 .pyc: no dependencies
  layer.zip       the dependency layer (`python/...`), referenced by `DependencyLayer` in the template
  report.json     sizes zipped and unzipped, and how the layer was slimmed

The layer is built from requirements.txt with Linux x86_64 manylinux wheels for CPython 3.12 (the
Lambda runtime), whatever this machine runs. It is slimmed: `tests/` folders, Cython and C sources
and headers, type stubs and `__pycache__` go; boto3/botocore and their dependencies go too (the
Lambda runtime provides them) and are kept aside in `<cache>/runtime-provided/` so tests can stand
in for the runtime. Shared objects are never stripped (that breaks scipy's OpenBLAS). Modules the
train and predict paths import (found by running infra/layer_probe.py on the slimmed layer with
Python 3.12) get `.pyc` files, so a cold start on Lambda's read-only /opt does not recompile them.

The layer is cached in `<out>/.layer-cache/<key>/`, keyed on requirements.txt, this script and the
probe; a repeated build only re-runs `chalice package` (about a second).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "infra" / "layer_probe.py"
MERGE_TEMPLATE = ROOT / "infra" / "resources.yaml"

PYTHON_VERSION = "3.12"
# Lambda's python3.12 runtime is Amazon Linux 2023 (glibc 2.34); numpy/scipy/scikit-learn publish
# manylinux_2_27/2_28 wheels, older packages manylinux2014.
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64")

# Top-level names the Lambda Python runtime already ships (boto3 and what botocore needs).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")
# Removed from every package: test suites, Cython/C sources and headers, type stubs, caches.
SLIM_DIRS = ("tests", "__pycache__")
SLIM_SUFFIXES = (".pyx", ".pxd", ".pxi", ".pyi", ".c", ".cpp", ".h", ".hpp")

# Everything Chalice needs from the project; chalicelib/local (moto, the event pump) never ships.
APP_FILES = ("app.py", "chalicelib", ".chalice/config.json")
APP_EXCLUDE = ("chalicelib/local",)


def log(message: str) -> None:
    print(f"[package] {message}", flush=True)


def tree_size(path: Path) -> tuple[int, int]:
    """(bytes, files) under path, not following symlinks."""
    total = count = 0
    for p in path.rglob("*"):
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_size
            count += 1
    return total, count


def zip_unzipped_size(path: Path) -> int:
    with zipfile.ZipFile(path) as z:
        return sum(info.file_size for info in z.infolist())


def write_zip(source: Path, target: Path, prefix: str = "") -> None:
    """Deterministic zip (sorted names, fixed timestamps) of everything under `source`."""
    tmp = target.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for p in sorted(source.rglob("*")):
            if p.is_file():
                info = zipfile.ZipInfo(prefix + p.relative_to(source).as_posix(), (2020, 1, 1, 0, 0, 0))
                info.external_attr = (0o755 if os.access(p, os.X_OK) else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                with open(p, "rb") as f:
                    z.writestr(info, f.read(), compresslevel=6)
    tmp.replace(target)


# --------------------------------------------------------------------------- the layer

def layer_key() -> str:
    digest = hashlib.sha256()
    for path in (ROOT / "requirements.txt", Path(__file__), PROBE):
        digest.update(path.read_bytes())
    digest.update(repr((PYTHON_VERSION, PLATFORMS)).encode())
    return digest.hexdigest()[:16]


def pip_install(site: Path) -> None:
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-compile", "--target", str(site), "--only-binary=:all:", "--implementation", "cp",
        "--python-version", PYTHON_VERSION, "--abi", "cp312",
        *[arg for platform in PLATFORMS for arg in ("--platform", platform)],
        "-r", str(ROOT / "requirements.txt"),
    ]
    log("pip install (manylinux x86_64 wheels for CPython 3.12) -> " + str(site))
    subprocess.run(command, check=True)


def slim(site: Path, runtime_provided: Path) -> dict:
    """Remove what Lambda does not need; move what the runtime provides aside. Returns the tally."""
    before, _ = tree_size(site)
    runtime_provided.mkdir(parents=True, exist_ok=True)
    moved = []
    for entry in sorted(site.iterdir()):
        top = entry.name.split("-")[0].lower()  # "botocore-1.44.8.dist-info" -> "botocore"
        if entry.name in RUNTIME_PROVIDED or top in RUNTIME_PROVIDED or top in ("python_dateutil", "six"):
            shutil.move(str(entry), runtime_provided / entry.name)
            moved.append(entry.name)
    after_move, _ = tree_size(site)
    removed_dirs = removed_files = 0
    for p in sorted(site.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if p.is_dir() and p.name in SLIM_DIRS:
            shutil.rmtree(p)
            removed_dirs += 1
        elif p.is_file() and p.suffix in SLIM_SUFFIXES:
            p.unlink()
            removed_files += 1
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts (f2py, ...) are useless on Lambda
    after, files = tree_size(site)
    return {
        "installed_bytes": before,
        "runtime_provided_moved": moved,
        "runtime_provided_bytes": before - after_move,
        "slimmed_dirs": removed_dirs,
        "slimmed_files": removed_files,
        "slimmed_bytes": after_move - after,
        "layer_bytes": after,
        "layer_files": files,
    }


def find_python312() -> str | None:
    """A CPython 3.12: this interpreter, $PYTHON312, python3.12 on PATH, or pyenv's newest 3.12."""
    if sys.version_info[:2] == (3, 12):
        return sys.executable
    candidates = [os.environ.get("PYTHON312"), shutil.which("python3.12"),
                  *sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))[-1:]]
    for candidate in candidates:
        if candidate and subprocess.run([str(candidate), "-c", "import sys; assert sys.version_info[:2] == (3, 12)"],
                                        capture_output=True).returncode == 0:
            return str(candidate)
    return None


def clean_env(*path: Path) -> dict:
    """Environment for a bare interpreter that sees only `path` (the package, the layer, ...)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join(str(p) for p in path),
        "PYTHONDONTWRITEBYTECODE": "1",  # /opt and /var/task are read-only on Lambda
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def probe(python312: str, package_zip: Path, site: Path, runtime_provided: Path) -> dict:
    """Run infra/layer_probe.py in a clean 3.12 interpreter on the app package and the layer."""
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "task"
        with zipfile.ZipFile(package_zip) as z:
            z.extractall(app)
        out = subprocess.run([python312, "-S", "-s", str(PROBE), "--json", "--layer", str(site)], cwd=tmp,
                             env=clean_env(app, site, runtime_provided), capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"layer probe failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout)


def compile_imported(python312: str, site: Path, modules: list[str]) -> int:
    """Write `.pyc` (unchecked-hash: /opt is read-only and zip timestamps are coarse) for the
    layer's modules the probe imported. Compiled by the 3.12 interpreter so the magic number fits."""
    paths = [m for m in modules if m.endswith(".py")]
    code = (
        "import py_compile, sys\n"
        "for p in sys.stdin.read().split('\\n'):\n"
        "    if p: py_compile.compile(p, doraise=True, "
        "invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)\n"
    )
    subprocess.run([python312, "-S", "-c", code], input="\n".join(str(site / p) for p in paths),
                   text=True, check=True)
    return len(paths)


def build_layer(cache_root: Path, python312: str | None, package_zip: Path) -> Path:
    """The cached layer directory for the current requirements (built when missing)."""
    key = layer_key()
    cache = cache_root / key
    if (cache / "layer.zip").exists() and (cache / "layer.json").exists():
        log(f"layer {key}: cached in {cache}")
        return cache
    started = time.perf_counter()
    if cache.exists():
        shutil.rmtree(cache)
    work = cache.with_name(key + ".building")
    shutil.rmtree(work, ignore_errors=True)
    site = work / "python"
    pip_install(site)
    tally = slim(site, work / "runtime-provided")
    if python312:
        # The runtime's own boto3/botocore come compiled; so must their stand-ins, or every probe
        # and benchmark would time botocore's compilation.
        subprocess.run([python312, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash",
                        str(work / "runtime-provided")], check=True)
        found = probe(python312, package_zip, site, work / "runtime-provided")
        tally["pyc_files"] = compile_imported(python312, site, found["layer_modules"])
        tally["pyc_bytes"] = tree_size(site)[0] - tally["layer_bytes"]
    else:
        log("no Python 3.12 given: the layer ships without .pyc (cold starts compile on import)")
        tally["pyc_files"] = 0
        tally["pyc_bytes"] = 0
    log("zipping the layer")
    write_zip(site, work / "layer.zip", prefix="python/")
    tally["key"] = key
    tally["build_seconds"] = round(time.perf_counter() - started, 1)
    (work / "layer.json").write_text(json.dumps(tally, indent=2))
    # Keep only this key's build: older ones are stale.
    for old in cache_root.iterdir() if cache_root.exists() else ():
        if old.is_dir() and old.name != work.name:
            shutil.rmtree(old)
    work.rename(cache)
    log(f"layer {key}: built in {tally['build_seconds']} s")
    return cache


# --------------------------------------------------------------------------- the app + template

def stage_app(target: Path) -> Path:
    """A copy of what Chalice packages, with an empty requirements.txt (dependencies are the layer's)."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in APP_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / name)
    for policy in (ROOT / ".chalice").glob("policy-*.json"):
        shutil.copy2(policy, target / ".chalice" / policy.name)
    for excluded in APP_EXCLUDE:
        shutil.rmtree(target / excluded, ignore_errors=True)
    (target / "requirements.txt").write_text("")
    return target


def chalice_package(app_dir: Path, stage: str, out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    command = [sys.executable, "-c", "from chalice.cli import main; main()", "package", "--stage", stage,
               "--merge-template", str(MERGE_TEMPLATE), str(out)]
    log("chalice package --stage " + stage + " --merge-template infra/resources.yaml")
    subprocess.run(command, cwd=app_dir, env=env, check=True, stdout=subprocess.DEVNULL)


def compile_app_package(python312: str, package_zip: Path) -> int:
    """Add `.pyc` (3.12, unchecked-hash) for every module in the app package: app.py, chalicelib/ and
    Chalice's runtime. /var/task is read-only on Lambda, so without them every cold start compiles
    them all from source before the first answer (`/ls/health` included). Returns the count added."""
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(package_zip) as z:
            z.extractall(tmp)
        subprocess.run([python312, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", tmp],
                       check=True)
        compiled = sorted(Path(tmp).rglob("*.pyc"))
        with zipfile.ZipFile(package_zip, "a", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
            for pyc in compiled:
                info = zipfile.ZipInfo(pyc.relative_to(tmp).as_posix(), (2020, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, pyc.read_bytes(), compresslevel=6)
    return len(compiled)


class _NoAliasDumper(yaml.SafeDumper):
    def ignore_aliases(self, data) -> bool:
        return True


def expand_aliases(template: Path) -> None:
    """Write shared values out in full: the merge template's `&resource_env` anchor reaches
    Chalice's output as YAML aliases, which not every CloudFormation tool reads. Chalice writes
    intrinsic functions in their long form (`Fn::GetAtt:`), so a safe load/dump round-trip is exact."""
    document = yaml.safe_load(template.read_text())
    template.write_text(yaml.dump(document, Dumper=_NoAliasDumper, sort_keys=False, width=120))


def build(stage: str, out_root: Path, python312: str | None) -> dict:
    out_root.mkdir(parents=True, exist_ok=True)
    app_dir = stage_app(out_root / ".app")
    out = out_root / stage
    chalice_package(app_dir, stage, out)
    expand_aliases(out / "sam.yaml")
    app_pyc = compile_app_package(python312, out / "deployment.zip") if python312 else 0
    layer = build_layer(out_root / ".layer-cache", python312, out / "deployment.zip")
    shutil.copy2(layer / "layer.zip", out / "layer.zip")
    tally = json.loads((layer / "layer.json").read_text())
    report = {
        "stage": stage,
        "layer_key": tally["key"],
        "package_zip_bytes": (out / "deployment.zip").stat().st_size,
        "package_pyc_files": app_pyc,
        "package_unzipped_bytes": zip_unzipped_size(out / "deployment.zip"),
        "layer_zip_bytes": (out / "layer.zip").stat().st_size,
        "layer_unzipped_bytes": zip_unzipped_size(out / "layer.zip"),
        "layer_slimming": tally,
    }
    report["total_unzipped_bytes"] = report["package_unzipped_bytes"] + report["layer_unzipped_bytes"]
    (out / "report.json").write_text(json.dumps(report, indent=2))
    mb = 1024 * 1024
    log(f"{out}/: sam.yaml, deployment.zip {report['package_zip_bytes'] / mb:.2f} MB zipped / "
        f"{report['package_unzipped_bytes'] / mb:.2f} MB unzipped, layer.zip "
        f"{report['layer_zip_bytes'] / mb:.1f} MB zipped / {report['layer_unzipped_bytes'] / mb:.1f} MB unzipped; "
        f"total unzipped {report['total_unzipped_bytes'] / mb:.1f} MB (Lambda limit 250 MB)")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", default=str(ROOT / "dist"))
    parser.add_argument("--python312", default=None,
                        help="a CPython 3.12 to probe the layer and compile .pyc with (default: found)")
    args = parser.parse_args()
    build(args.stage, Path(args.out).resolve(), args.python312 or find_python312())


if __name__ == "__main__":
    main()
