"""Packages for setuptools; everything else is in pyproject.toml.

The wheel carries the top-level ``arch_configs/`` and ``traces/default`` as
package data under ``zapsim/bundled/`` (``package-dir`` in pyproject.toml
maps them), so ``python -m zapsim.run eyeriss_like`` works outside a
checkout while the checkout keeps its layout.  Those two mapped packages
cannot be found by ``packages.find`` (they are not under ``zapsim/``), so the
package list is computed here: every ``zapsim*`` package, plus the two.
"""

from setuptools import find_packages, setup

BUNDLED = ["zapsim.bundled.arch_configs", "zapsim.bundled.traces"]

setup(packages=find_packages(include=["zapsim", "zapsim.*"]) + BUNDLED)
