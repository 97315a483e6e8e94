"""Depth edits show in the depth control image: invert, contrast, flatten, push back, blur."""

import numpy as np
import pytest

from image_interpreter.priors.render import render_prior
from image_interpreter.priors.render.maps import adjust_depth
from image_interpreter.priors.schema import ArtifactRef, DepthAdjust, DepthPrior


def _ramp() -> np.ndarray:
    """Left = far (dark), right = near (bright), 16-bit."""
    return np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (32, 1))


def test_no_adjustment_changes_nothing():
    ramp = _ramp()
    assert np.array_equal(adjust_depth(ramp, DepthAdjust()), ramp)


def test_invert_swaps_near_and_far():
    out = adjust_depth(_ramp(), DepthAdjust(invert=True))
    assert out[0, 0] == 65535 and out[0, -1] == 0


def test_flatten_fully_gives_a_flat_map():
    out = adjust_depth(_ramp(), DepthAdjust(flatten=1.0))
    assert out.max() - out.min() <= 1


def test_more_contrast_spreads_values_apart():
    base = _ramp().astype(float)
    out = adjust_depth(_ramp(), DepthAdjust(scale=2.0)).astype(float)
    assert np.std(out) > np.std(base)


def test_push_background_darkens_far_things_and_keeps_the_nearest():
    ramp = _ramp()
    out = adjust_depth(ramp, DepthAdjust(push_background=1.0))
    assert out[0, -1] == 65535  # the nearest stays
    middle = ramp.shape[1] // 2
    assert out[0, middle] < ramp[0, middle]  # the middle distance moves away


def test_blur_smooths_a_step():
    step = np.zeros((32, 64), np.uint16)
    step[:, 32:] = 65535
    out = adjust_depth(step, DepthAdjust(blur=0.05))
    assert 0 < out[0, 31] < 65535 and 0 < out[0, 32] < 65535


def test_the_rendered_control_image_carries_the_adjustment(tmp_path):
    import io

    from PIL import Image

    from image_interpreter.artifacts import ArtifactStore

    store = ArtifactStore(tmp_path)
    buffer = io.BytesIO()
    Image.fromarray(_ramp()).save(buffer, format="PNG")
    ref = ArtifactRef(sha256=store.put(buffer.getvalue()), width=64, height=32)
    plain = np.asarray(render_prior("depth", DepthPrior(map=ref), (64, 32), store.get))
    flipped = DepthPrior(map=ref, adjust=DepthAdjust(invert=True))
    inverted = np.asarray(render_prior("depth", flipped, (64, 32), store.get))
    assert plain[0, -1, 0] == 255 and inverted[0, -1, 0] == 0
    assert plain.shape == inverted.shape == (32, 64, 3)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_dtype_is_kept(dtype):
    array = np.full((4, 4), 100, dtype)
    assert adjust_depth(array, DepthAdjust(scale=1.5)).dtype == dtype
