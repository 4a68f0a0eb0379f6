"""The `dlrepro` command (installed by the package): `dlrepro compare A B`.

The workflow itself runs through `snakemake`; this command is for what comes after a run.
"""

from __future__ import annotations

import argparse
import sys

from dlrepro.errors import UserError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dlrepro", description="Reproduce published deep-learning findings, claim by claim."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    cmp = sub.add_parser(
        "compare",
        help="two result sets side by side, claim by claim",
        description=(
            "Compare two result sets claim by claim: changed verdicts first, what is missing on "
            "either side, the provenance that differs and both sides' curves. A and B are "
            "scale folders (results/cpu) or results roots holding one scale."
        ),
    )
    cmp.add_argument("a", help="result set A, e.g. results/cpu")
    cmp.add_argument("b", help="result set B, e.g. results/paper or another machine's results")
    cmp.add_argument(
        "-o",
        "--out",
        default="comparison",
        help="folder for compare.html, claims.parquet, provenance.parquet (default: comparison)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "compare":
            from dlrepro import compare  # imported here: matplotlib and pandas take a second

            comparison = compare.compare(args.a, args.b)
            paths = compare.write(comparison, args.out)
            print("\n".join(compare.summary_lines(comparison, paths)))
    except UserError as e:
        print(f"dlrepro: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
