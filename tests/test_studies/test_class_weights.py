import numpy as np
import pytest
from PIL import Image

from studies.class_weights import balanced_class_weights, label_frequencies


def _png(path, labels):
    Image.fromarray(np.asarray(labels, np.uint8)).save(path)
    return str(path)


def test_frequencies_count_labelled_pixels_of_all_maps(tmp_path):
    a = _png(tmp_path / 'a.png', [[0, 0, 1], [255, 255, 2]])
    b = _png(tmp_path / 'b.png', [[0, 0, 0], [0, 0, 0]])
    freq = label_frequencies([a, b], num_classes=4)
    # 8 zeros, 1 one, 1 two among 10 labelled pixels; the ignored 255s do not count
    np.testing.assert_allclose(freq, [0.8, 0.1, 0.1, 0.0])


def test_frequencies_name_the_file_with_a_bad_label(tmp_path):
    good = _png(tmp_path / 'good.png', [[0, 1]])
    bad = _png(tmp_path / 'bad.png', [[0, 7]])
    with pytest.raises(ValueError, match=r'bad\.png: label 7 is outside 0\.\.3'):
        label_frequencies([good, bad], num_classes=4)
    with pytest.raises(FileNotFoundError, match='missing.png'):
        label_frequencies([str(tmp_path / 'missing.png')], num_classes=4)
    with pytest.raises(ValueError, match='no labelled pixel'):
        label_frequencies([_png(tmp_path / 'empty.png', [[255]])], num_classes=4)


def test_balanced_weights_known_answer():
    freq = np.array([0.64, 0.16, 0.16, 0.04, 0.0])
    weights = np.array(balanced_class_weights(freq, power=0.5, max_weight=10))
    # median of the present classes is 0.16: raw weights 0.5, 1, 1, 2 and the cap for the
    # absent class; rescaled so that the frequency-weighted mean is 1 (0.32+0.16+0.16+0.08)
    raw = np.array([0.5, 1, 1, 2, 10])
    np.testing.assert_allclose(weights, raw / 0.72, atol=1e-4)
    assert (weights[:4] * freq[:4]).sum() == pytest.approx(1, abs=1e-4)


def test_balanced_weights_power_and_cap():
    freq = np.array([0.98, 0.01, 0.01])
    assert balanced_class_weights(freq, power=0) == [1.0, 1.0, 1.0]
    capped = balanced_class_weights(np.array([0.5, 0.4999, 0.0001]), power=1, max_weight=3)
    assert capped[2] / capped[1] == pytest.approx(3, rel=1e-3)  # the cap, not 4999
    with pytest.raises(ValueError, match='frequencies'):
        balanced_class_weights(np.zeros(3))
    with pytest.raises(ValueError, match='power'):
        balanced_class_weights(freq, power=-1)
