"""F.affine_grid and F.grid_sample: values from geometry, gradients by finite differences, PyTorch as oracle."""

import itertools
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck

MODES_2D = ("bilinear", "nearest", "bicubic")
PADDINGS = ("zeros", "border", "reflection")


def t64(a, grad=False):
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def rand(rng, shape, lo=-1.0, hi=1.0, grad=True):
    return t64(rng.uniform(lo, hi, shape), grad)


# -- geometry, no oracle ------------------------------------------------------------------------

def test_affine_grid_identity_corners_and_centres():
    eye = t64([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    g = F.affine_grid(eye, (1, 1, 2, 3), align_corners=True).numpy()
    # x runs along the width: -1, 0, 1; y along the height: -1, 1
    np.testing.assert_allclose(g[0, :, :, 0], [[-1, 0, 1], [-1, 0, 1]])
    np.testing.assert_allclose(g[0, :, :, 1], [[-1, -1, -1], [1, 1, 1]])
    g = F.affine_grid(eye, (1, 1, 2, 4), align_corners=False).numpy()
    # pixel centres (2i + 1)/n - 1
    np.testing.assert_allclose(g[0, 0, :, 0], [-0.75, -0.25, 0.25, 0.75])
    np.testing.assert_allclose(g[0, :, 0, 1], [-0.5, 0.5])


def test_affine_grid_applies_theta():
    rng = np.random.default_rng(1)
    theta = rng.standard_normal((2, 2, 3))
    g = F.affine_grid(t64(theta), (2, 1, 3, 4), align_corners=True).numpy()
    xs, ys = np.linspace(-1, 1, 4), np.linspace(-1, 1, 3)
    for n, h, w in itertools.product(range(2), range(3), range(4)):
        np.testing.assert_allclose(g[n, h, w], theta[n] @ [xs[w], ys[h], 1.0], atol=1e-12)


def test_affine_grid_3d_applies_theta():
    rng = np.random.default_rng(2)
    theta = rng.standard_normal((1, 3, 4))
    g = F.affine_grid(t64(theta), (1, 2, 2, 3, 4), align_corners=False).numpy()
    assert g.shape == (1, 2, 3, 4, 3)

    def centres(n):
        return (2 * np.arange(n) + 1) / n - 1

    zs, ys, xs = centres(2), centres(3), centres(4)
    for d, h, w in itertools.product(range(2), range(3), range(4)):
        np.testing.assert_allclose(g[0, d, h, w], theta[0] @ [xs[w], ys[h], zs[d], 1.0], atol=1e-12)


@pytest.mark.parametrize("align", [True, False])
@pytest.mark.parametrize("dims", [2, 3])
def test_identity_theta_samples_the_input_back(align, dims):
    rng = np.random.default_rng(3)
    shape = (2, 3, 4, 5) if dims == 2 else (2, 2, 3, 4, 5)
    x = rng.standard_normal(shape)
    theta = np.zeros((2, dims, dims + 1))
    theta[:, :, :dims] = np.eye(dims)
    grid = F.affine_grid(t64(theta), shape, align_corners=align)
    y = F.grid_sample(t64(x), grid, "bilinear", "zeros", align_corners=align)
    np.testing.assert_allclose(y.numpy(), x, atol=1e-12)
    y = F.grid_sample(t64(x), grid, "nearest", "zeros", align_corners=align)
    np.testing.assert_allclose(y.numpy(), x, atol=1e-12)


def _at(x, px, py, **kw):
    """Sample (H, W) image x at pixel coordinates (px, py) with align_corners=True."""
    h, w = x.shape
    u = 2 * px / (w - 1) - 1
    v = 2 * py / (h - 1) - 1
    return F.grid_sample(t64(x[None, None]), t64([[[[u, v]]]]), align_corners=True, **kw).numpy().item()


def test_bilinear_values_by_hand():
    x = np.array([[1.0, 2.0, 4.0], [8.0, 16.0, 32.0]])
    assert _at(x, 0.5, 0.0) == pytest.approx(1.5)
    assert _at(x, 1.0, 0.5) == pytest.approx(9.0)
    # (1 - 0.25)(1 - 0.5)·2 + 0.25·0.5·... at (1.25, 0.5): rows 0/1, columns 1/2
    assert _at(x, 1.25, 0.5) == pytest.approx(0.5 * (0.75 * 2 + 0.25 * 4) + 0.5 * (0.75 * 16 + 0.25 * 32))
    # outside: zeros read 0 beyond the border (half weight on the last column), border clips
    assert _at(x, 2.5, 0.0) == pytest.approx(0.5 * 4.0)
    assert _at(x, 2.5, 0.0, padding_mode="border") == pytest.approx(4.0)
    # reflection at the pixel centres: 2.5 -> 1.5
    assert _at(x, 2.5, 0.0, padding_mode="reflection") == pytest.approx(3.0)
    assert _at(x, -0.25, 1.0, padding_mode="reflection") == pytest.approx(0.75 * 8 + 0.25 * 16)
    assert _at(x, 5.0, 0.0) == 0.0


def test_nearest_rounds_half_to_even_and_has_zero_grid_gradient():
    x = t64([[[[10.0, 20.0, 30.0, 40.0]]]], grad=True)
    # align_corners=False, n = 4: u = 0 -> pixel 1.5 -> 2;  u = -0.5 -> pixel 0.5 -> 0
    g = t64([[[[0.0, 0.0], [-0.5, 0.0]]]], grad=True)
    y = F.grid_sample(x, g, "nearest", align_corners=False)
    np.testing.assert_array_equal(y.detach().numpy(), [[[[30.0, 10.0]]]])
    y.sum().backward()
    np.testing.assert_array_equal(g.grad.numpy(), np.zeros((1, 1, 2, 2)))
    np.testing.assert_array_equal(x.grad.numpy(), [[[[1.0, 0.0, 1.0, 0.0]]]])


def test_bicubic_interpolates_and_keeps_constants():
    # Keys' weights sum to 1 (a constant image stays constant) and are 1, 0, 0, 0 at whole pixels
    assert _at(np.full((5, 6), 3.5), 2.3, 1.6, mode="bicubic") == pytest.approx(3.5)
    x = np.random.default_rng(12).standard_normal((5, 6))
    assert _at(x, 3.0, 2.0, mode="bicubic") == pytest.approx(x[2, 3])
    # halfway between pixels the four taps are 1.5, 0.5, 0.5, 1.5 away; Keys' kernel with a = -0.75:
    # w(s) = (a+2)|s|³ - (a+3)|s|² + 1 for |s| <= 1, a|s|³ - 5a|s|² + 8a|s| - 4a for 1 < |s| < 2
    a = -0.75
    far, near = a * (1.5 ** 3 - 5 * 1.5 ** 2 + 8 * 1.5 - 4), (a + 2) * 0.125 - (a + 3) * 0.25 + 1
    row = np.array([0.0, 0.0, 1.0, 2.0, 7.0, 0.0])
    img = np.tile(row, (5, 1))
    assert _at(img, 2.5, 2.0, mode="bicubic") == pytest.approx(far * 0 + near * 1 + near * 2 + far * 7)


# -- gradients by finite differences ------------------------------------------------------------

@pytest.mark.parametrize("mode,padding,align", list(itertools.product(MODES_2D, PADDINGS, (True, False))))
def test_gradcheck_2d(mode, padding, align):
    rng = np.random.default_rng(4)
    x = rand(rng, (1, 2, 3, 4))
    grid = rand(rng, (1, 2, 3, 2), -1.3, 1.3, grad=mode != "nearest")
    assert gradcheck(lambda a, b: F.grid_sample(a, b, mode, padding, align), (x, grid), check_forward_ad=True)


@pytest.mark.parametrize("mode,padding,align", list(itertools.product(("bilinear", "nearest"), PADDINGS,
                                                                          (True, False))))
def test_gradcheck_3d(mode, padding, align):
    rng = np.random.default_rng(5)
    x = rand(rng, (1, 1, 2, 3, 3))
    grid = rand(rng, (1, 2, 1, 2, 3), -1.3, 1.3, grad=mode != "nearest")
    assert gradcheck(lambda a, b: F.grid_sample(a, b, mode, padding, align), (x, grid))


@pytest.mark.parametrize("mode,align", [("bilinear", True), ("bilinear", False), ("bicubic", False)])
def test_gradgradcheck_2d(mode, align):
    rng = np.random.default_rng(6)
    x = rand(rng, (1, 1, 3, 3))
    grid = rand(rng, (1, 2, 2, 2), -1.2, 1.2)
    assert gradgradcheck(lambda a, b: F.grid_sample(a, b, mode, "zeros", align), (x, grid))


def test_gradgradcheck_3d_trilinear():
    rng = np.random.default_rng(13)
    x = rand(rng, (1, 1, 2, 2, 3))
    grid = rand(rng, (1, 1, 2, 2, 3), -1.2, 1.2)
    assert gradgradcheck(lambda a, b: F.grid_sample(a, b, "bilinear", "border", True), (x, grid))


@pytest.mark.parametrize("align", [True, False])
def test_affine_grid_gradcheck_and_gradgradcheck(align):
    rng = np.random.default_rng(7)
    theta2 = rand(rng, (2, 2, 3))
    assert gradcheck(lambda th: F.affine_grid(th, (2, 1, 3, 4), align_corners=align), (theta2,),
                     check_forward_ad=True)
    assert gradgradcheck(lambda th: F.affine_grid(th, (2, 1, 3, 4), align_corners=align), (theta2,))
    theta3 = rand(rng, (1, 3, 4))
    assert gradcheck(lambda th: F.affine_grid(th, (1, 1, 2, 2, 3), align_corners=align), (theta3,))


def test_spatial_transformer_chain_gradcheck():
    rng = np.random.default_rng(8)
    x = rand(rng, (2, 1, 4, 4))
    theta = t64(np.array([[[0.9, 0.1, 0.05], [-0.1, 0.8, 0.1]]] * 2) + rng.uniform(-0.05, 0.05, (2, 2, 3)), True)

    def stn(a, th):
        return F.grid_sample(a, F.affine_grid(th, (2, 1, 3, 3), align_corners=False), align_corners=False)

    assert gradcheck(stn, (x, theta))


def test_empty_batch():
    x = t64(np.zeros((0, 2, 3, 4)), True)
    grid = t64(np.zeros((0, 2, 2, 2)), True)
    for mode in MODES_2D:
        y = F.grid_sample(x, grid, mode, align_corners=False)
        assert tuple(y.shape) == (0, 2, 2, 2)
        assert gradcheck(lambda a, b, mode=mode: F.grid_sample(a, b, mode, align_corners=False), (x, grid))
    x5 = t64(np.zeros((0, 1, 2, 2, 2)), True)
    y = F.grid_sample(x5, t64(np.zeros((0, 1, 2, 2, 3)), True), align_corners=True)
    assert tuple(y.shape) == (0, 1, 1, 2, 2)
    y.sum().backward()
    assert tuple(x5.grad.shape) == (0, 1, 2, 2, 2)


# -- errors and warnings ------------------------------------------------------------------------

def test_errors_name_the_op_and_shapes():
    x = t64(np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="grid_sample.*mode"):
        F.grid_sample(x, t64(np.zeros((1, 2, 2, 2))), mode="linear", align_corners=False)
    with pytest.raises(ValueError, match="grid_sample.*padding_mode"):
        F.grid_sample(x, t64(np.zeros((1, 2, 2, 2))), padding_mode="wrap", align_corners=False)
    with pytest.raises(ValueError, match=r"grid_sample.*\(1, 2, 2, 3\)"):
        F.grid_sample(x, t64(np.zeros((1, 2, 2, 3))), align_corners=False)
    with pytest.raises(ValueError, match="grid_sample.*batch size"):
        F.grid_sample(x, t64(np.zeros((2, 2, 2, 2))), align_corners=False)
    with pytest.raises(ValueError, match="grid_sample.*4-D"):
        F.grid_sample(t64(np.zeros((1, 3, 3))), t64(np.zeros((1, 2, 2))), align_corners=False)
    with pytest.raises(ValueError, match="bicubic"):
        F.grid_sample(t64(np.zeros((1, 1, 2, 2, 2))), t64(np.zeros((1, 1, 1, 1, 3))), "bicubic",
                      align_corners=False)
    with pytest.raises(ValueError, match=r"affine_grid.*Nx2x3.*\(1, 3, 4\)"):
        F.affine_grid(t64(np.zeros((1, 3, 4))), (1, 1, 2, 2), align_corners=False)
    with pytest.raises(ValueError, match="affine_grid.*positive"):
        F.affine_grid(t64(np.zeros((0, 2, 3))), (0, 1, 2, 2), align_corners=False)
    with pytest.raises(NotImplementedError, match="affine_grid"):
        F.affine_grid(t64(np.zeros((1, 1, 2))), (1, 1, 2), align_corners=False)


def test_default_align_corners_warns_and_is_false():
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    theta = t64([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    with pytest.warns(UserWarning, match="align_corners=False"):
        g = F.affine_grid(theta, (1, 1, 3, 4))
    np.testing.assert_allclose(g.numpy(), F.affine_grid(theta, (1, 1, 3, 4), align_corners=False).numpy())
    with pytest.warns(UserWarning, match="align_corners=False"):
        y = F.grid_sample(t64(x), g)
    np.testing.assert_allclose(y.numpy(), x, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.grid_sample(t64(x), g, align_corners=False)


# -- PyTorch as oracle --------------------------------------------------------------------------

CASES = ([(2, m, p, a) for m, p, a in itertools.product(MODES_2D, PADDINGS, (True, False))]
         + [(3, m, p, a) for m, p, a in itertools.product(("bilinear", "nearest"), PADDINGS, (True, False))])


@pytest.mark.parametrize("dims,mode,padding,align", CASES)
def test_against_pytorch(dims, mode, padding, align):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    shape = (2, 3, 4, 5) if dims == 2 else (2, 2, 3, 4, 3)
    x = rng.standard_normal(shape)
    g = rng.uniform(-1.7, 1.7, (2, 3, 4, 2) if dims == 2 else (2, 2, 3, 2, 3))
    xc, gc = t64(x, True), t64(g, True)
    xt, gt = torch.tensor(x, requires_grad=True), torch.tensor(g, requires_grad=True)
    yc = F.grid_sample(xc, gc, mode, padding, align)
    yt = torch.nn.functional.grid_sample(xt, gt, mode, padding, align)
    np.testing.assert_allclose(yc.detach().numpy(), yt.detach().numpy(), atol=1e-12)
    w = rng.standard_normal(tuple(yt.shape))
    (yc * t64(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(xc.grad.numpy(), xt.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(gc.grad.numpy(), gt.grad.numpy(), atol=1e-11)


@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 1, 3), (2, 3, 2, 4, 5)])
@pytest.mark.parametrize("align", [True, False])
def test_affine_grid_against_pytorch(size, align):
    torch = pytest.importorskip("torch")
    d = len(size) - 2
    theta = np.random.default_rng(10).standard_normal((2, d, d + 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unit-size grids with align_corners=True warn in both
        ours = F.affine_grid(t64(theta), size, align_corners=align).numpy()
        ref = torch.nn.functional.affine_grid(torch.tensor(theta), size, align_corners=align).numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_float32_against_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    theta = np.array([[[0.8, -0.3, 0.1], [0.2, 0.9, -0.2]]], dtype=np.float32)
    grid = F.affine_grid(cr.tensor(theta), (1, 2, 4, 4), align_corners=False)
    y = F.grid_sample(cr.tensor(x), grid, align_corners=False)
    assert y.dtype == cr.float32
    gt = torch.nn.functional.affine_grid(torch.tensor(theta), (1, 2, 4, 4), align_corners=False)
    yt = torch.nn.functional.grid_sample(torch.tensor(x), gt, align_corners=False)
    np.testing.assert_allclose(y.numpy(), yt.numpy(), atol=1e-5)
