"""flsdesk launcher from the source tree.

``python main.py`` opens the window; ``python main.py <command>`` runs the command line. It is
the same composition root as the installed ``flsdesk`` and ``python -m flsdesk``
(``flsdesk.__main__``).
"""

import importlib.util
import sys
from pathlib import Path


def _front_end_from_the_source_tree() -> None:
    # Installed (pip install ., or -e), ui/ is the package flsdesk_ui; run from a bare checkout it
    # is not installed, so the folder is registered under that name here.
    if importlib.util.find_spec("flsdesk_ui") is not None:
        return
    folder = Path(__file__).resolve().parent / "ui"
    spec = importlib.util.spec_from_file_location(
        "flsdesk_ui", folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["flsdesk_ui"] = module
    spec.loader.exec_module(module)


if __name__ == "__main__":
    _front_end_from_the_source_tree()
    from flsdesk.__main__ import main

    sys.exit(main())
