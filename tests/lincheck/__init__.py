"""A linearizability checker and the models it checks histories against.

An integration test records every client operation (`HistoryRecorder`, or `Operation`s
built by hand), then asks::

    result = check(NamespaceModel(split_by_top_folder=True), recorder.history())
    assert result.ok, result.explain()

Modules: `history` (operations, outcomes, the recorder), `model` (what a model provides),
`checker` (the search and its verdict), `kv` and `namespace` (models).
"""

from tests.lincheck.checker import CheckResult, PartResult, Verdict, check
from tests.lincheck.history import HistoryRecorder, Operation, Outcome
from tests.lincheck.kv import KeyValueModel
from tests.lincheck.model import UNKNOWN_RESULT, DeterministicModel, Model
from tests.lincheck.namespace import NamespaceModel, Tree

__all__ = [
    "UNKNOWN_RESULT",
    "CheckResult",
    "DeterministicModel",
    "HistoryRecorder",
    "KeyValueModel",
    "Model",
    "NamespaceModel",
    "Operation",
    "Outcome",
    "PartResult",
    "Tree",
    "Verdict",
    "check",
]
