import json
import math
import os
import subprocess
import sys
import warnings

import pandas as pd
import pytest
import torch

from ferlib.data import load_dataset
from ferlib.methods import build_method
from ferlib.params import resolve_config
from ferlib.runs.store import fit_or_load
from ferlib.training import checkpoint as ckpt
from ferlib.training.trainer import TrainingDivergedError, train


@pytest.fixture(scope="module")
def tiny_data(tiny_synth, tmp_path_factory):
    from ferlib.data import cache_images

    data = load_dataset("synthetic", tiny_synth)
    return cache_images(data, 64, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture
def config(tiny_synth):
    return resolve_config(
        None,
        {
            "dataset": "synthetic",
            "data_dir": str(tiny_synth),
            "epochs": 4,
            "batch_size": 8,
            "eval_batch_size": 16,
            "milestones": [5, 8],
            "gamma": 0.5,
        },
    )


class Interrupt(Exception):
    pass


def test_resume_after_an_interruption_is_bit_identical(config, tiny_data, tmp_path):
    straight = train(config, tmp_path / "straight", data=tiny_data, progress=False)

    def crash_after_second_epoch(epoch, row):
        if epoch == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(
            config,
            tmp_path / "resumed",
            data=tiny_data,
            progress=False,
            callbacks=[crash_after_second_epoch],
        )
    assert ckpt.load(tmp_path / "resumed" / ckpt.LAST)["epoch"] == 1
    resumed = train(config, tmp_path / "resumed", data=tiny_data, progress=False)
    assert len(resumed.history) == config["epochs"]
    for key in ("rmse_v", "rmse_a", "ccc_v", "ccc_a", "pcc_v", "sagr_a"):
        assert resumed.metrics[key] == straight.metrics[key], key
    assert resumed.metrics["final_weight_digests"] == straight.metrics["final_weight_digests"]
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in straight.history]


def test_outputs_and_best_checkpoint_selection(config, tiny_data, tmp_path):
    result = train(config, tmp_path, data=tiny_data, progress=False)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key in (
        "rmse_v",
        "rmse_a",
        "pcc_v",
        "pcc_a",
        "ccc_v",
        "ccc_a",
        "sagr_v",
        "sagr_a",
        "train_seconds",
        "images_per_s",
    ):
        assert key in metrics
    history = result.history
    best = max(range(len(history)), key=lambda i: history[i]["val_ccc_mean"])
    assert metrics["best_epoch"] == best + 1
    saved = ckpt.load(tmp_path / ckpt.BEST)
    assert saved["epoch"] == best and set(saved["modules"]) == {"model"}
    lines = (tmp_path / "history.csv").read_text().splitlines()
    assert len(lines) == 1 + config["epochs"] and lines[0].startswith("epoch,iteration,lr")


