"""The ``ferlib`` command (also ``python -m ferlib``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
    return 0 if all(r.status in ("ok", "skipped") for r in results) else 1  # a skip has a reason


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
    from .evaluation.metrics import metrics_json, zero_label_share
    from .evaluation.outputs import evaluate
    from .training.checkpoint import EVALUATION_KEYS, load_model
    from .training.device import select_device, use_channels_last

    shifts = None
    if args.shift:
        from .evaluation.shifts import shift_names

        shifts = shift_names(args.shift)  # a typo fails before the data loads
    model, config = load_model(args.checkpoint, needs=EVALUATION_KEYS)  # bad keys: one line
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
    if shifts:
        with _non_finite_scores_said():
            return _print_robustness(args, shifts, model, data, config, device, layout)
    with _non_finite_scores_said():
        metrics = evaluate(model, loader, device, channels_last=layout)
    metrics.update(
        split=args.split,
        dataset=config["dataset"],
        zero_label_share=zero_label_share(loader.dataset.targets),
    )
    if args.json:
        print(metrics_json(metrics))  # NaN as null: valid JSON
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


@contextmanager
def _non_finite_scores_said() -> Iterator[None]:
    """Inside the block, scores that come out NaN or inf (``NonFiniteMetricWarning``) are
    collected; after it, one line on stderr per reason names them. Other warnings pass on."""
    import warnings

    from .evaluation.metrics import NonFiniteMetricWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NonFiniteMetricWarning)
        yield
    keys: dict[str, dict[str, None]] = {}  # reason -> its scores, in order, once each
    for w in caught:
        if isinstance(w.message, NonFiniteMetricWarning):
            keys.setdefault(w.message.reason, {})[w.message.key] = None
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    for reason, names in keys.items():
        scores = ", ".join(names)
        print(f"ferlib evaluate: warning: {scores} not finite: {reason}", file=sys.stderr)


def _print_robustness(args, shifts, model, data, config, device, layout) -> int:
    """``ferlib evaluate --shift``: the robustness table (text, --markdown or --json)."""
    from .evaluation.robustness import robustness_markdown, robustness_table

    table = robustness_table(
        model,
        data,
        config["image_size"],
        shifts,
        seed=args.shift_seed,
        batch_size=config["eval_batch_size"],
        device=device,
        channels_last=layout,
    )
    if args.json:
        print(table.to_json(orient="records", indent=1))
    elif args.markdown:
        print(robustness_markdown(table))
    else:
        print(f"{config['dataset']} [{args.split}], {len(data)} images, seed {args.shift_seed}")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


PREDICT_LIMITS: dict[str, tuple[float, float]] = {
    "fps": (0.0, 1000.0),  # 0: every frame
    "margin": (-0.25, 2.0),  # the crop side is (1 + 2·margin) × the measured crop frame
    "min_face": (0, 100_000),  # pixels
    "smooth": (0.0, 3600.0),  # seconds, 0: none
}
"""``ferlib predict``'s numeric options and their ranges, checked before any work."""


def _cmd_predict(args: argparse.Namespace) -> int:
    from .inference import predict as P
    from .inference.shipped import default_checkpoint
    from .inference.writer import OutputNames
    from .paths import display_path

    settings = _predict_settings(args)  # every number checked before any work
    checkpoint = args.checkpoint or default_checkpoint()
    names = OutputNames(args.paths)
    annotate_dir = _output_dir(args.annotate, "--annotate folder", args.paths)
    out_dir = _output_dir(args.out, "--out folder", args.paths)
    on_picture = _annotator(annotate_dir, names) if annotate_dir else None
    predictor = P.FacePredictor(checkpoint, settings)  # a bad checkpoint fails here, in one line
    which = "the shipped model" if args.checkpoint is None else "checkpoint"
    print(f"ferlib predict: {which} {display_path(checkpoint)}", file=sys.stderr)
    result = _predict_and_write(args, predictor, on_picture, out_dir, names)
    print(
        f"ferlib predict: {result.summary()}" + (f" -> {display_path(out_dir)}" if out_dir else ""),
        file=sys.stderr,
    )
    if not any(s.status == "ok" for s in result.inputs):
        print(
            "ferlib predict: nothing could be processed (see the statuses above)", file=sys.stderr
        )
        return 1
    return 0


def _limits(name: str) -> str:
    low, high = PREDICT_LIMITS[name]
    return f"{low:g} to {high:g}"


