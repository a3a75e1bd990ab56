"""A network that holds a checkpoint's tensors themselves, with no second copy.

``Transformer(config)`` allocates and randomly initialises every weight, and
``load_state_dict`` then copies the checkpoint's tensors over them: two copies of the
model at the peak, and seconds of initialisation spent on numbers that are thrown away.
Here the network is built on the ``meta`` device (shapes only) and the loaded tensors are
assigned as its parameters; only the buffers that no file holds (the sinusoid table) are
computed afterwards.
"""

from __future__ import annotations

from torch import Tensor

from .config import ModelConfig
from .positions import InputEmbedding
from .transformer import Transformer, meta_network


def network_from_state(config: ModelConfig, state: dict[str, Tensor]) -> Transformer:
    """The network of ``config`` whose parameters are ``state``'s tensors (checked: strict)."""
    network = meta_network(config)
    network.load_state_dict(state, strict=True, assign=True)
    for module in network.modules():
        if isinstance(module, InputEmbedding):
            module.materialize_buffers()
    left = [name for name, tensor in [*network.named_parameters(), *network.named_buffers()] if tensor.is_meta]
    if left:  # a new module with a buffer no file holds must compute it above
        raise RuntimeError(f"the network was left without values for {', '.join(left[:3])}")
    return network
