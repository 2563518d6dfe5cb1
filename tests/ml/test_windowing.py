from __future__ import annotations

import numpy as np
import pytest

from ml.windowing import (
    RGB_PRESETS,
    WINDOWS,
    Window,
    multi_window,
    multi_window_chw,
    multi_window_float,
    render_preset,
    window,
    window_float,
)


def test_window_maps_edges_and_level_rounding_half_up() -> None:
    # WL 40 / WW 40 spans 20..60 HU; 40 HU is 127.5 exactly and rounds half up to 128.
    out = window(np.array([-1000, 19, 20, 30, 40, 50, 60, 61, 3000]), level=40, width=40)
    assert out.dtype == np.uint8
    assert out.tolist() == [0, 0, 0, 64, 128, 191, 255, 255, 255]


def test_window_linear_inside() -> None:
    hu = np.linspace(0, 80, 81)
    out = window(hu, 40, 80).astype(int)
    assert np.all(np.diff(out) >= 0)
    assert out[0] == 0 and out[-1] == 255
    assert out[40] == 128


def test_window_int16_and_shape() -> None:
    hu = np.arange(-50, 150, dtype=np.int16).reshape(2, 4, 25)
    out = window(hu, 40, 80)
    assert out.shape == hu.shape and out.dtype == np.uint8
    assert out[hu <= 0].max() == 0 and out[hu >= 80].min() == 255


def test_window_rejects_non_positive_width() -> None:
    with pytest.raises(ValueError):
        window(np.zeros(3), 40, 0)
    with pytest.raises(ValueError):
        Window("bad", 40, -1)


def test_window_float_range() -> None:
    out = window_float(np.array([-10, 0, 40, 80, 500], dtype=np.int16), 40, 80)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.0, 0.0, 0.5, 1.0, 1.0])


def test_presets_values() -> None:
    assert (WINDOWS["brain"].level, WINDOWS["brain"].width) == (40, 80)
    assert (WINDOWS["paper_brain"].level, WINDOWS["paper_brain"].width) == (50, 100)
    assert (WINDOWS["blood"].level, WINDOWS["blood"].width) == (60, 40)
    assert (WINDOWS["subdural"].level, WINDOWS["subdural"].width) == (80, 200)
    assert (WINDOWS["bone"].level, WINDOWS["bone"].width) == (600, 2800)
    assert [(w.level, w.width) for w in RGB_PRESETS["paper"]] == [(40, 40), (50, 100), (60, 40)]
    assert [w.name for w in RGB_PRESETS["lewicki"]] == ["brain", "subdural", "bone"]


def test_paper_preset_channel_order() -> None:
    # 30 HU: tissue (20..60) -> 64, brain 50/100 (0..100) -> 77 (76.5 rounds up), blood (40..80) -> 0.
    rgb = multi_window(np.full((2, 3), 30, dtype=np.int16), "paper")
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == [64, 77, 0]
    chw = multi_window_chw(np.full((2, 3), 30.0))
    assert chw.shape == (3, 2, 3)
    assert chw[:, 0, 0].tolist() == [64, 77, 0]


def test_multi_window_float_lewicki() -> None:
    out = multi_window_float(np.array([[40.0]]), "lewicki")
    assert out.shape == (1, 1, 3)
    np.testing.assert_allclose(
        out[0, 0], [0.5, (40 - (80 - 100)) / 200, (40 - (600 - 1400)) / 2800], rtol=1e-6
    )


def test_render_preset() -> None:
    hu = np.full((4, 5), 40, dtype=np.int16)
    assert render_preset(hu, "brain").shape == (4, 5)
    assert render_preset(hu, "brain")[0, 0] == 128
    assert render_preset(hu, "lewicki").shape == (4, 5, 3)
    with pytest.raises(ValueError, match=r"'nope'.*brain.*paper"):
        render_preset(hu, "nope")
    with pytest.raises(ValueError, match="unknown RGB preset"):
        multi_window(hu, "nope")
