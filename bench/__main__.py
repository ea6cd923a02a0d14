"""`python -m bench report …`: the one entry point that runs the whole suite (see bench/report.py).

Each benchmark also runs on its own: `python -m bench.append`, `python -m bench.projections`…
"""

from __future__ import annotations

import sys

from bench import report

COMMANDS = {"report": report.main}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m bench {{{','.join(COMMANDS)}}} [options]", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
