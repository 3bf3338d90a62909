"""The README's regime tables are the committed sweep tables (docs/results/sweep_*.csv), to the
digits they show: rerunning `ferlib sweep` and not the README (or the other way round) fails. The
same holds for the shipped model's study and peer tables (ship_study.csv and
peers_diffusionfer_test.csv), in the README and in the model card."""

from __future__ import annotations

import pandas as pd
import pytest

from ferlib.paths import repo_root
from ferlib.reporting.regimes import verdict

RESULTS = repo_root() / "docs" / "results"
NAMES = {"baseline": "Baseline", "caf": "CAF", "avce": "AVCE", "elim": "ELIM"}


def interval(row: pd.Series) -> str:
    text = f"{row['diff']:+.3f} [{row['diff_low']:+.3f}, {row['diff_high']:+.3f}]"
    return f"**{text}**" if row["diff_low"] > 0 else text


def goal_rows() -> list[str]:
    goal = pd.read_csv(RESULTS / "sweep_identity_bias_goal.csv").set_index("method")
    rows = []
    for method, r in goal.iterrows():
        probe = f"{r['probe_h']:.3f} ± {r['probe_h_std']:.3f}"
        if method == "baseline":
            cells = [f"{r['ccc_mean']:.3f}", "—", "reference", probe, "—"]
        else:
            leak = (
                f"{r['probe_diff']:+.3f} [{r['probe_diff_low']:+.3f}, {r['probe_diff_high']:+.3f}]"
            )
            cells = [f"{r['ccc_mean']:.3f}", interval(r), verdict(r), probe, leak]
        rows.append(
            f"| {NAMES[method]} | " + " | ".join([*cells, f"{r['resting_slope']:.3f}"]) + " |"
        )
    return rows


def sweep_rows(name: str) -> list[str]:
    table = pd.read_csv(RESULTS / name)
    rows = []
    for value, point in table.groupby("value"):
        point = point.set_index("method")
        base = point.loc["baseline"]
        diffs = " | ".join(interval(point.loc[m]) for m in ("caf", "avce", "elim"))
        probes = (
            f"{base['probe_h']:.2f} / {point.loc['elim', 'probe_h']:.2f} ({base['chance']:.2f})"
        )
        rows.append(f"| {value:g} | {base['ccc_mean']:.3f} | {diffs} | {probes} |")
    return rows


@pytest.mark.parametrize(
    "rows",
    [goal_rows(), sweep_rows("sweep_identity_bias.csv"), sweep_rows("sweep_identities.csv")],
    ids=["goal", "bias", "people"],
)
def test_the_readme_shows_the_committed_sweep_tables(rows):
    readme = (repo_root() / "README.md").read_text()
    missing = [row for row in rows if row not in readme]
    assert not missing, (
        "README rows that differ from docs/results (print them with this test):\n"
        + "\n".join(missing)
    )


def shipped_rows() -> list[str]:
    """The ship study's and the peer table's rows, as the card and the README show them."""
    from ferlib.inference.peers import peers_markdown, read_peers
    from ferlib.inference.ship_study import read_study, study_markdown
    from ferlib.inference.shipped import PEERS_CSV

    study = study_markdown(read_study(RESULTS / "ship_study.csv")).splitlines()
    return study + peers_markdown(read_peers(PEERS_CSV)).splitlines()


def test_the_readme_and_the_card_show_the_committed_study_and_peer_tables():
    """`ferlib ship-study` and `ferlib peers --out docs/results` rewrite the CSVs; the README and
    `ferlib ship-model --card-only` must follow."""
    from ferlib.inference.shipped import SHIPPED_CARD

    rows = shipped_rows()
    for name, text in (("README", repo_root() / "README.md"), ("card", SHIPPED_CARD)):
        missing = [row for row in rows if row not in text.read_text()]
        assert not missing, f"{name} rows that differ from docs/results:\n" + "\n".join(missing)


def test_the_readme_gives_the_shipped_models_size_and_command():
    from ferlib.inference.shipped import shipped_facts

    facts = shipped_facts()
    readme = " ".join((repo_root() / "README.md").read_text().split())
    assert f"`ferlib/shipped/model.pt`, {facts['size_kib']:.0f} KiB" in readme
    assert facts["command"] in readme
