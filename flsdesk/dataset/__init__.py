"""The dataset definition: the model (``model``: Definition, Question, Answer, DefinitionSet…)
apart from the loader (``loader``: reading and checking the TOML files). Callers import from
here; the names are the same as when this was one module.
"""

from flsdesk.answers import QuestionType, parse_iso_date
from flsdesk.dataset.loader import (
    base_files,
    bundled_bases,
    dataset_files,
    load_definition,
    load_definitions,
    merge_based_on,
    parse_definition,
)
from flsdesk.dataset.model import (
    QUESTION_TYPES,
    SEVERITIES,
    Answer,
    Check,
    Definition,
    DefinitionSet,
    FollowupEnd,
    FollowupWindow,
    KeySpec,
    Question,
    Tab,
)

__all__ = [
    "QUESTION_TYPES",
    "SEVERITIES",
    "Answer",
    "Check",
    "Definition",
    "DefinitionSet",
    "FollowupEnd",
    "FollowupWindow",
    "KeySpec",
    "Question",
    "QuestionType",
    "Tab",
    "base_files",
    "bundled_bases",
    "dataset_files",
    "load_definition",
    "load_definitions",
    "merge_based_on",
    "parse_definition",
    "parse_iso_date",
]
