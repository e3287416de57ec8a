"""Forward mode (jvp rules) of the nn-layers primitives agrees with finite differences."""

import numpy as np

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd.gradcheck import gradcheck

RNG = np.random.default_rng(5)


def test_conv_pool_norm_embedding_jvp():
    x = cr.tensor(RNG.permutation(50).reshape(1, 2, 5, 5) / 7.0, requires_grad=True)
    w = cr.tensor(RNG.standard_normal((4, 1, 3, 2)), requires_grad=True)
    b = cr.tensor(RNG.standard_normal(4), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, 2, 1, 1, 2), (x, w, b), check_forward_ad=True)
    assert gradcheck(lambda x: F.max_pool2d(x, 2, 1), (x,), check_forward_ad=True)
    assert gradcheck(lambda x: F.avg_pool2d(x, 2, 1, 1), (x,), check_forward_ad=True)
    assert gradcheck(lambda x: F.batch_norm(x, None, None, training=True), (x,), check_forward_ad=True)
    assert gradcheck(lambda x: F.layer_norm(x, (5, 5)), (x,), check_forward_ad=True)
    table = cr.tensor(RNG.standard_normal((5, 3)), requires_grad=True)
    idx = cr.tensor(np.array([1, 1, 3]))
    assert gradcheck(lambda t: F.embedding(idx, t), (table,), check_forward_ad=True)


def test_batch_norm_with_affine_jvp_and_second_order():
    from chainrule.autograd.gradcheck import gradgradcheck

    x = cr.tensor(RNG.standard_normal((3, 2, 2)), requires_grad=True)
    w = cr.tensor(RNG.standard_normal(2), requires_grad=True)
    b = cr.tensor(RNG.standard_normal(2), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, True), (x, w, b), check_forward_ad=True)
    assert gradgradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, True), (x, w, b))