def _predict_settings(args: argparse.Namespace):
    """``predict.Settings`` from the options; ``ValueError`` naming the first number that is
    not finite or out of its range (``PREDICT_LIMITS``)."""
    import math

    from .inference.predict import Settings

    for name, (low, high) in PREDICT_LIMITS.items():
        value = getattr(args, name)
        if not (math.isfinite(value) and low <= value <= high):
            option = "--" + name.replace("_", "-")
            raise ValueError(f"{option} must be a number from {_limits(name)}, got {value}")
    return Settings(
        detect=not args.no_detect,
        detector=args.detector,
        margin=args.margin,
        min_face=args.min_face,
        fps=args.fps or None,
    )


def _predict_and_write(args, predictor, on_picture, out_dir: Path | None, names):
    """Every input's rows and status; rows written as each input finishes (``--out``: the
    ``.part`` CSV, else CSV on stdout), the final files at the end (``inference.writer``)."""
    from .inference import predict as P
    from .inference.writer import CsvStream, PredictionWriter

    result = P.Prediction()
    sink = PredictionWriter(out_dir) if out_dir else None
    stream = CsvStream(sys.stdout) if out_dir is None and args.format == "csv" else None
    progress = not args.no_progress and sys.stderr.isatty()
    try:
        for rows, status in P.iter_predictions(predictor, args.paths, on_picture, progress):
            for target in (sink, stream):
                if target is not None:
                    target.add(rows)
            result.rows.extend(rows)
            result.inputs.append(status)
            if status.status != "ok":
                reason = f" ({status.reason})" if status.reason else ""
                print(f"ferlib predict: {status.source}: {status.status}{reason}", file=sys.stderr)
        if sink is not None:
            _save_traces(result, out_dir, names, args.smooth)
            sink.finish(result)
    except BaseException as err:
        if sink is not None:
            _say_what_is_kept(err, sink)
        raise
    if out_dir is None and args.format == "json":
        print(json.dumps(result.to_json(), indent=1))
    return result


def _say_what_is_kept(err: BaseException, sink) -> None:
    """After a run stopped: the ``.part`` file with the finished inputs' rows named in the
    error's one line (an ``OSError``: a full disk, say), or on a line of its own."""
    from .paths import display_path

    finished, part = sink.finished, sink.abandon()
    if part is None:
        return
    kept = f"the rows of the {finished} finished inputs are kept in {display_path(part)}"
    if isinstance(err, OSError):
        raise OSError(f"{err}; {kept}") from err
    print(f"ferlib predict: {kept}", file=sys.stderr)


def _output_dir(path: str | None, what: str, inputs: list[str]) -> Path | None:
    """``path`` checked (``paths.check_writable_dir``, and not one of the ``inputs`` folders,
    whose walk would read its pictures back), created, and marked with
    ``predict.OUTPUT_MARKER`` so that walking inputs leaves it out, in later runs too."""
    from .atomic import naming_a_full_disk
    from .inference.predict import OUTPUT_MARKER
    from .paths import check_writable_dir

    if path is None:
        return None
    folder = check_writable_dir(path, what)
    for raw in inputs:
        if os.path.isdir(raw) and folder.resolve() == Path(raw).resolve():
            raise ValueError(
                f"{what} {path} is the input folder {raw}: its pictures would be read as "
                "inputs in the next run (give another folder, or a subfolder)"
            )
    with naming_a_full_disk(folder / OUTPUT_MARKER):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / OUTPUT_MARKER).touch()
    return folder


def _annotator(folder: Path, names):
    """A callback that saves each picture with its boxes and V/A drawn on it, whole or not at
    all, named by ``names`` (``writer.OutputNames``)."""
    from .atomic import staged_files
    from .figures.faces import annotate

    def save(source: str, frame, image, rows) -> None:
        with staged_files() as stage:
            target = stage.path(folder / names.annotation(source, frame))
            annotate(image, rows).save(target, quality=90)

    return save


def _save_traces(result, folder: Path, names, seconds: float) -> None:
    """The trace of each video with a predicted face, named by ``names.trace``."""
    for status in result.inputs:
        if status.kind == "video" and status.faces:
            target = folder / names.trace(status.source)
            _save_trace(result.rows, status.source, target, seconds)


def _save_trace(rows: list[dict], source: str, target: Path, seconds: float) -> None:
    """The valence/arousal trace of the video ``source`` saved as ``target`` (whole or not)."""
    from .atomic import staged_files
    from .figures.faces import va_trace_figure
    from .inference.predict import main_face_trace, smooth

    trace = main_face_trace(rows, source)
    smoothed = {d: smooth(trace["time"], trace[d], seconds) for d in ("valence", "arousal")}
    fig = va_trace_figure(
        trace["time"], trace, smoothed if seconds > 0 else None, title=Path(source).name
    )
    with staged_files() as stage:
        fig.savefig(stage.path(target), dpi=120)


