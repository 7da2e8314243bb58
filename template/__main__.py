"""The installed application's entry point (in a checkout, ``python app.py`` does its job).

``pip install .`` installs this folder as a package named after the project, and a command
that runs this file, as ``python -m`` does with the package's name (pyproject.toml, README).
The modules import each other by their own names (``import server``, ``handlers.base``), as
in a checkout, so this puts the folder first on ``sys.path``, for this process only: the
environment never sees ``app`` or ``handlers``, and projects installed side by side each run
their own code.
"""

import os
import sys


def main() -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    if __package__:
        # A project named like one of its modules (`app`, `server`) would find this package
        # where it imports that module: forget the package, the module is in the folder.
        sys.modules.pop(__package__, None)
    import app

    app.run()


if __name__ == "__main__":
    main()
