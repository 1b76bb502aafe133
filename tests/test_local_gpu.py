"""The `gpu` resource of the torch rules: held only by jobs that will run on a GPU."""

from __future__ import annotations

import pytest

from camrobust import local_gpu
from camrobust.local_gpu import gpus_per_job


@pytest.fixture
def gpu_node(monkeypatch):
    """Pretend this machine has one NVIDIA device node."""
    monkeypatch.setattr(local_gpu.glob, "glob", lambda pattern: ["/dev/nvidia0"])
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


@pytest.fixture
def cpu_node(monkeypatch):
    monkeypatch.setattr(local_gpu.glob, "glob", lambda pattern: [])
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def test_auto_holds_a_gpu_only_where_there_is_one(gpu_node):
    assert gpus_per_job("auto") == 1
    assert gpus_per_job("cpu") == 0


def test_auto_on_a_cpu_machine_holds_none(cpu_node):
    assert gpus_per_job("auto") == 0
    # An explicit CUDA device always holds one (and fails clearly at run time if absent).
    assert gpus_per_job("cuda") == gpus_per_job("cuda:1") == 1


@pytest.mark.parametrize("hidden", ["", "-1", " "])
def test_cuda_visible_devices_can_hide_the_gpus(gpu_node, monkeypatch, hidden):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
    assert gpus_per_job("auto") == 0
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert gpus_per_job("auto") == 1