def _cmd_bench_faces(args: argparse.Namespace) -> int:
    import tempfile

    import numpy as np

    from .data import load_dataset
    from .data.images import read_rgb
    from .inference import bench as B
    from .inference.faces import DETECTORS, FaceDetector
    from .inference.shipped import default_checkpoint
    from .inference.video import write_video
    from .paths import display_path
    from .reporting.tables import markdown_table
    from .synthetic.clip import ClipConfig, render_clip

    data = load_dataset("diffusionfer", args.data_dir)
    val = data.subset("val").frame
    paths = list(val["path"])
    parts = set(args.parts.split(","))
    if "geometry" in parts:
        detectors = {name: FaceDetector(name) for name in DETECTORS}
        print(
            f"Crop frame of each detector on {len(paths)} validation crops, each pasted alone"
            " in a grey canvas twice its size:\n"
        )
        print(markdown_table(B.geometry_table(paths, detectors)), "\n")
    if "detectors" in parts:
        detectors = {}
        for name in DETECTORS:
            detector = FaceDetector(name)
            detectors[name] = lambda image, d=detector: [f.box for f in d(image, 16)]
        quick = FaceDetector("dlib_hog", upsample=0)
        detectors["dlib_hog (no upsampling)"] = lambda image: [f.box for f in quick(image)]
        try:  # optional: facenet-pytorch cannot be installed beside this torch (it pins <2.3)
            from facenet_pytorch import MTCNN

            mtcnn = MTCNN(keep_all=True, device="cpu")

            def run_mtcnn(image):
                boxes, _ = mtcnn.detect(image)
                return (
                    []
                    if boxes is None
                    else [(x0, y0, x1 - x0, y1 - y0) for x0, y0, x1, y1 in boxes.tolist()]
                )

            detectors["mtcnn (facenet-pytorch)"] = run_mtcnn
        except ImportError:
            print("(facenet-pytorch not importable: MTCNN left out)", file=sys.stderr)
        scenes = B.make_scenes(paths, args.scenes, args.seed)
        n_faces = sum(len(t) for _, t in scenes)
        print(
            f"Detectors on {len(scenes)} composite scenes ({n_faces} faces, {B.SCENE[0]}x"
            f"{B.SCENE[1]}) from {len(paths)} validation images, seed {args.seed}:\n"
        )
        print(markdown_table(B.detector_table(scenes, detectors)), "\n")
    if "crops" in parts:
        checkpoint = args.checkpoint or default_checkpoint()
        rng = np.random.default_rng(args.seed)
        chosen = rng.choice(len(paths), size=min(args.crops, len(paths)), replace=False)
        crops = [np.asarray(read_rgb(paths[i])[0]) for i in chosen]
        labels = val[["valence", "arousal"]].to_numpy(dtype=np.float64)[chosen]
        rows = B.crop_study(
            checkpoint, crops, labels, args.margins, args.sides, args.detector, args.seed
        )
        print(
            f"Crop margin and face size, {len(crops)} validation crops pasted into textured"
            f" canvases and detected back by {args.detector} (model {display_path(checkpoint)}):\n"
        )
        print(markdown_table(rows), "\n")
    if "decoders" in parts:
        with tempfile.TemporaryDirectory() as tmp:
            clip = Path(tmp) / "clip.mp4"
            config = ClipConfig(seconds=10, fps=25, width=640, height=480, face_size=288)
            write_video((frame for _, frame, _ in render_clip(config)), clip, config.fps)
            print("Video decoders on a 10 s 640x480 H.264 clip (250 frames):\n")
            print(markdown_table(B.decoder_table(clip), digits=1), "\n")
    if "memory" in parts:
        with tempfile.TemporaryDirectory() as tmp:
            videos = {}
            for seconds in (10, 60):
                config = ClipConfig(seconds=seconds, fps=25, width=640, height=480, face_size=288)
                path = Path(tmp) / f"clip_{seconds}s.mp4"
                write_video((frame for _, frame, _ in render_clip(config)), path, config.fps)
                videos[f"{seconds} s, 640x480, 25 fps"] = path
            print("Peak memory of `ferlib predict --fps 1` (a fresh process per video):\n")
            print(markdown_table(B.memory_table(videos), digits=0), "\n")
    return 0


