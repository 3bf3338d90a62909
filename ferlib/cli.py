"""The ``ferlib`` command (also ``python -m ferlib``)."""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__


def _cmd_synth(args: argparse.Namespace) -> int:
    from .synthetic import SynthConfig, generate

    cfg = SynthConfig(
        seed=args.seed,
        identities=args.identities,
        per_class=args.per_class,
        size=args.size,
        identity_bias=args.identity_bias,
    )
    summary = generate(args.out, cfg, workers=args.workers)
    print(
        f"SyntheticFER: {summary['images']} images of {cfg.size}px, {cfg.identities} "
        f"identities, seed {cfg.seed} -> {args.out} in {summary['seconds']:.1f} s "
        f"({summary['workers']} workers)"
    )
    return 0


def _cmd_data_report(args: argparse.Namespace) -> int:
    from .data import load_dataset

    data = load_dataset(
        args.dataset, args.data_dir, image_size=None if args.no_decode else args.image_size
    )
    if args.json:
        print(data.report.to_json())
    else:
        print(data.report.format(max_names=args.max_names))
        counts = data.frame["split"].value_counts()
        print("  splits: " + ", ".join(f"{s} {counts.get(s, 0)}" for s in ("train", "val", "test")))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_bench
    from .data import load_dataset

    data = load_dataset(args.dataset, args.data_dir, image_size=args.image_size)
    result = run_bench(data, args.image_size, args.batch_size)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for key, value in result.items():
            print(f"{key:<30} {value}")
    return 0


def _cmd_notebooks(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .notebooks import format_status, refresh_committed, run_notebooks
    from .params import parse_set

    if args.refresh:
        for nb in refresh_committed(args.only):
            print(f"refreshed {nb.name}")
        return 0

    overrides = parse_set(args.set)
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    results = run_notebooks(
        args.profile, args.only, overrides, Path(args.out) if args.out else None
    )
    print(format_status(results))
    return 0 if all(r.status == "ok" for r in results) else 1


def _cmd_check_env(args: argparse.Namespace) -> int:
    from .envcheck import main

    return main()


def build_parser() -> argparse.ArgumentParser:
    from .data import DATASETS

    parser = argparse.ArgumentParser(prog="ferlib", description="FER-Zoo command line")
    parser.add_argument("--version", action="version", version=f"ferlib {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="generate SyntheticFER in DiffusionFER's layout")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--identities", type=int, default=60)
    p.add_argument("--per-class", type=int, default=300)
    p.add_argument("--size", type=int, default=112, help="image size in px")
    p.add_argument("--identity-bias", type=float, default=1.0, help="resting-face bias (0 = off)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.set_defaults(func=_cmd_synth)

    def data_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--dataset", choices=DATASETS, default="synthetic")
        q.add_argument("--data-dir", default=None, help="dataset folder (or CSV for 'csv')")
        q.add_argument("--image-size", type=int, default=64)
        q.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("data-report", help="what a dataset holds and every file skipped, by reason")
    data_args(p)
    p.add_argument("--no-decode", action="store_true", help="skip decoding (no corrupt-file check)")
    p.add_argument("--max-names", type=int, default=5, help="file names shown per reason")
    p.set_defaults(func=_cmd_data_report)

    p = sub.add_parser("bench", help="throughput figures (loader from cache vs PNG decode)")
    data_args(p)
    p.add_argument("--batch-size", type=int, default=64)
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("notebooks", help="run the course notebooks with papermill")
    p.add_argument("--profile", default="quick", help="params/<profile>.yaml or a YAML path")
    p.add_argument("--only", nargs="*", default=None, help="notebook name prefixes, e.g. 00")
    p.add_argument("--set", nargs="*", default=None, metavar="KEY=VALUE", help="override params")
    p.add_argument("--data-dir", default=None, help="shorthand for --set data_dir=DIR")
    p.add_argument("--out", default=None, help="output folder (default outputs/<profile>)")
    p.add_argument("--refresh", action="store_true",
                   help="re-execute notebooks/ in place with their defaults (committed outputs)")
    p.set_defaults(func=_cmd_notebooks)

    p = sub.add_parser("check-env", help="one [OK]/[FAIL] line per requirement")
    p.set_defaults(func=_cmd_check_env)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"ferlib {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