def test_learning_rate_follows_the_milestones(config, tiny_data, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "lr_scheduler.step() before optimizer.step()"
        result = train(config, tmp_path, data=tiny_data, progress=False)
    for row in result.history:
        passed = sum(row["iteration"] >= m for m in config["milestones"])
        assert row["lr"] == pytest.approx(config["lr"] * config["gamma"] ** passed)


def test_non_finite_loss_stops_with_a_clear_message_and_keeps_the_last_checkpoint(
    config, tiny_data, tmp_path, monkeypatch
):
    import ferlib.methods.baseline as baseline

    calls = {"n": 0}
    real = baseline.Baseline.loss

    def poisoned(self, pred, targets):
        calls["n"] += 1
        loss = real(self, pred, targets)
        return loss * float("nan") if calls["n"] > 7 else loss

    monkeypatch.setattr(baseline.Baseline, "loss", poisoned)
    with pytest.raises(TrainingDivergedError, match=r"loss is nan at epoch 3.*last\.pt"):
        train(config, tmp_path, data=tiny_data, progress=False)
    state = ckpt.load(tmp_path / ckpt.LAST)
    assert state["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in state["modules"]["model"].values())


def test_fit_or_load_does_not_retrain_a_finished_run(config, tiny_data, tmp_path, monkeypatch):
    first = fit_or_load(config, tmp_path, data=tiny_data, progress=False)
    assert first.trained

    def no_training(*args, **kwargs):
        raise AssertionError("retrained a finished run")

    import ferlib.runs.store as store

    monkeypatch.setattr(store, "train", no_training)
    again = fit_or_load(config, tmp_path, data=tiny_data, progress=False)
    assert not again.trained and again.metrics == first.metrics
    # the history reads back as it was logged: same values, integer epochs and iterations
    assert pd.DataFrame(again.history).equals(pd.DataFrame(first.history))
    assert isinstance(again.history[0]["epoch"], int)
    for a, b in zip(
        again.model.state_dict().values(), first.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    with pytest.raises(AssertionError, match="retrained"):
        fit_or_load({**config, "lr": 0.01}, tmp_path, data=tiny_data, progress=False)


def test_resume_refuses_another_configuration(config, tiny_data, tmp_path):
    train({**config, "epochs": 1}, tmp_path, data=tiny_data, progress=False)
    with pytest.raises(ValueError, match="different configuration"):
        train({**config, "epochs": 1, "lr": 0.5}, tmp_path, data=tiny_data, progress=False)


def test_same_seed_same_losses(config, tiny_data):
    def losses():
        torch.manual_seed(config["seed"])
        method = build_method(config)
        method.build_optimizers()
        x = torch.randn(8, 3, 64, 64, generator=torch.Generator().manual_seed(1))
        y = torch.rand(8, 2, generator=torch.Generator().manual_seed(2)) * 2 - 1
        return [method.training_step(x, y, i)["loss"] for i in range(5)]

    assert losses() == losses()


def test_one_step_moves_every_parameter_and_modes_are_restored(config, tiny_data):
    from ferlib.data import make_loader
    from ferlib.evaluation.outputs import evaluate

    torch.manual_seed(0)
    method = build_method(config)
    method.build_optimizers()
    before = {k: v.clone() for k, v in method.core.state_dict().items()}
    x, y = torch.randn(8, 3, 64, 64), torch.rand(8, 2) * 2 - 1
    method.training_step(x, y, 0)
    for key, value in method.core.state_dict().items():
        assert not torch.equal(value, before[key]), f"{key} did not move"
    loader = make_loader(tiny_data.subset("val"), 64, 16, train=False)
    first = evaluate(method.core, loader, torch.device("cpu"))
    assert all(m.training for m in method.core.modules())
    second = evaluate(method.core, loader, torch.device("cpu"))
    assert first == second or all(
        (math.isnan(first[k]) and math.isnan(second[k])) or first[k] == second[k] for k in first
    )


@pytest.mark.slow
def test_ddp_two_processes_finish_with_identical_weights(config, tmp_path):
    cfg = {**config, "epochs": 2}
    params = tmp_path / "ddp.yaml"
    import yaml

    params.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--master_port=29517",
            "-m",
            "ferlib",
            "train",
            "--params",
            str(params),
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    digests = metrics["final_weight_digests"]
    assert metrics["world_size"] == 2 and len(digests) == 2 and digests[0] == digests[1]
    assert proc.stdout.count("test CCC") == 1  # rank 0 alone reports


def test_early_stopping_ends_a_run_that_stopped_improving(config, tiny_data, tmp_path):
    frozen = {**config, "lr": 0.0, "early_stopping": 1, "epochs": 5}  # nothing can improve
    result = train(frozen, tmp_path, data=tiny_data, progress=False)
    assert len(result.history) == 2 and result.metrics["best_epoch"] == 1


@pytest.mark.slow
def test_wandb_logging_is_optional_and_offline(config, tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    result = train({**config, "epochs": 1, "wandb": True}, tmp_path, data=tiny_data, progress=False)
    assert result.metrics["epochs_run"] == 1


def test_loss_falls_on_a_fixed_batch_within_20_steps(config):
    torch.manual_seed(0)
    method = build_method(config)
    method.build_optimizers()
    x = torch.randn(32, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    y = torch.rand(32, 2, generator=torch.Generator().manual_seed(4)) * 2 - 1
    losses = [method.training_step(x, y, i)["loss"] for i in range(20)]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5  # baseline.md §9.5: loss falls


@pytest.mark.slow
def test_without_dropout_32_samples_are_overfitted(config):
    """docs/methods/baseline.md §9.5: MSE < 0.01 in 300 steps (small_cnn, lr 1e-3, dropout 0)."""
    torch.manual_seed(0)
    method = build_method({**config, "dropout": 0.0, "milestones": []})
    method.build_optimizers()
    x = torch.randn(32, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    y = torch.rand(32, 2, generator=torch.Generator().manual_seed(6)) * 2 - 1
    for step in range(300):
        method.training_step(x, y, step)
        with torch.no_grad():
            mse = torch.mean((method.core(x)[0] - y) ** 2).item()
        if mse < 0.01:
            break
    assert mse < 0.01, f"MSE {mse:.4f} after 300 steps"


def test_matching_runs_treat_a_relative_data_dir_as_its_absolute_path(tmp_path, monkeypatch):
    import ferlib.runs.store as store
    from ferlib.params import DATA_KEYS
    from ferlib.paths import repo_root

    monkeypatch.setenv("FERZOO_OUTPUTS", str(tmp_path))
    from ferlib.paths import outputs_home

    assert outputs_home() == tmp_path.resolve()
    run = tmp_path / "runs" / "diffusionfer" / "baseline" / "abc" / "seed0"
    run.mkdir(parents=True)
    config = {k: None for k in DATA_KEYS} | {"dataset": "diffusionfer"}
    stored = config | {"data_dir": "../shared/data/dev"}
    (run / "metrics.json").write_text(json.dumps({"config": stored}))
    absolute = config | {"data_dir": str((repo_root() / "../shared/data/dev").resolve())}
    assert store.matching_runs(absolute, "baseline") == [run]
    assert store.matching_runs(config | {"data_dir": "/elsewhere"}, "baseline") == []


def test_fit_or_load_finds_its_own_run_folder(config, tiny_data, tmp_path, monkeypatch):
    from ferlib.data.fingerprint import data_fingerprint
    from ferlib.runs.store import run_dir

    monkeypatch.setenv("FERZOO_OUTPUTS", str(tmp_path))
    result = fit_or_load({**config, "epochs": 1}, data=tiny_data, progress=False)
    digest = data_fingerprint(tiny_data)["digest"]
    assert result.out_dir == run_dir({**config, "epochs": 1}, data_digest=digest)
    assert result.metrics["data"]["digest"] == digest
    assert result.out_dir.is_relative_to(tmp_path.resolve())
    assert (result.out_dir / "metrics.json").is_file()


def test_seed_runs_trains_only_the_missing_seeds_and_names_what_cannot_train(
    config, tiny_data, tmp_path, monkeypatch
):
    import dataclasses

    import ferlib.runs.parallel as parallel

    monkeypatch.setenv("FERZOO_OUTPUTS", str(tmp_path))
    quick = {**config, "epochs": 1}
    trained = []
    real_fit = fit_or_load

    anonymous = dataclasses.replace(tiny_data, frame=tiny_data.frame.assign(identity=None))

    def counting_fit(recipe, out_dir=None, **kwargs):
        trained.append((recipe["method"], recipe["seed"]))
        return real_fit(recipe, out_dir, data=anonymous, **kwargs)

    monkeypatch.setattr(parallel, "fit_or_load", counting_fit)  # train_runs' sequential path
    fit_or_load(quick, data=anonymous, progress=False)  # seed 0 exists already
    # seed 1 exists only with another recipe: it is not this recipe's run, so it is trained again
    other = real_fit({**quick, "epochs": 2, "seed": 1}, data=anonymous, progress=False)
    logged = []
    runs = parallel.seed_runs(
        quick, ["baseline", "elim"], [0, 1], data=anonymous, log=logged.append
    )
    assert trained == [("baseline", 1)]
    assert list(runs) == ["baseline"] and sorted(runs["baseline"]) == [0, 1]
    assert [p.name for p in runs["baseline"].values()] == ["seed0", "seed1"]
    assert runs["baseline"][1] != other.out_dir
    assert logged == [f"elim: left out — elim needs identities and {tiny_data.name} has none"]
    again = parallel.seed_runs(quick, ["baseline"], [0, 1], anonymous, logged.append)
    assert again == runs and trained == [("baseline", 1)]  # nothing retrained
    # with a recipe section, the runs are that recipe's: seed 1 of epochs=2 exists, seed 0 trains
    own = parallel.seed_runs(
        quick, ["baseline"], [0, 1], anonymous, logged.append, recipes={"baseline": {"epochs": 2}}
    )
    assert trained == [("baseline", 1), ("baseline", 0)]
    assert own["baseline"][1] == other.out_dir and own["baseline"][0] != runs["baseline"][0]


@pytest.mark.slow
def test_train_runs_in_worker_processes_match_a_run_on_as_many_threads(
    config, tiny_data, tmp_path, monkeypatch
):
    from ferlib.data.fingerprint import data_fingerprint
    from ferlib.distributed import weight_digest
    from ferlib.runs import run_dir, train_runs

    monkeypatch.setenv("FERZOO_OUTPUTS", str(tmp_path))
    configs = [{**config, "epochs": 1, "seed": s} for s in (0, 1)]
    train_runs(configs, workers=2)  # two spawned processes, one thread each
    digest = data_fingerprint(tiny_data)["digest"]
    for one in configs:
        assert (run_dir(one, data_digest=digest) / "metrics.json").is_file()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        here = train(configs[1], tmp_path / "here", data=tiny_data, progress=False)
    finally:
        torch.set_num_threads(threads)
    there, _ = ckpt.load_model(run_dir(configs[1], data_digest=digest) / ckpt.BEST)
    assert weight_digest(there) == weight_digest(here.model)


def test_run_iterations_equals_a_hand_written_loop(config, tiny_data, tmp_path):
    """The loop chapter 10 writes out (forward, L_sup, backward, two Adams, MultiStepLR) gives
    the trainer's weights after the same iterations, on the same seed."""
    from ferlib.data.transforms import normalize
    from ferlib.methods.losses import sup_loss
    from ferlib.training.seeding import seed_everything
    from ferlib.training.trainer import Trainer

    k, config = 3, {**config, "device": "cpu"}
    trainer = Trainer(config, tmp_path, data=tiny_data, progress=False)
    logs = trainer.run_iterations(k)
    assert len(logs) == k and trainer.iteration == k

    seed_everything(config["seed"])
    method = build_method(config)  # the same initial weights as the trainer's
    model = method.core.to(memory_format=torch.channels_last)  # the trainer's CPU layout
    optimizers = [
        torch.optim.Adam(part.parameters(), lr=config["lr"], betas=tuple(config["betas"]))
        for part in (model.trunk, model.head)
    ]
    schedulers = [
        torch.optim.lr_scheduler.MultiStepLR(opt, config["milestones"], config["gamma"])
        for opt in optimizers
    ]
    loader = method.train_loader(tiny_data.subset("train"))
    model.train()
    losses = []
    for (images, targets, _), _ in zip(loader, range(k), strict=False):
        pred, _ = model(normalize(images).contiguous(memory_format=torch.channels_last))
        loss = sup_loss(pred, targets)
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in optimizers:
            opt.step()
        for scheduler in schedulers:
            scheduler.step()
        losses.append(loss.item())
    assert losses == [row["loss"] for row in logs]
    for (name, mine), theirs in zip(
        model.state_dict().items(), trainer.method.core.state_dict().values(), strict=True
    ):
        assert torch.equal(mine, theirs), name  # bit-identical: the same operations in order
    with pytest.raises(RuntimeError, match="fresh trainer"):
        trainer.run_iterations(1)


def test_lr_drop_epochs_maps_iteration_milestones_to_epochs(config, tiny_data, tmp_path):
    from ferlib.training.trainer import lr_drop_epochs

    assert lr_drop_epochs([500, 750], 22) == [23, 35]
    assert lr_drop_epochs([220], 22) == [11]  # iteration 220 is the first of epoch 11
    with pytest.raises(ValueError):
        lr_drop_epochs([5], 0)
    result = train(config, tmp_path, data=tiny_data, progress=False)
    per_epoch = result.history[0]["iteration"]
    lr = [row["lr"] for row in result.history]
    seen = [e + 1 for e in range(1, len(lr)) if lr[e] < lr[e - 1]]  # epochs (from 1)
    assert seen == [math.ceil(m / per_epoch) for m in config["milestones"]]
    assert all(
        e in (d, d - 1)
        for e, d in zip(seen, lr_drop_epochs(config["milestones"], per_epoch), strict=True)
    )
