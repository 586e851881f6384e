"""Command line: ``python -m nonlin check [--n N] [--seed S]``."""

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nonlin", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="every kernel against the NumPy reference: max ULP error and time")
    check.add_argument("--n", type=int, default=1_000_000, help="elements per array (default 1e6)")
    check.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "check":
        from . import check as _check

        return _check.main(args.n, args.seed)
    return 2


if __name__ == "__main__":
    sys.exit(main())
