import pytest
import torch
import torch.nn.functional as F

from segmenter3d.models.losses import PanoramicKDLoss


def _direct_float64(student, teacher, valid, tau):
    s, t = student.double() / tau, teacher.double() / tau
    p_t = t.softmax(1)
    kl = (p_t * (p_t.log() - s.log_softmax(1))).sum(1)
    return tau**2 * kl[valid].mean() / student.shape[1]


@pytest.mark.parametrize('tau', [1.0, 20.0])
def test_equals_the_official_formula_on_the_same_tensors(tau):
    """Official: kl_div(log_softmax(s / T), softmax(t / T), reduction='sum') * T^2 / numel."""
    torch.manual_seed(3)
    student, teacher = torch.randn(1, 30, 8, 16) * 5, torch.randn(1, 30, 8, 16) * 5
    official = F.kl_div(F.log_softmax(student / tau, dim=1), F.softmax(teacher / tau, dim=1),
                        reduction='sum') * tau**2 / student.numel()
    torch.testing.assert_close(PanoramicKDLoss(tau=tau)(student, teacher), official)
    # the same pixels as (P, K) rows (what the distiller passes): the same value
    rows = PanoramicKDLoss(tau=tau)(student[0].flatten(1).t(), teacher[0].flatten(1).t())
    torch.testing.assert_close(rows, official)
    # without the class mean: K times the official value
    heavy = PanoramicKDLoss(tau=tau, class_mean=False)(student, teacher)
    torch.testing.assert_close(heavy, 30 * official)


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
    expected = expected / 30  # the official class mean
    expected = expected * valid[:, None]
    torch.testing.assert_close(student.grad, expected.detach(), rtol=1e-4, atol=1e-8)


def test_float16_inputs_stay_finite_and_close():
    torch.manual_seed(2)
    student, teacher = torch.randn(1, 30, 8, 8) * 50, torch.randn(1, 30, 8, 8) * 50
    full = PanoramicKDLoss()(student, teacher)
    half = PanoramicKDLoss()(student.half(), teacher.half())
    assert torch.isfinite(half) and abs(half.item() - full.item()) / full.item() < 1e-2


def test_min_confidence_keeps_only_the_pixels_the_teacher_is_sure_of():
    torch.manual_seed(4)
    student, teacher = torch.randn(1, 30, 6, 12) * 5, torch.randn(1, 30, 6, 12) * 5
    valid = torch.rand(1, 6, 12) > 0.2
    sure = teacher.softmax(1).amax(1) >= 0.6  # at temperature 1, whatever tau
    assert 0 < (valid & sure).sum() < valid.sum()  # the gate drops some valid pixels
    gated = PanoramicKDLoss(min_confidence=0.6)(student, teacher, valid)
    torch.testing.assert_close(gated.double(),
                               _direct_float64(student, teacher, valid & sure, 20.0),
                               rtol=1e-5, atol=1e-7)
    # the unsure pixels' student logits do not matter; a gate of 0 is the official loss
    student2 = torch.where(sure[:, None], student, torch.randn_like(student) * 100)
    torch.testing.assert_close(PanoramicKDLoss(min_confidence=0.6)(student2, teacher, valid),
                               gated)
    torch.testing.assert_close(PanoramicKDLoss(min_confidence=0.0)(student, teacher, valid),
                               PanoramicKDLoss()(student, teacher, valid))
    with pytest.raises(ValueError, match='min_confidence'):
        PanoramicKDLoss(min_confidence=1.0)


