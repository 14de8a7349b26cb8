"""Keep the instructor's guide's generated tables in step with the committed results.

* with ``--record RUNS_DIR``: first merges what the notebooks measured in that runs folder (every
  prediction's outcome, kept by ``exercises.reveal`` in ``outcomes.json``, and the report's seconds per
  notebook) into ``fkd/measured/classroom.json``, per data and profile, with the CPU and the date;
* rewrites the part of ``docs/instructor-guide.md`` between ``<!-- classroom:start -->`` and
  ``<!-- classroom:end -->`` from ``fkd/measured/benchmark.json``, ``reports/published.json`` and
  ``fkd/measured/classroom.json`` (``fkd.classroom.classroom_tables``).

``tests/test_classroom.py`` fails when the guide differs from what this script writes.

Usage: python tools/sync_classroom.py [--record RUNS_DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fkd.classroom import record_measurements, update_guide  # noqa: E402

GUIDE = REPO / "docs" / "instructor-guide.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", type=Path, metavar="RUNS_DIR",
                        help="a runs folder whose measured outcomes and times to commit first")
    args = parser.parse_args()
    if args.record:
        for entry in record_measurements(args.record):
            print(f"recorded {entry['data']}, {entry['profile']}: {len(entry['outcomes'])} outcomes, "
                  f"{len(entry['notebooks'])} notebook times")
    print(f"{'updated' if update_guide(GUIDE) else 'unchanged'}: {GUIDE.relative_to(REPO)}")


if __name__ == "__main__":
    main()
