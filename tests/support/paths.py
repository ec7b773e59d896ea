"""Where the repository's files are, for tests at any depth of ``tests/``."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
