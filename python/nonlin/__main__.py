"""Command line: ``python -m nonlin check [--n N] [--seed S] [--compare | --f64 [--only F ...]]`` and
``python -m nonlin bench [--quick] [--json PATH] [--plot PATH] [--only F ...]`` and
``python -m nonlin tour [--out DIR] [--only N ...] [--seed S]``."""

import argparse
import sys
from typing import Callable, Optional, Sequence


def _at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return parse


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nonlin", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="every kernel against the NumPy reference: max ULP error and time")
    check.add_argument("--n", type=_at_least(1000), default=1_000_000, help="elements per array (default 1e6, at least 1000)")
    check.add_argument("--seed", type=int, default=0)
    check.add_argument("--compare", action="store_true", help="max ULP of nonlin, NumPy and PyTorch on the same inputs")
    check.add_argument("--f64", action="store_true",
                       help="float64 smooth functions against extended precision, --n inputs per function")
    check.add_argument("--only", nargs="+", metavar="FUNCTION", help="with --f64: only these functions")
    bench = sub.add_parser("bench", help="nonlin against NumPy, PyTorch, JAX and numexpr (those installed)")
    bench.add_argument("--quick", action="store_true", help="small sizes, short timings (seconds)")
    bench.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    bench.add_argument("--plot", metavar="PATH", help="write a PNG (needs matplotlib)")
    bench.add_argument("--only", nargs="+", metavar="FUNCTION", help="only these functions")
    tour = sub.add_parser("tour", help="the lecture's claims about activations, measured: tables, figures, report.md")
    tour.add_argument("--out", default="nonlin-tour", metavar="DIR", help="where report.md and the PNGs go")
    tour.add_argument("--only", nargs="+", type=int, choices=range(1, 9), metavar="N", help="only experiments N (1-8)")
    tour.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "check" and args.only and not args.f64:
        parser.error("check: --only needs --f64")
    if args.command in ("bench", "check") and args.only:
        from . import bench as _bench, check as _check

        known = _check.precise_names() if args.command == "check" else _bench.known_names()
        unknown = [name for name in args.only if name not in known]
        if unknown:
            parser.error(f"{args.command}: unknown function(s) {', '.join(unknown)}; have {', '.join(sorted(known))}")
    if args.command == "tour":
        from . import tour as _tour

        return _tour.main(args.out, args.only, args.seed)
    if args.command == "bench":
        from . import bench as _bench

        return _bench.main(args.quick, args.json, args.plot, args.only)
    if args.command == "check":
        from . import check as _check

        if args.f64:
            return _check.main_accuracy64(args.n, args.seed, args.only)
        if args.compare:
            return _check.main_compare(2 * args.n, args.seed)
        return _check.main(args.n, args.seed)
    return 2


if __name__ == "__main__":
    sys.exit(main())