def test_class_balanced_averages_each_teacher_class_then_the_classes():
    torch.manual_seed(5)
    K, P = 6, 200
    teacher = torch.randn(P, K) * 3
    teacher[:150, 0] += 20  # a dominant class (the walls of a room) and a few rare ones
    student = torch.randn(P, K, requires_grad=True)
    valid = torch.rand(P) > 0.1
    loss = PanoramicKDLoss(tau=2.0, class_mean=False, class_balanced=True, min_confidence=0.5)
    value = loss(student, teacher, valid)
    # independent: per class of the teacher's top class among the kept rows, the mean KL
    p_t = (teacher.double() / 2).softmax(1)
    kl = (p_t * (p_t.log() - (student.double() / 2).log_softmax(1))).sum(1)
    kept = valid & (teacher.softmax(1).amax(1) >= 0.5)
    top = teacher.argmax(1)
    means = [kl[kept & (top == c)].mean() for c in range(K) if (kept & (top == c)).any()]
    assert len(means) > 2
    expected = 4 * torch.stack(means).mean()
    torch.testing.assert_close(value.double(), expected, rtol=1e-5, atol=1e-7)
    assert abs(value.item() - PanoramicKDLoss(tau=2.0, class_mean=False, min_confidence=0.5)(
        student, teacher, valid).item()) > 1e-3  # it does reweight
    # one rare pixel weighs as much as the whole dominant class: its gradient is larger
    value.backward()
    grad = student.grad.norm(dim=1)
    rare = kept & (top != 0)
    assert grad[rare].mean() > 10 * grad[kept & (top == 0)].mean()
    # a single class present: the plain pixel mean
    one = torch.zeros(P, K)
    one[:, 2] = 9.
    torch.testing.assert_close(
        PanoramicKDLoss(class_balanced=True)(student.detach(), one, valid),
        PanoramicKDLoss()(student.detach(), one, valid))


def test_no_valid_pixel_gives_zero_and_bad_shapes_raise():
    s = torch.randn(30, 4, 4, requires_grad=True)
    loss = PanoramicKDLoss()(s, torch.randn(30, 4, 4), torch.zeros(4, 4, dtype=torch.bool))
    assert loss.item() == 0
    loss.backward()
    assert s.grad is not None and (s.grad == 0).all()  # a gradient path, and zero
    with pytest.raises(ValueError, match='differ in shape'):
        PanoramicKDLoss()(s, torch.randn(29, 4, 4))
    with pytest.raises(ValueError, match='tau'):
        PanoramicKDLoss(tau=0)


@pytest.mark.parametrize('class_balanced', [False, True])
def test_an_integer_weight_counts_a_pixel_that_many_times(class_balanced):
    """Weight 2 on a row equals that row given twice; weight 0 equals leaving it out."""
    torch.manual_seed(5)
    student, teacher = torch.randn(7, 30) * 3, torch.randn(7, 30) * 3
    weight = torch.tensor([1., 2., 0., 1., 3., 1., 2.])
    repeats = weight.long()
    loss = PanoramicKDLoss(tau=1.0, class_balanced=class_balanced)
    want = loss(student.repeat_interleave(repeats, 0), teacher.repeat_interleave(repeats, 0))
    torch.testing.assert_close(loss(student, teacher, weight=weight), want)
    # a mask and a weight combine: the masked rows drop out whatever their weight
    valid = torch.tensor([True, True, True, False, True, True, True])
    keep = repeats * valid
    want = loss(student.repeat_interleave(keep, 0), teacher.repeat_interleave(keep, 0))
    torch.testing.assert_close(loss(student, teacher, valid, weight), want)
    with pytest.raises(ValueError, match='weight must be non-negative'):
        loss(student, teacher, weight=-weight)
    with pytest.raises(ValueError, match=r'weight \(6,\) does not match'):
        loss(student, teacher, weight=weight[:6])


@pytest.mark.parametrize('tau', [0, -1.0, float('nan'), float('inf'), '2'])
def test_a_temperature_that_is_not_a_positive_finite_number_is_named(tau):
    """NaN passed the old ``tau <= 0`` check and made every KD value NaN."""
    with pytest.raises(ValueError, match='PanoramicKDLoss: tau must be a positive finite'):
        PanoramicKDLoss(tau=tau)
