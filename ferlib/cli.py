"""The ``ferlib`` command (also ``python -m ferlib``): it parses the arguments, calls the
feature that does the work and prints what comes back. Each command's body lives beside its
feature (``inference.batch`` for predict, ``inference.evaluate``, ``inference.bench``,
``course``, ``runs``, …); ``cli_options.add_<command>`` declares its options. A user's mistake
(``errors.UserError``, ``OSError``) ends in one line and exit code 2, a bug in a traceback."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


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
    for item in bench_faces(args.data_dir, parts, args.checkpoint, *options, args.photos):
        if isinstance(item, str):
            print(item)  # a part's heading
        else:
            print(markdown_table(item.rows, digits=item.digits), "\n")
    return 0


def _cmd_peers(args: argparse.Namespace) -> int:
    from .inference.peers import peers_inputs, peers_text, score_peers, write_peers
    from .paths import check_writable_dir, display_path, outputs_home

    out = check_writable_dir(args.out or outputs_home() / "peers")  # before any work
    chosen = peers_inputs(args.data_dir, args.photos, args.split, args.crops)
    for stem, inputs in chosen:
        result = score_peers(inputs, args.checkpoint, progress=not args.no_progress)
        print(peers_text(result), "\n", flush=True)
        paths = write_peers(result, out, stem)
        _say("peers")(" and ".join(display_path(p) for p in paths) + " written")
    return 0


def _cmd_ship_model(args: argparse.Namespace) -> int:
    from .errors import UserError
    from .inference.shipped import ShipOptions, rewrite_card, ship_model, shipped_line
    from .paths import display_path

    if args.card_only:
        print(f"{display_path(rewrite_card(args.out))} written")
        return 0
    if args.data_dir is None:
        raise UserError("ship-model needs --data-dir (an extracted DiffusionFER-S release)")
    options = ShipOptions(args.params, args.set, args.members, args.hflip)
    print(shipped_line(ship_model(args.data_dir, options, args.out)))
    return 0


def _cmd_ship_study(args: argparse.Namespace) -> int:
    from .inference.ship_study import read_study, study_command, study_markdown
    from .paths import display_path

    _, path = study_command(args.data_dir, args.params, args.set, args.out)
    print(study_markdown(read_study(path)))  # as the card and the README show it
    _say("ship-study")(f"{display_path(path)} written")
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


BODIES = {
    "synth": _cmd_synth,
    "data-report": _cmd_data_report,
    "bench": _cmd_bench,
    "notebooks": _cmd_notebooks,
    "train": _cmd_train,
    "evaluate": _cmd_evaluate,
    "predict": _cmd_predict,
    "bench-faces": _cmd_bench_faces,
    "peers": _cmd_peers,
    "ship-model": _cmd_ship_model,
    "ship-study": _cmd_ship_study,
    "make-examples": _cmd_make_examples,
    "search": _cmd_search,
    "sweep": _cmd_sweep,
    "results": _cmd_results,
    "check-env": _cmd_check_env,
}
"""Each command's body, by the name ``cli_options`` gives it."""


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. Errors a user can cause (``errors.UserError``: bad input, parameters,
    data, checkpoints; ``OSError``: a missing file, a permission, a full disk) end in one line on
    stderr and exit code 2, never a traceback; any other exception is a bug and shows its
    traceback."""
    from .cli_options import build_parser
    from .errors import UserError

    args = build_parser().parse_args(argv)
    try:
        return BODIES[args.command](args)
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
