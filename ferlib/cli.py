"""The ``ferlib`` command (also ``python -m ferlib``)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import __version__


def _cmd_synth(args: argparse.Namespace) -> int:
    from .paths import check_writable_dir
    from .synthetic import SynthConfig, generate

    check_writable_dir(args.out)
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
    from .course.bench import run_bench
    from .data import load_from_config
    from .params import parse_set, resolve_config

    overrides = parse_set(args.set)
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    if args.dataset is not None:
        overrides["dataset"] = args.dataset
    config = resolve_config(args.params, overrides)
    data = load_from_config(config)
    layout = {"auto": None, "contiguous": False, "channels_last": True}[args.layout]
    result = run_bench(data, config, args.backbones, steps=args.steps, channels_last=layout)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    for key, value in result.items():
        if key != "backbones":
            print(f"{key:<30} {value}")
    print(
        f"{'backbone':<20} {'train/s loader':>15} {'train/s staged':>15} {'share':>6} "
        f"{'infer/s':>10}"
    )
    for name, r in result["backbones"].items():
        print(
            f"{name:<20} {r['train_images_per_s_loader']:>15.1f} "
            f"{r['train_images_per_s_prestaged']:>15.1f} {r['loader_share_of_prestaged']:>6.2f}"
            f" {r['inference_images_per_s']:>10.1f}"
        )
    return 0


def _cmd_notebooks(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .course.runner import format_status, refresh_committed, run_notebooks
    from .params import parse_set

    if args.refresh:
        refresh_committed(args.only)
        return 0

    if args.check_env:  # in this process: the checks' imports serve the run too
        from .course.envcheck import main as check_env

        if check_env() != 0:
            print("ferlib notebooks: check-env reported a FAIL above; running anyway", flush=True)
    overrides = parse_set(args.set)
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    methods = [m for m in (args.methods or "").split(",") if m] or None
    results = run_notebooks(
        args.profile,
        args.only,
        overrides,
        Path(args.out) if args.out else None,
        methods=methods,
        cell_progress=args.cell_progress,
    )
    print(format_status(results))
    return 0 if all(r.status == "ok" for r in results) else 1


def _cmd_train(args: argparse.Namespace) -> int:
    from .data import load_from_config
    from .data.fingerprint import data_fingerprint
    from .methods import check_method
    from .models.backbones import BACKBONES
    from .params import check_choice, parse_set, resolve_config
    from .paths import check_writable_dir, data_home, display_path, outputs_home
    from .training.trainer import run_dir, train

    overrides = parse_set(args.set)
    if args.method:
        overrides["method"] = args.method
    config = resolve_config(args.params, overrides)
    check_method(config["method"])  # before any data loads
    check_choice(config["backbone"], BACKBONES, "backbone")
    # every folder this run writes into, checked before anything is generated or trained
    check_writable_dir(args.out or outputs_home(), "output folder")
    check_writable_dir(data_home(), "data folder (generated data and tensor store)")
    main_rank = int(os.environ.get("RANK", "0")) == 0
    data = load_from_config(config)
    if main_rank:
        print(f"data: {data.report.summary()}", flush=True)
    warning = data.report.check_drops()  # stops when most rows were dropped
    if warning and main_rank:
        print(f"ferlib train: {warning}", file=sys.stderr, flush=True)
    out = args.out or run_dir(config, data_digest=data_fingerprint(data)["digest"])
    result = train(config, out, data=data, progress=not args.no_progress)
    m = result.metrics
    if main_rank:
        print(
            f"{config['method']} on {config['dataset']}: test CCC v {m['ccc_v']:.3f} "
            f"a {m['ccc_a']:.3f}, RMSE v {m['rmse_v']:.3f} a {m['rmse_a']:.3f} "
            f"(best epoch {m['best_epoch']}, {m['train_seconds']:.0f} s training, "
            f"{m['images_per_s']:.0f} images/s) -> {display_path(out)}"
        )
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import torch

    from .data import load_from_config, make_loader
    from .evaluation.metrics import zero_label_share
    from .evaluation.outputs import evaluate
    from .training.checkpoint import load_model
    from .training.device import select_device, use_channels_last

    model, config = load_model(args.checkpoint)
    config = dict(config)
    if args.dataset:
        config["dataset"] = args.dataset
    if args.data_dir is not None:
        config["data_dir"] = args.data_dir
    data = load_from_config(config).subset(args.split)
    loader = make_loader(data, config["image_size"], config["eval_batch_size"], train=False)
    device = select_device(args.device)
    layout = use_channels_last(device, config["amp"])  # as in training: the same numbers
    model = model.to(device, memory_format=torch.channels_last if layout else torch.preserve_format)
    metrics = evaluate(model, loader, device, channels_last=layout)
    metrics.update(
        split=args.split,
        dataset=config["dataset"],
        zero_label_share=zero_label_share(loader.dataset.targets),
    )
    if args.json:
        print(json.dumps(metrics, indent=1))
    else:
        z = metrics["zero_label_share"]
        print(f"{config['dataset']} [{args.split}], {metrics['n']} images")
        for dim, name in (("v", "valence"), ("a", "arousal")):
            print(
                f"  {name:<8} RMSE {metrics['rmse_' + dim]:.4f}  PCC {metrics['pcc_' + dim]:.4f}"
                f"  CCC {metrics['ccc_' + dim]:.4f}  SAGR {metrics['sagr_' + dim]:.4f}"
                f"  (labels exactly 0: {z['z_' + dim]:.3f})"
            )
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import csv

    from .inference.predict import predict_files

    rows, skipped = predict_files(args.checkpoint, args.paths)
    for path, reason in skipped:
        print(f"ferlib predict: skipped {path}: {reason}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(rows, indent=1))
    else:
        writer = csv.DictWriter(sys.stdout, fieldnames=["path", "valence", "arousal"])
        writer.writeheader()
        writer.writerows(rows)
    return 0 if rows or not skipped else 1


def _cmd_results(args: argparse.Namespace) -> int:
    from .paths import outputs_home
    from .reporting.runs import collect_runs, results_markdown, summarize_runs

    if args.stopping:
        from .reporting.runs import stopping_table

        table = stopping_table(args.root or outputs_home() / "runs", args.stopping)
        if table.empty:
            print("ferlib results: no history.csv to read", file=sys.stderr)
            return 1
        print(table.to_csv(index=False, float_format="%.3f"), end="")
        return 0
    runs = collect_runs(args.root or outputs_home() / "runs")
    if runs.empty:
        print(
            f"ferlib results: no metrics.json under {args.root or 'outputs/runs'}", file=sys.stderr
        )
        return 1
    summary = summarize_runs(runs)
    if args.format == "csv":
        print(summary.to_csv(index=False), end="")
    else:
        print(results_markdown(summary))
    if args.anchors:
        from .reporting.anchors import anchors_markdown

        print("Published anchors (other datasets and protocols; not comparable):\n")
        print(anchors_markdown())
    return 0


def _cmd_check_env(args: argparse.Namespace) -> int:
    from .course.envcheck import main

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

    p = sub.add_parser("bench", help="throughput: loader (cache vs decode), train and inference")
    p.add_argument("--params", default="quick", help="params profile (resolution, batch size)")
    p.add_argument("--set", nargs="*", default=None, metavar="KEY=VALUE", help="override params")
    p.add_argument("--dataset", choices=DATASETS, default=None)
    p.add_argument("--data-dir", default=None)
    p.add_argument(
        "--backbones", nargs="*", default=None, help="backbones to time (default: the profile's)"
    )
    p.add_argument("--steps", type=int, default=10, help="timed training steps per backbone")
    p.add_argument(
        "--layout",
        choices=("auto", "contiguous", "channels_last"),
        default="auto",
        help="memory layout to time (auto: the trainer's)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("notebooks", help="run the course notebooks with papermill")
    p.add_argument("--profile", default="quick", help="params/<profile>.yaml or a YAML path")
    p.add_argument("--only", nargs="*", default=None, help="notebook name prefixes, e.g. 00")
    p.add_argument("--set", nargs="*", default=None, metavar="KEY=VALUE", help="override params")
    p.add_argument("--data-dir", default=None, help="shorthand for --set data_dir=DIR")
    p.add_argument(
        "--methods", default=None, help="comma-separated methods, e.g. baseline,caf (default: all)"
    )
    p.add_argument("--out", default=None, help="output folder (default outputs/<profile>)")
    p.add_argument("--check-env", action="store_true", help="print ferlib check-env's lines first")
    p.add_argument(
        "--cell-progress",
        action="store_true",
        help="papermill's cell progress inside each notebook",
    )
    p.add_argument(
        "--refresh",
        action="store_true",
        help="re-execute notebooks/ in place with their defaults (committed outputs)",
    )
    p.set_defaults(func=_cmd_notebooks)

    p = sub.add_parser("train", help="train a method (also under torchrun for DDP)")
    p.add_argument(
        "--method",
        default=None,
        help="baseline | caf | avce | elim (default: the profile's, else baseline)",
    )
    p.add_argument("--params", default="quick", help="params profile name or YAML path")
    p.add_argument("--set", nargs="*", default=None, metavar="KEY=VALUE", help="override params")
    p.add_argument(
        "--out",
        default=None,
        help="output folder (default outputs/runs/<dataset>/<method>/<hash>/seed<k>);"
        " resumes if it holds last.pt",
    )
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="metrics of a checkpoint on a dataset split")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--dataset", choices=DATASETS, default=None, help="default: as trained")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--split", choices=("train", "val", "test", "all"), default="test")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("predict", help="valence and arousal for image files or folders")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("paths", nargs="+", help="image files or folders")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("results", help="results table (mean ± std over seeds) from metrics.json")
    p.add_argument("--root", default=None, help="runs folder (default outputs/runs)")
    p.add_argument("--format", choices=("md", "csv"), default="md")
    p.add_argument("--anchors", action="store_true", help="also print the published anchors, apart")
    p.add_argument(
        "--stopping",
        nargs="+",
        type=int,
        metavar="EPOCHS",
        help="instead: validation CCC each run would lose had it stopped after EPOCHS (CSV)",
    )
    p.set_defaults(func=_cmd_results)

    p = sub.add_parser("check-env", help="one [OK]/[FAIL] line per requirement")
    p.set_defaults(func=_cmd_check_env)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. Errors a user can cause (bad input, parameters, files, folders) end
    in one line on stderr and exit code 2, never a traceback; a bug still shows its traceback."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # `ferlib … | head`: the reader left; say nothing more
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (flushed at exit, never read)
        return 0
    except KeyboardInterrupt:
        print(f"ferlib {args.command}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError) as err:  # OSError: FileNotFound, permissions…
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"ferlib {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
