"""Lines of Python per package, for the closing note of a refactoring: the working tree, or a
commit with ``--rev`` (read with ``git show``, nothing checked out), or two commits side by side.

Run: .venv/bin/python bench/lines.py [--rev d0aaab4 [--rev HEAD]]

``bot/`` counts every module under it, ``bot/handlers/`` is also shown on its own; a line is a
physical line of a ``.py`` file (blank lines and comments included, as ``wc -l`` counts them).
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("bot/", "bot/handlers/", "catalog/", "faq/", "screening/", "store/", "desk/", "tests/")


def _files(rev: str | None) -> dict[str, int]:
    """``path -> line count`` of every tracked ``.py`` file (working tree when ``rev`` is None)."""
    if rev is None:
        return {
            p.relative_to(REPO).as_posix(): len(p.read_bytes().splitlines())
            for p in REPO.rglob("*.py")
            if ".venv" not in p.parts and "build" not in p.parts
        }
    names = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", rev],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    counts = {}
    for name in names:
        if name.endswith(".py"):
            blob = subprocess.run(
                ["git", "show", f"{rev}:{name}"], cwd=REPO, check=True, capture_output=True
            ).stdout
            counts[name] = len(blob.splitlines())
    return counts


def per_package(files: dict[str, int]) -> dict[str, int]:
    return {pkg: sum(n for path, n in files.items() if path.startswith(pkg)) for pkg in PACKAGES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", action="append", help="a commit (repeat to compare)")
    args = parser.parse_args()
    revs: list[str | None] = args.rev or [None]
    tables = [per_package(_files(rev)) for rev in revs]
    print(f"{'package':<15}" + "".join(f"{rev or 'worktree':>12}" for rev in revs))
    for pkg in PACKAGES:
        print(f"{pkg:<15}" + "".join(f"{t[pkg]:>12}" for t in tables))


if __name__ == "__main__":
    main()
