# Copyright (c) mmmultimae contributors. All rights reserved.
"""Bookkeeping of how modality tokens are concatenated."""
from dataclasses import dataclass, field
from typing import Dict, List, Tuple


@dataclass(frozen=True)
class TokenLayout:
    """Layout of the concatenated modality tokens of one batch.

    Modalities are concatenated in ``modalities`` order (the input dict
    order); the global tokens are not part of the layout's token range and
    come after the modality tokens in the encoder sequence.

    Args:
        grids (dict[str, tuple[int, int]]): Patch grid ``(h, w)`` of each
            modality, in concatenation order.
        num_global_tokens (int): Number of global tokens. Defaults to 1.
    """

    grids: Dict[str, Tuple[int, int]]
    num_global_tokens: int = 1
    slices: Dict[str, slice] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        slices, start = {}, 0
        for name, (h, w) in self.grids.items():
            slices[name] = slice(start, start + h * w)
            start += h * w
        object.__setattr__(self, 'slices', slices)

    @property
    def modalities(self) -> List[str]:
        """Modality names in concatenation order."""
        return list(self.grids)

    @property
    def num_tokens(self) -> Dict[str, int]:
        """Number of tokens of each modality."""
        return {name: h * w for name, (h, w) in self.grids.items()}

    @property
    def total_tokens(self) -> int:
        """Number of modality tokens (global tokens excluded)."""
        return sum(self.num_tokens.values())
