"""Published anchor numbers (``docs/methods/metrics.md`` §7), kept apart from our results.

They come from other datasets and protocols (face crops, input sizes, evaluators that average RMSE
over batches and inflate correlations by N/(N−1)), so they are never mixed into FER-Zoo's tables:
the evaluation notebook and the README print them as a separate, labelled table from here.
Values are "valence / arousal" strings; None where the source gives no such column.
"""

from __future__ import annotations

from dataclasses import dataclass

Pair = str | None  # "valence / arousal", as printed by the source (its own decimals)


@dataclass(frozen=True)
class Anchor:
    method: str
    dataset: str
    backbone: str
    rmse: Pair
    pcc: Pair
    ccc: Pair
    sagr: Pair
    provenance: str


PUBLISHED: tuple[Anchor, ...] = (
    Anchor(
        "AffectNet baseline",
        "AffectNet val",
        "AlexNet",
        "0.37 / 0.41",
        "0.66 / 0.54",
        "0.60 / 0.34",
        None,
        "CAF AAAI 2021 poster",
    ),
    Anchor(
        "CAF",
        "AffectNet val",
        "ResNet-18",
        "0.2186 / 0.1873",
        "0.86 / 0.85",
        "0.83 / 0.84",
        None,
        "CAF AAAI 2021 poster",
    ),
    Anchor(
        "CAF",
        "AffectNet val",
        "AlexNet (tuned)",
        "0.2216 / 0.1916",
        "0.81 / 0.86",
        "0.80 / 0.85",
        None,
        "CAF AAAI 2021 poster",
    ),
    Anchor(
        "Hasani et al. (CVPRW 2017)",
        "Aff-Wild test",
        "–",
        "0.27 / 0.36",
        None,
        "0.36 / 0.19",
        "0.57 / 0.74",
        "AVCE ECCV 2022 poster",
    ),
    Anchor(
        "CAF",
        "Aff-Wild test",
        "AlexNet",
        "0.24 / 0.21",
        None,
        "0.54 / 0.56",
        "0.68 / 0.78",
        "AVCE ECCV 2022 poster",
    ),
    Anchor(
        "AVCE",
        "Aff-Wild test",
        "AlexNet",
        "0.154 / 0.154",
        None,
        "0.682 / 0.594",
        "0.849 / 0.795",
        "AVCE ECCV 2022 poster",
    ),
)

CLAIMS: tuple[str, ...] = (
    "ELIM (arXiv 2209.12172, abstract): PCC/CCC gains of roughly 10 % or more over the runner-up "
    "on in-the-wild datasets; no table is verified, so no ELIM numbers are listed.",
    "AVCE (ECCV 2022, abstract): a similar claim; its AffectNet, Aff-Wild2 and AFEW-VA tables are "
    "unverified and not listed.",
)


def _pair(values: Pair) -> str:
    return "–" if values is None else values


def anchors_markdown() -> str:
    """The published numbers as a GitHub-markdown table, then the text-only claims.

    Taught in ``notebooks/20_evaluate_va.ipynb`` §8.
    """
    lines = [
        "| method | dataset | backbone | RMSE | PCC | CCC | SAGR | provenance |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for a in PUBLISHED:
        cells = [a.method, a.dataset, a.backbone, *map(_pair, (a.rmse, a.pcc, a.ccc, a.sagr))]
        lines.append("| " + " | ".join([*cells, a.provenance]) + " |")
    lines.append("")
    lines += [f"- {claim}" for claim in CLAIMS]
    return "\n".join(lines) + "\n"


__all__ = ["CLAIMS", "PUBLISHED", "Anchor", "anchors_markdown"]
