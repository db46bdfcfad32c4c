import pytest
import torch

from segmenter3d.models.losses import PanoramicKDLoss


def _direct_float64(student, teacher, valid, tau):
    s, t = student.double() / tau, teacher.double() / tau
    p_t = t.softmax(1)
    kl = (p_t * (p_t.log() - s.log_softmax(1))).sum(1)
    return tau**2 * kl[valid].mean()


def test_zero_when_student_equals_teacher():
    logits = torch.randn(1, 30, 8, 16) * 10
    assert PanoramicKDLoss()(logits, logits.clone()).abs() < 1e-6


@pytest.mark.parametrize('tau', [1.0, 20.0])
def test_matches_direct_float64_and_ignores_invalid_pixels(tau):
    torch.manual_seed(0)
    student, teacher = torch.randn(2, 30, 6, 12) * 5, torch.randn(2, 30, 6, 12) * 5
    valid = torch.rand(2, 6, 12) > 0.4
    loss = PanoramicKDLoss(tau=tau)(student, teacher, valid)
    torch.testing.assert_close(loss.double(), _direct_float64(student, teacher, valid, tau),
                               rtol=1e-5, atol=1e-7)
    # Invalid pixels may hold anything.
    student2 = torch.where(valid[:, None], student, torch.randn_like(student) * 100)
    torch.testing.assert_close(PanoramicKDLoss(tau=tau)(student2, teacher, valid), loss)


def test_gradient_is_tau_times_probability_difference():
    torch.manual_seed(1)
    tau = 20.0
    student = (torch.randn(1, 30, 4, 8) * 30).requires_grad_()
    teacher = torch.randn(1, 30, 4, 8) * 30
    valid = torch.rand(1, 4, 8) > 0.3
    PanoramicKDLoss(tau=tau)(student, teacher, valid).backward()
    expected = tau * ((student / tau).softmax(1) - (teacher / tau).softmax(1)) / valid.sum()
    expected = expected * valid[:, None]
    torch.testing.assert_close(student.grad, expected.detach(), rtol=1e-4, atol=1e-8)


def test_float16_inputs_stay_finite_and_close():
    torch.manual_seed(2)
    student, teacher = torch.randn(1, 30, 8, 8) * 50, torch.randn(1, 30, 8, 8) * 50
    full = PanoramicKDLoss()(student, teacher)
    half = PanoramicKDLoss()(student.half(), teacher.half())
    assert torch.isfinite(half) and abs(half.item() - full.item()) / full.item() < 1e-2


def test_no_valid_pixel_gives_zero_and_bad_shapes_raise():
    s = torch.randn(30, 4, 4, requires_grad=True)
    loss = PanoramicKDLoss()(s, torch.randn(30, 4, 4), torch.zeros(4, 4, dtype=torch.bool))
    assert loss.item() == 0
    loss.backward()
    with pytest.raises(ValueError, match='differ in shape'):
        PanoramicKDLoss()(s, torch.randn(29, 4, 4))
    with pytest.raises(ValueError, match='tau'):
        PanoramicKDLoss(tau=0)