def _cmd_ship_model(args: argparse.Namespace) -> int:
    from .inference.shipped import SHIPPED_DIR, build_shipped_model
    from .params import parse_set, resolve_config

    overrides = parse_set(args.set)
    overrides["data_dir"] = args.data_dir
    overrides["method"] = "baseline"
    config = resolve_config(args.params, overrides)
    command = f"OMP_NUM_THREADS=1 ferlib ship-model --params {args.params} --data-dir DIR" + (
        f" --set {' '.join(args.set)}" if args.set else ""
    )
    facts = build_shipped_model(config, command, args.params, args.out or SHIPPED_DIR)
    m = facts["test_metrics"]
    print(
        f"shipped model: test mean CCC {m['ccc_mean']:.3f} (v {m['ccc_v']:.3f}, "
        f"a {m['ccc_a']:.3f}), {facts['size_kib']:.0f} KiB, digest {facts['weight_digest'][:16]}"
    )
    return 0


def _cmd_make_examples(args: argparse.Namespace) -> int:
    from .inference.examples import make_examples
    from .paths import display_path

    for path in make_examples(args.data_dir, args.out, args.seed):
        print(f"{display_path(path)}  {path.stat().st_size / 1024:.0f} KiB")
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    from .paths import check_writable_dir
    from .reporting.search import (
        chosen_overrides,
        load_space,
        recipes_yaml,
        search_configs,
        search_table,
    )
    from .reporting.tables import markdown_table
    from .training.trainer import train_runs

    space = load_space(args.space)
    methods = args.methods or list(space["methods"])
    out = check_writable_dir(args.out, "--out")
    configs = search_configs(space, methods)
    print(
        f"search: {len(configs)} runs ({len(methods)} methods, seeds {space['seeds']}); "
        "finished ones are loaded, the rest train",
        flush=True,
    )
    train_runs(configs, workers=args.workers)
    sections, parts = {}, []
    out.mkdir(parents=True, exist_ok=True)
    for method in methods:
        table = search_table(space, method)
        table.to_csv(out / f"search_{method}.csv", index=False)
        sections[method] = chosen_overrides(space, method, table)
        rows = table.drop(columns="chosen").to_dict("records")
        parts.append(
            f"**{method}** (validation mean CCC, best epoch per run)\n\n" + markdown_table(rows)
        )
    text = "\n\n".join(parts)
    (out / "search.md").write_text(text + "\n")
    print(text)
    print(f"\nchosen on validation; as a profile's sections ({out / 'search.md'}):\n")
    print(recipes_yaml(sections))
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .figures.regimes import sweep_figure
    from .paths import check_writable_dir
    from .reporting.regimes import AXES, sweep_configs, sweep_table
    from .reporting.search import run_folder
    from .reporting.tables import markdown_table
    from .training.trainer import train_runs

    values = args.values or list(AXES[args.axis])
    out = check_writable_dir(args.out, "--out")
    configs = sweep_configs(args.params, args.axis, values, args.methods, args.seeds)
    print(
        f"sweep {args.axis}: {len(configs)} runs ({len(values)} values × "
        f"{len(args.methods)} methods × {len(args.seeds)} seeds); finished ones are loaded",
        flush=True,
    )
    train_runs(configs, workers=args.workers)
    table = sweep_table(
        args.params, args.axis, values, args.methods, args.seeds, run_folder, n_boot=args.n_boot
    )
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"sweep_{args.axis}{'_' + args.tag if args.tag else ''}"
    table.to_csv(stem.with_suffix(".csv"), index=False)
    sweep_figure(table).savefig(stem.with_suffix(".png"), dpi=100)
    text = markdown_table(table.drop(columns=["axis"]).to_dict("records"))
    stem.with_suffix(".md").write_text(text + "\n")
    print(text)
    print(f"-> {stem}.csv, .md, .png")
    return 0


