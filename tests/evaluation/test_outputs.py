"""ferlib.evaluation.outputs: BatchNorm recalibration, a diagnostic for methods whose training feeds
BatchNorm other inputs than inference does."""

import pytest


def test_batchnorm_recalibration_re_estimates_statistics_on_a_copy(tiny_synth, tmp_path):
    import torch

    from ferlib.data import cache_images, load_dataset, make_loader
    from ferlib.evaluation.outputs import recalibrate_batchnorm, to_model_input
    from ferlib.models import build_model

    data = cache_images(load_dataset("diffusionfer", tiny_synth), 32, cache_dir=tmp_path)
    loader = make_loader(data, 32, 64, train=False)  # one batch: all 42 images
    torch.manual_seed(0)
    model = build_model(head="elim", hidden=16, latent=8).eval()
    latent_norm = model.head.body[5]
    latent_norm.running_mean.fill_(100.0)  # statistics that match nothing
    fixed = recalibrate_batchnorm(model, loader, torch.device("cpu"))
    assert latent_norm.running_mean.eq(100.0).all()  # the original is untouched
    images = next(iter(loader))[0]
    with torch.no_grad():
        pre = fixed.head.body[:5](fixed.trunk(to_model_input(images, torch.device("cpu"))))
    new_norm = fixed.head.body[5]
    torch.testing.assert_close(new_norm.running_mean, pre.mean(0))
    assert new_norm.momentum == latent_norm.momentum and not fixed.training
    with pytest.raises(ValueError, match="no BatchNorm"):
        recalibrate_batchnorm(build_model(), loader, torch.device("cpu"))
