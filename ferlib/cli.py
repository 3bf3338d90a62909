"""The ``ferlib`` command (also ``python -m ferlib``): it parses the arguments, calls the
feature that does the work and prints what comes back. Each command's body lives beside its
feature (``inference.batch`` for predict, ``inference.evaluate``, ``inference.bench``,
``course``, ``runs``, …); ``add_<command>`` declares its options. A user's mistake
(``errors.UserError``, ``OSError``) ends in one line and exit code 2, a bug in a traceback."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import __version__


def _say(command: str) -> Callable[[str], None]:
    """A function that writes a line on stderr named by ``command`` (``ferlib predict: …``)."""

    def say(text: str) -> None:
        print(f"ferlib {command}: {text}", file=sys.stderr)

    return say


def _overrides(sets: list[str] | None, **given: Any) -> dict[str, Any]:
    """The ``--set KEY=VALUE`` items (checked), then the options given that stand for one of
    them (``--data-dir``: ``data_dir``), in that order."""
    from .params import parse_set

    overrides = parse_set(sets)
    overrides.update({key: value for key, value in given.items() if value is not None})
    return overrides


def _cmd_synth(args: argparse.Namespace) -> int:
    from .paths import check_writable_dir
    from .synthetic import SynthConfig, generate
    from .synthetic.builder import summary_line

    check_writable_dir(args.out)
    fields = ("seed", "identities", "per_class", "size", "identity_bias")
    cfg = SynthConfig(**{name: getattr(args, name) for name in fields})
    print(summary_line(generate(args.out, cfg, workers=args.workers), cfg, args.out))
    return 0


def _cmd_data_report(args: argparse.Namespace) -> int:
    from .data import load_dataset, report_text

    image_size = None if args.no_decode else args.image_size
    data = load_dataset(args.dataset, args.data_dir, image_size=image_size)
    print(report_text(data, args.max_names, as_json=args.json))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .course.bench import bench_profile, bench_text

    overrides = _overrides(args.set, data_dir=args.data_dir, dataset=args.dataset)
    result = bench_profile(args.params, overrides, args.backbones, args.steps, args.layout)
    print(json.dumps(result, indent=1) if args.json else bench_text(result))
    return 0


def _cmd_notebooks(args: argparse.Namespace) -> int:
    from .course.runner import format_status, refresh_committed, run_notebooks

    if args.refresh:
        refresh_committed(args.only)
        return 0
    if args.check_env:  # in this process: the checks' imports serve the run too
        from .course.envcheck import main as check_env

        if check_env() != 0:
            print("ferlib notebooks: check-env reported a FAIL above; running anyway", flush=True)
    overrides = _overrides(args.set, data_dir=args.data_dir)
    methods = [m for m in (args.methods or "").split(",") if m] or None
    out = Path(args.out) if args.out else None
    results = run_notebooks(
        args.profile, args.only, overrides, out, methods=methods, cell_progress=args.cell_progress
    )
    print(format_status(results))
    return 0 if all(r.status in ("ok", "skipped") for r in results) else 1  # a skip has a reason


def _cmd_train(args: argparse.Namespace) -> int:
    from .params import parse_set, resolve_config
    from .paths import display_path
    from .runs.store import train_run

    overrides = parse_set(args.set)
    if args.method:
        overrides["method"] = args.method
    config = resolve_config(args.params, overrides)
    main_rank = int(os.environ.get("RANK", "0")) == 0  # under torchrun, rank 0 alone reports

    def log(text: str) -> None:
        if main_rank:
            print(text, flush=True)

    def warn(text: str) -> None:
        if main_rank:
            print(f"ferlib train: {text}", file=sys.stderr, flush=True)

    result = train_run(config, args.out, progress=not args.no_progress, log=log, warn=warn)
    m = result.metrics
    if main_rank:
        print(
            f"{config['method']} on {config['dataset']}: test CCC v {m['ccc_v']:.3f} "
            f"a {m['ccc_a']:.3f}, RMSE v {m['rmse_v']:.3f} a {m['rmse_a']:.3f} "
            f"(best epoch {m['best_epoch']}, {m['train_seconds']:.0f} s training, "
            f"{m['images_per_s']:.0f} images/s) -> {display_path(result.out_dir)}"
        )
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .inference import evaluate as E

    shifts = None
    if args.shift:
        from .evaluation.shifts import shift_names

        shifts = shift_names(args.shift)  # a typo fails before the data loads
    run = E.load_for_scoring(args.checkpoint, args.split, args.dataset, args.data_dir, args.device)
    said = E.non_finite_scores_said(_say("evaluate"))
    if shifts:
        fmt = "json" if args.json else "markdown" if args.markdown else "text"
        with said:
            table = E.shift_table(run, shifts, args.shift_seed)
            print(E.shift_text(run, table, args.shift_seed, fmt))
        return 0
    with said:
        metrics = E.split_metrics(run)
    print(E.metrics_text(metrics, as_json=args.json))
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from .inference.batch import Outputs, predict_settings, run_predict

    say = _say("predict")
    settings = predict_settings(  # every number checked before any work
        args.fps, args.margin, args.min_face, args.smooth, not args.no_detect, args.detector
    )
    outputs = Outputs(args.out, args.annotate, args.format, args.smooth)
    progress = not args.no_progress and sys.stderr.isatty()
    result = run_predict(args.paths, args.checkpoint, settings, outputs, progress, say)
    if not any(s.status == "ok" for s in result.inputs):
        say("nothing could be processed (see the statuses above)")
        return 1
    return 0


def _cmd_bench_faces(args: argparse.Namespace) -> int:
    from .inference.bench import bench_faces
    from .reporting.tables import markdown_table

    parts = set(args.parts.split(","))
    options = (args.detector, args.scenes, args.crops, args.margins, args.sides, args.seed)
    for item in bench_faces(args.data_dir, parts, args.checkpoint, *options):
        if isinstance(item, str):
            print(item)  # a part's heading
        else:
            print(markdown_table(item.rows, digits=item.digits), "\n")
    return 0


def _cmd_ship_model(args: argparse.Namespace) -> int:
    from .inference.shipped import ship_model, shipped_line

    print(shipped_line(ship_model(args.data_dir, args.params, args.set, args.out)))
    return 0


def _cmd_make_examples(args: argparse.Namespace) -> int:
    from .inference.examples import make_examples
    from .paths import display_path

    for path in make_examples(args.data_dir, args.out, args.seed):
        print(f"{display_path(path)}  {path.stat().st_size / 1024:.0f} KiB")
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    from functools import partial

    from .reporting.search import recipes_yaml
    from .runs.search import run_search

    result = run_search(
        args.space, args.methods, args.out, workers=args.workers, log=partial(print, flush=True)
    )
    print(result.text)
    print(f"\nchosen on validation; as a profile's sections ({result.out / 'search.md'}):\n")
    print(recipes_yaml(result.sections))
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from functools import partial

    from .figures.regimes import sweep_figure
    from .runs.sweep import run_sweep

    result = run_sweep(
        args.params,
        args.axis,
        args.values,
        args.methods,
        args.seeds,
        args.out,
        tag=args.tag,
        n_boot=args.n_boot,
        workers=args.workers,
        log=partial(print, flush=True),
    )
    sweep_figure(result.table).savefig(result.stem.with_suffix(".png"), dpi=100)
    print(result.text)
    print(f"-> {result.stem}.csv, .md, .png")
    return 0


def _cmd_results(args: argparse.Namespace) -> int:
    from .reporting.runs import results_markdown
    from .runs.collect import results_summary, stopping_summary

    if args.stopping:
        table = stopping_summary(args.root, args.stopping)
        if table.empty:
            print("ferlib results: no history.csv to read", file=sys.stderr)
            return 1
        print(table.to_csv(index=False, float_format="%.3f"), end="")
        return 0
    summary = results_summary(args.root, args.where, args.recipes)
    if summary.empty:
        print(
            f"ferlib results: no metrics.json under {args.root or 'outputs/runs'}", file=sys.stderr
        )
        return 1
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


# --- the parser: one function per command -----------------------------------------------------


def add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="generate SyntheticFER in DiffusionFER's layout")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--identities", type=int, default=60)
    p.add_argument("--per-class", type=int, default=300)
    p.add_argument("--size", type=int, default=112, help="image size in px")
    p.add_argument("--identity-bias", type=float, default=1.0, help="resting-face bias (0 = off)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.set_defaults(func=_cmd_synth)


def add_data_report(sub: argparse._SubParsersAction) -> None:
    from .data import DATASETS

    p = sub.add_parser("data-report", help="what a dataset holds and every file skipped, by reason")
    p.add_argument("--dataset", choices=DATASETS, default="synthetic")
    p.add_argument("--data-dir", default=None, help="dataset folder (or CSV for 'csv')")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--no-decode", action="store_true", help="skip decoding (no corrupt-file check)")
    p.add_argument("--max-names", type=int, default=5, help="file names shown per reason")
    p.set_defaults(func=_cmd_data_report)


def add_bench(sub: argparse._SubParsersAction) -> None:
    from .course.bench import LAYOUTS
    from .data import DATASETS

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
        choices=tuple(LAYOUTS),
        default="auto",
        help="memory layout to time (auto: the trainer's)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_bench)


def add_notebooks(sub: argparse._SubParsersAction) -> None:
    from .methods import METHODS

    p = sub.add_parser("notebooks", help="run the course notebooks with papermill")
    p.add_argument("--profile", default="quick", help="params/<profile>.yaml or a YAML path")
    p.add_argument("--only", nargs="*", default=None, help="notebook name prefixes, e.g. 00")
    p.add_argument("--set", nargs="*", default=None, metavar="KEY=VALUE", help="override params")
    p.add_argument("--data-dir", default=None, help="shorthand for --set data_dir=DIR")
    p.add_argument(
        "--methods", default=None, help=f"comma-separated, of {','.join(METHODS)} (default: all)"
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
        help="re-execute notebooks/ in place (committed outputs): each with its defaults, or on"
        " real DiffusionFER-S at data/diffusionfer for 00, 10, 20 and 30",
    )
    p.set_defaults(func=_cmd_notebooks)


def add_train(sub: argparse._SubParsersAction) -> None:
    from .methods import METHODS

    p = sub.add_parser("train", help="train a method (also under torchrun for DDP)")
    p.add_argument(
        "--method",
        default=None,
        help=f"{' | '.join(METHODS)} (default: the profile's, else baseline)",
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


def add_evaluate(sub: argparse._SubParsersAction) -> None:
    from .data import DATASETS

    p = sub.add_parser("evaluate", help="metrics of a checkpoint on a dataset split")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--dataset", choices=DATASETS, default=None, help="default: as trained")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--split", choices=("train", "val", "test", "all"), default="test")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--shift",
        default=None,
        metavar="NAME[,NAME...]|all",
        help="score clean and under each named image shift (ferlib.evaluation.shifts): "
        "greyscale, jitter, brightness_contrast, blur, jpeg, downscale, rotation, occlusion, "
        "hflip",
    )
    p.add_argument("--shift-seed", type=int, default=0, help="seed of the shifts' random draws")
    p.add_argument("--markdown", action="store_true", help="with --shift: a Markdown table")
    p.set_defaults(func=_cmd_evaluate)


def add_predict(sub: argparse._SubParsersAction) -> None:
    from .inference import faces as F
    from .inference.batch import limits_text

    p = sub.add_parser(
        "predict", help="valence and arousal of the faces in photos, folders and videos"
    )
    p.add_argument("paths", nargs="+", help="image files, video files or folders (recursive)")
    p.add_argument(
        "--checkpoint", default=None, help="a trained checkpoint (default: the shipped model)"
    )
    p.add_argument(
        "--no-detect",
        action="store_true",
        help="inputs are already face crops: take each whole picture as one face",
    )
    p.add_argument("--detector", choices=tuple(F.DETECTORS), default=F.DEFAULT_DETECTOR)
    for name, kind, default, text in (  # each checked against batch.PREDICT_LIMITS
        ("margin", float, F.DEFAULT_MARGIN, "crop margin per side, x crop frame"),
        ("min_face", int, F.DEFAULT_MIN_FACE, "smaller faces (px): 'too small'"),
        ("fps", float, 2.0, "video frames sampled per second, 0: every frame"),
        ("smooth", float, 1.0, "trace smoothing window in s, 0: none"),
    ):
        help_text = f"{text} ({limits_text(name)})"
        p.add_argument("--" + name.replace("_", "-"), type=kind, default=default, help=help_text)
    p.add_argument(
        "--out", default=None, help="folder for predictions.csv/.json, inputs.csv, video traces"
    )
    p.add_argument(
        "--annotate",
        default=None,
        help="folder for pictures with boxes and V/A (output folders are never read as inputs)",
    )
    p.add_argument("--format", choices=("csv", "json"), default="csv", help="stdout format")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_predict)


def add_bench_faces(sub: argparse._SubParsersAction) -> None:
    from .inference import faces as F
    from .inference.bench import PARTS

    p = sub.add_parser(
        "bench-faces", help="detectors, crop margin, face size and video decoders, measured"
    )
    p.add_argument("--data-dir", required=True, help="an extracted DiffusionFER-S release")
    p.add_argument("--checkpoint", default=None, help="model for the crop study (default: shipped)")
    p.add_argument("--parts", default=",".join(PARTS), help="comma-separated parts")
    p.add_argument("--detector", choices=tuple(F.DETECTORS), default=F.DEFAULT_DETECTOR)
    p.add_argument("--scenes", type=int, default=80, help="composite scenes for the detectors")
    p.add_argument("--crops", type=int, default=120, help="validation crops for the crop study")
    p.add_argument(
        "--margins", type=float, nargs="+", default=[-0.1, -0.05, 0.0, 0.05, 0.1, 0.2], metavar="M"
    )
    p.add_argument("--sides", type=int, nargs="+", default=[224], metavar="PX")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_bench_faces)


def add_ship_model(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ship-model", help="train and export the model that ships in the package")
    p.add_argument("--data-dir", required=True, help="an extracted DiffusionFER-S release")
    p.add_argument("--params", default="robust", help="params profile of the recipe")
    p.add_argument("--set", nargs="*", default=None, metavar="KEY=VALUE", help="override params")
    p.add_argument("--out", default=None, help="folder (default: ferlib/shipped in the package)")
    p.set_defaults(func=_cmd_ship_model)


def add_make_examples(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("make-examples", help="write the demo photos and clip of examples/")
    p.add_argument("--data-dir", required=True, help="an extracted DiffusionFER-S release")
    p.add_argument("--out", default="examples", help="folder (default: examples)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_make_examples)


def add_search(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search", help="each method's recipe: train the search space, choose on validation"
    )
    p.add_argument("--space", default="params/search/quick.yaml", help="search space YAML")
    p.add_argument("--methods", nargs="+", default=None, help="default: every method in it")
    p.add_argument("--out", default="docs/results", help="folder of the tables (docs/results)")
    p.add_argument("--workers", type=int, default=None, help="runs at a time (default: cores)")
    p.set_defaults(func=_cmd_search)


def add_sweep(sub: argparse._SubParsersAction) -> None:
    from .methods import METHODS

    p = sub.add_parser("sweep", help="every method along one SyntheticFER axis, paired")
    p.add_argument("--axis", required=True, choices=("identity_bias", "identities"))
    p.add_argument("--values", type=float, nargs="+", default=None, help="default: the axis's")
    p.add_argument("--params", default="quick", help="profile (its per-method recipes apply)")
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--n-boot", type=int, default=1000, help="paired bootstrap resamples")
    p.add_argument("--out", default="docs/results", help="folder of table and figure")
    p.add_argument("--tag", default="", help="suffix of the file names (sweep_AXIS_TAG.csv)")
    p.add_argument("--workers", type=int, default=None, help="runs at a time (default: cores)")
    p.set_defaults(func=_cmd_sweep)


def add_results(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("results", help="results table (mean ± std over seeds) from metrics.json")
    p.add_argument("--root", default=None, help="runs folder (default outputs/runs)")
    p.add_argument("--format", choices=("md", "csv"), default="md")
    p.add_argument("--anchors", action="store_true", help="also print the published anchors, apart")
    p.add_argument(
        "--where",
        nargs="+",
        default=None,
        metavar="KEY=VALUE",
        help="only runs whose column reads so (dataset=synthetic recipe=defaults identities=60)",
    )
    p.add_argument(
        "--recipes",
        default=None,
        metavar="PROFILE",
        help="only runs trained with PROFILE's recipe for their method (e.g. quick)",
    )
    p.add_argument(
        "--stopping",
        nargs="+",
        type=int,
        metavar="EPOCHS",
        help="instead: validation CCC each run would lose had it stopped after EPOCHS (CSV)",
    )
    p.set_defaults(func=_cmd_results)


def add_check_env(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check-env", help="one [OK]/[FAIL] line per requirement")
    p.set_defaults(func=_cmd_check_env)


COMMANDS = [add for name, add in list(globals().items()) if name.startswith("add_")]
"""Each command's ``add_<command>``, in the order ``ferlib --help`` lists them (as defined)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ferlib", description="FER-Zoo command line")
    parser.add_argument("--version", action="version", version=f"ferlib {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. Errors a user can cause (``errors.UserError``: bad input, parameters,
    data, checkpoints; ``OSError``: a missing file, a permission, a full disk) end in one line on
    stderr and exit code 2, never a traceback; any other exception is a bug and shows its
    traceback."""
    from .errors import UserError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # `ferlib … | head`: the reader left; say nothing more
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (flushed at exit, never read)
        return 0
    except KeyboardInterrupt as err:  # a course run's says where it stopped and what it kept
        where = " ".join(str(err).split())
        print(f"ferlib {args.command}: interrupted {where}".rstrip(), file=sys.stderr)
        return 130
    except (UserError, OSError) as err:  # OSError: FileNotFound, permissions, a full disk…
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"ferlib {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
