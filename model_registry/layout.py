"""Per-layer output layouts: how the extractor reads one module's output as one row per image.

The extractor needs every layer's output as ``(n_images, ...)``. Most modules return exactly that. Those that do
not declare a :class:`LayerLayout` in their :class:`~model_registry.registry.ModelSpec` (``layer_layouts``) or
pass one to :class:`~model_registry.extractor.ActivationsExtractor`:

- ``axes``: one letter per axis of the output tensor, ``N`` marking the image (batch) axis, e.g. ``"LND"`` for the
  ``(tokens, batch, dim)`` output of ``nn.TransformerEncoderLayer(batch_first=False)``. The extractor moves ``N``
  to the front and keeps the other axes in order.
- ``item``: which element of a tuple / list output (an ``int``) or of a dict output (a ``str`` key) holds the
  activations. Without it, a tuple / list yields its element 0 (PyTorch's convention for the primary output:
  ``nn.MultiheadAttention`` returns ``(attn_output, attn_weights)``, ``nn.LSTM`` / ``nn.GRU`` ``(output, state)``),
  and a dict is refused with the list of its keys, since a dict has no primary entry.

A plain string is shorthand for ``LayerLayout(axes=string)``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class LayerLayout:
    """Layout of one module's output: ``axes`` (letters, ``N`` = images) and the tuple/dict ``item`` to read.

    Raises ``ValueError`` when ``axes`` is not a string of distinct letters with exactly one ``N``, or when
    ``item`` is neither an ``int`` nor a ``str``.
    """

    axes: str | None = None
    item: int | str | None = None

    def __post_init__(self):
        if self.axes is not None:
            if (not isinstance(self.axes, str) or not self.axes.isalpha() or len(set(self.axes)) != len(self.axes)
                    or self.axes.count("N") != 1):
                raise ValueError(f"layer layout axes must be distinct letters with exactly one 'N' (the image axis), "
                                 f"e.g. 'LND'; got {self.axes!r}")
        if self.item is not None and (isinstance(self.item, bool) or not isinstance(self.item, (int, str))):
            raise ValueError(f"layer layout item must be a tuple index (int) or a dict key (str), got {self.item!r}")

    @property
    def batch_axis(self) -> int | None:
        """Index of the image axis in the module's output, or ``None`` when ``axes`` is not declared."""
        return None if self.axes is None else self.axes.index("N")

    def descriptor(self) -> str:
        """A stable text form (part of the activation cache key)."""
        return f"axes={self.axes},item={self.item!r}"


def as_layouts(layouts: Mapping[str, str | LayerLayout] | None) -> dict[str, LayerLayout]:
    """``{module name: LayerLayout}`` from a mapping whose values are layouts or axes strings.

    Raises ``TypeError`` for a value that is neither, ``ValueError`` for invalid axes (see :class:`LayerLayout`).
    """
    result = {}
    for module, layout in dict(layouts or {}).items():
        if isinstance(layout, str):
            layout = LayerLayout(axes=layout)
        if not isinstance(layout, LayerLayout):
            raise TypeError(f"layer layout of {module!r} must be a LayerLayout or an axes string like 'LND', "
                            f"got {type(layout).__name__}")
        result[str(module)] = layout
    return result
