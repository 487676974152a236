"""The edge-information probe: its inputs' layout and that it sees an informative channel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainers.experiments.edge_information_probe import EdgeInformation, ProbeConfig, probe_error, probe_inputs
from trainers.experiments.learning_check import CropSet
from trainers.models.conditional_unet import resize_lr


def test_probe_inputs_put_the_lr_and_the_unshuffled_edges_on_one_grid() -> None:
    edges = np.zeros((2, 16, 16), np.uint8)
    edges[:, 0, 1] = 255
    crops = CropSet(hr=torch.zeros(2, 3, 16, 16), lr=torch.rand(2, 3, 4, 4) * 2 - 1, edges=edges)
    assert probe_inputs(crops, 4, with_edges=False).shape == (2, 3, 4, 4)
    inputs = probe_inputs(crops, 4, with_edges=True)
    assert inputs.shape == (2, 3 + 16, 4, 4)
    assert inputs[:, 3:].sum() == 2 and inputs[0, 3 + 1, 0, 0] == 1.0


def test_probe_inputs_resize_the_lr_the_way_the_unet_input_does() -> None:
    edges, generator = np.zeros((1, 16, 16), np.uint8), torch.Generator().manual_seed(0)
    crops = CropSet(hr=torch.zeros(1, 3, 16, 16), lr=torch.rand(1, 3, 2, 2, generator=generator) * 2 - 1, edges=edges)
    assert torch.equal(probe_inputs(crops, 2, with_edges=False), resize_lr(crops.lr, (8, 8)))
    same_grid = CropSet(hr=crops.hr, lr=torch.rand(1, 3, 4, 4, generator=generator) * 2 - 1, edges=edges)
    assert torch.allclose(probe_inputs(same_grid, 4, with_edges=False), same_grid.lr, atol=1e-6)


@pytest.mark.integration  # trains two probes, 300 steps each
def test_a_channel_the_target_depends_on_lowers_the_probe_error() -> None:
    generator = torch.Generator().manual_seed(0)
    signal = torch.randn(160, 1, 4, 4, generator=generator)
    noise = torch.randn(160, 1, 4, 4, generator=generator)
    target = signal * 2.0
    config = ProbeConfig(steps=300, eval_every=100)
    blind = probe_error(noise[:128], target[:128], noise[128:], target[128:], config, torch.Generator().manual_seed(1))
    informed = probe_error(
        signal[:128], target[:128], signal[128:], target[128:], config, torch.Generator().manual_seed(1)
    )
    assert informed < 0.2 * blind


def test_relative_gain_is_the_fraction_of_the_lr_error_removed() -> None:
    assert EdgeInformation(lr_error=0.05, lr_edges_error=0.04).relative_gain == pytest.approx(0.2)


def test_config_rejects_non_positive_steps() -> None:
    with pytest.raises(ValueError, match="probe.steps"):
        ProbeConfig(steps=0)
