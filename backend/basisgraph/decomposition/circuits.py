"""The planted circuits as a torch module, so attributions can be checked by autograd and the
trained MLP has a target to imitate. Kept out of `core`, which never imports torch."""

from __future__ import annotations

import numpy as np
import torch

from basisgraph.core.model import PlantedModel

__all__ = ["CircuitModule"]


class CircuitModule(torch.nn.Module):
    """The planted circuits as a torch module, so attributions can be checked by autograd."""

    def __init__(self, model: PlantedModel):
        super().__init__()
        reads = np.stack([c.read for c in model.circuits])  # (circuits, d_model)
        self.register_buffer("reads", torch.tensor(reads, dtype=torch.float64))
        self.register_buffer(
            "bias", torch.tensor([c.bias for c in model.circuits], dtype=torch.float64))
        self.register_buffer("animal_dirs", torch.tensor(model.animal_dirs, dtype=torch.float64))

    def activations(self, coeffs: torch.Tensor) -> torch.Tensor:
        """a(x) = sum_i c_i f_i from dense animal coefficients.  (samples, animals) -> (samples, d_model)"""
        return coeffs @ self.animal_dirs

    def forward(self, acts: torch.Tensor) -> torch.Tensor:
        """Circuit outputs y = ReLU(a . r - b).  (samples, d_model) -> (samples, circuits)"""
        return torch.relu(acts @ self.reads.T - self.bias)
