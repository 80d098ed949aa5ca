"""The wheel, installed outside a checkout, runs the README's main command on the bundled configs and trace.

Builds the wheel from a copy of the tracked files, installs it (no dependencies, offline) into a fresh
virtual environment whose dependencies come from this interpreter's site-packages, and runs
``python -m zapsim.run eyeriss_like`` and the ``zapsim`` command from a directory with no checkout in it.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _copy_tracked(dst: Path) -> None:
    """The files git tracks (or, outside git, the tree without local outputs)."""
    try:
        files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True,
                               timeout=60).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        files = None
    if files is None:
        shutil.copytree(ROOT, dst, ignore=shutil.ignore_patterns(".git", ".venv", "build", "results", "*.egg-info",
                                                                 "__pycache__", ".*cache"))
        return
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / f)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src, dist, venv = tmp / "src", tmp / "dist", tmp / "venv"
    _copy_tracked(src)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), str(src)],
                   check=True, timeout=300, capture_output=True)
    wheel = next(dist.glob("zapsim-*.whl"))
    import pip as _pip

    has_python_flag = tuple(int(x) for x in _pip.__version__.split(".")[:2]) >= (22, 3)  # pip --python PY install
    subprocess.run([sys.executable, "-m", "venv", *(["--without-pip"] if has_python_flag else []), str(venv)],
                   check=True, timeout=300)
    py = venv / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    # the dependencies (numpy, numba, ...) from this interpreter, after the wheel's own zapsim
    Path(purelib, "zz_zapsim_test_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    installer = [*pip, "--python", str(py)] if has_python_flag else [str(py), "-m", "pip", "-q"]
    subprocess.run([*installer, "install", "--no-deps", "--no-index", str(wheel)], check=True, timeout=300,
                   capture_output=True)
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ZAPSIM_PROGRESS")}
    return venv, elsewhere, env, wheel


def test_the_wheel_ships_the_configs_and_the_default_trace(installed):
    import zipfile

    names = set(zipfile.ZipFile(installed[3]).namelist())
    configs = {p.name for p in (ROOT / "arch_configs").glob("*.yaml")}
    assert {f"zapsim/bundled/arch_configs/{c}" for c in configs} <= names
    trace = {str(p.relative_to(ROOT / "traces")) for p in (ROOT / "traces" / "default").rglob("*") if p.is_file()}
    assert {f"zapsim/bundled/traces/{t}" for t in trace} <= names
    assert not any(n.startswith("zapsim/bundled/traces/") and not n.startswith("zapsim/bundled/traces/default/")
                   for n in names)


def test_main_command_runs_outside_a_checkout(installed):
    venv, elsewhere, env, _ = installed
    py = venv / "bin" / "python"
    where = subprocess.run([str(py), "-c", "import zapsim, zapsim.bundled as b; print(zapsim.__file__); "
                            "print(b.default_trace())"], cwd=elsewhere, env=env, capture_output=True, text=True,
                           timeout=120, check=True).stdout.split()
    assert all(w.startswith(str(venv)) for w in where), where  # the installed copy, not the checkout
    p = subprocess.run([str(py), "-m", "zapsim.run", "eyeriss_like", "--images", "1", "--op", "t0.30", "--quiet"],
                       cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "arch      eyeriss_like (row_stationary" in p.stdout and str(venv) in p.stdout  # the bundled trace
    rows = [line.split()[0] for line in p.stdout.splitlines() if line.split()[:1] in (["dense"], ["t0.30"])]
    assert rows[:2] == ["dense", "t0.30"]


def test_the_zapsim_command(installed):
    venv, elsewhere, env, _ = installed
    exe = venv / "bin" / "zapsim"
    p = subprocess.run([str(exe), "--help"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and all(c in p.stdout for c in ("trace", "run", "plot", "sweep", "timeloop"))
    wl = elsewhere / "two.yaml"
    wl.write_text("layers:\n  - {name: a, c_in: 4, h_in: 8, c_out: 8, padding: 1}\n"
                  "  - {name: b, c_in: 8, h_in: 8, c_out: 8, padding: 1}\n")
    p = subprocess.run([str(exe), "run", "timeloop_eyeriss_like", "--workload", str(wl), "--quiet"], cwd=elsewhere,
                       env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "energy table timeloop_eyeriss_like ERT in pJ" in p.stdout
    p = subprocess.run([str(exe), "sweep"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    import importlib.util

    if importlib.util.find_spec("zapsim.sweep") is None:
        assert p.returncode == 2 and "not available in this build" in p.stderr and "Traceback" not in p.stderr
    p = subprocess.run([str(exe), "rnu"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "did you mean 'run'?" in p.stderr
