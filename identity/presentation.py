"""Presentation-attack screen: signs that the selfie is not a live photo of the person.

Two signs, from what the pipeline already has (no extra model, nothing stored):

- `portrait_copy`: the headshot's face embedding is far closer to the document's portrait than two
  different photos of one person ever come. Measured on the project's fixtures (bench/identity_eval.py,
  docs/identity.md): different photos of one man 0.335-0.461 apart; the portrait cut from the document
  photo 0.115-0.154, the same cut printed in grey 0.200-0.224, the very photo used for the portrait
  0.075-0.107. The threshold sits between the two groups.
- `no_colour`: a headshot without colour (a grey print held up to the camera, a black-and-white
  photocopy). Colourfulness is Hasler and Süsstrunk's metric (2003); phone selfies of the fixtures
  score 48-65, a grey image 0.

Either sign keeps the verification from being "verified": staff decide (inconclusive).
"""

from __future__ import annotations

import numpy as np

# Below this face distance to the document portrait the headshot is taken for a copy of it.
COPY_DISTANCE_BELOW = 0.26
# Below this colourfulness the headshot is taken for a print or copy without colour.
MIN_COLOURFULNESS = 8.0


def colourfulness(pixels: np.ndarray) -> float:
    """Hasler-Süsstrunk colourfulness of an RGB array (0 for a grey image, ~50+ for a colour photo)."""
    rgb = np.asarray(pixels, dtype=np.float64)
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        return 0.0
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg = red - green
    yb = 0.5 * (red + green) - blue
    spread = float(np.hypot(rg.std(), yb.std()))
    offset = float(np.hypot(rg.mean(), yb.mean()))
    return spread + 0.3 * offset


def attack_signs(
    *,
    headshot_pixels: np.ndarray,
    portrait_distance: float | None,
    copy_below: float = COPY_DISTANCE_BELOW,
    min_colourfulness: float = MIN_COLOURFULNESS,
) -> tuple[str, ...]:
    """The codes of the signs found (empty when none)."""
    signs = []
    if portrait_distance is not None and portrait_distance < copy_below:
        signs.append("portrait_copy")
    if colourfulness(headshot_pixels) < min_colourfulness:
        signs.append("no_colour")
    return tuple(signs)
