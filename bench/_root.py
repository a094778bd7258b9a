"""Imported first by the benchmarks that import nac: the repository root goes to the front of
``sys.path``, because a script's own directory comes first and ``bench/tacacs.py`` (the name the
issue gives the TACACS+ benchmark) would otherwise hide the ``tacacs`` package."""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[1])
if sys.path[:1] != [_ROOT]:
    sys.path.insert(0, _ROOT)