def _cmd_results(args: argparse.Namespace) -> int:
    from .paths import outputs_home
    from .reporting.runs import (
        collect_runs,
        recipe_runs,
        results_markdown,
        select_runs,
        summarize_runs,
    )

    if args.stopping:
        from .reporting.runs import stopping_table

        table = stopping_table(args.root or outputs_home() / "runs", args.stopping)
        if table.empty:
            print("ferlib results: no history.csv to read", file=sys.stderr)
            return 1
        print(table.to_csv(index=False, float_format="%.3f"), end="")
        return 0
    runs = collect_runs(args.root or outputs_home() / "runs")
    if args.where:
        runs = select_runs(runs, args.where)
    if args.recipes:
        runs = recipe_runs(runs, args.recipes)
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
    from .inference.faces import DEFAULT_DETECTOR, DEFAULT_MARGIN, DEFAULT_MIN_FACE, DETECTORS

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
        help="re-execute notebooks/ in place (committed outputs): each with its defaults, or on"
        " real DiffusionFER-S at data/diffusionfer for 00, 10, 20 and 30",
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
    p.add_argument("--detector", choices=tuple(DETECTORS), default=DEFAULT_DETECTOR)
    p.add_argument(
        "--margin",
        type=float,
        default=DEFAULT_MARGIN,
        help=f"crop margin per side, x crop frame ({_limits('margin')})",
    )
    p.add_argument(
        "--min-face",
        type=int,
        default=DEFAULT_MIN_FACE,
        help=f"smaller faces (px): 'too small' ({_limits('min_face')})",
    )
    p.add_argument(
        "--fps",
        type=float,
        default=2.0,
        help=f"video frames sampled per second, 0: every frame ({_limits('fps')})",
    )
    p.add_argument(
        "--smooth",
        type=float,
        default=1.0,
        help=f"trace smoothing window in s, 0: none ({_limits('smooth')})",
    )
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

    p = sub.add_parser(
        "bench-faces", help="detectors, crop margin, face size and video decoders, measured"
    )
    p.add_argument("--data-dir", required=True, help="an extracted DiffusionFER-S release")
    p.add_argument("--checkpoint", default=None, help="model for the crop study (default: shipped)")
    p.add_argument(
        "--parts",
        default="geometry,detectors,crops,decoders,memory",
        help="comma-separated parts",
    )
    p.add_argument("--detector", choices=tuple(DETECTORS), default=DEFAULT_DETECTOR)
    p.add_argument("--scenes", type=int, default=80, help="composite scenes for the detectors")
    p.add_argument("--crops", type=int, default=120, help="validation crops for the crop study")
    p.add_argument(
        "--margins", type=float, nargs="+", default=[-0.1, -0.05, 0.0, 0.05, 0.1, 0.2], metavar="M"
    )
    p.add_argument("--sides", type=int, nargs="+", default=[224], metavar="PX")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_bench_faces)

    p = sub.add_parser("ship-model", help="train and export the model that ships in the package")
    p.add_argument("--data-dir", required=True, help="an extracted DiffusionFER-S release")
    p.add_argument("--params", default="robust", help="params profile of the recipe")
    p.add_argument("--set", nargs="*", default=None, metavar="KEY=VALUE", help="override params")
    p.add_argument("--out", default=None, help="folder (default: ferlib/shipped in the package)")
    p.set_defaults(func=_cmd_ship_model)

    p = sub.add_parser("make-examples", help="write the demo photos and clip of examples/")
    p.add_argument("--data-dir", required=True, help="an extracted DiffusionFER-S release")
    p.add_argument("--out", default="examples", help="folder (default: examples)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_make_examples)

    p = sub.add_parser(
        "search", help="each method's recipe: train the search space, choose on validation"
    )
    p.add_argument("--space", default="params/search/quick.yaml", help="search space YAML")
    p.add_argument("--methods", nargs="+", default=None, help="default: every method in it")
    p.add_argument("--out", default="docs/results", help="folder of the tables (docs/results)")
    p.add_argument("--workers", type=int, default=None, help="runs at a time (default: cores)")
    p.set_defaults(func=_cmd_search)

    p = sub.add_parser("sweep", help="every method along one SyntheticFER axis, paired")
    p.add_argument("--axis", required=True, choices=("identity_bias", "identities"))
    p.add_argument("--values", type=float, nargs="+", default=None, help="default: the axis's")
    p.add_argument("--params", default="quick", help="profile (its per-method recipes apply)")
    p.add_argument("--methods", nargs="+", default=["baseline", "caf", "avce", "elim"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--n-boot", type=int, default=1000, help="paired bootstrap resamples")
    p.add_argument("--out", default="docs/results", help="folder of table and figure")
    p.add_argument("--tag", default="", help="suffix of the file names (sweep_AXIS_TAG.csv)")
    p.add_argument("--workers", type=int, default=None, help="runs at a time (default: cores)")
    p.set_defaults(func=_cmd_sweep)

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
    except KeyboardInterrupt as err:  # a course run's says where it stopped and what it kept
        where = " ".join(str(err).split())
        print(f"ferlib {args.command}: interrupted {where}".rstrip(), file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError) as err:  # OSError: FileNotFound, permissions…
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"ferlib {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
