"""tornado-scaffold: generate ready-to-run Tornado projects and keep them up to date."""

__version__ = "0.5.2"
