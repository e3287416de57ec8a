"""Issue 10, item 5: dtypes are honest.

* ``cr.tensor`` keeps a NumPy scalar's dtype (as ``torch.tensor``), and infers the dtype of
  a list holding NumPy scalars as torch does;
* layers refuse input whose dtype differs from their parameters' (integer, bool, or another
  float type) with the exception type PyTorch raises, naming the layer and both dtypes.

PyTorch is the oracle throughout: every case is run through torch too, and chainrule must
give the same dtype, or raise an exception of the same type.
"""

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F


def _np_name(torch_dtype) -> str:
    return str(torch_dtype).removeprefix("torch.")


# ---------------------------------------------------------------- tensor creation
SCALARS = {
    "np.float64": lambda: np.float64(0.1),
    "np.float32": lambda: np.float32(1.0),
    "np.float16": lambda: np.float16(1.0),
    "np.int32": lambda: np.int32(3),
    "np.int8": lambda: np.int8(3),
    "np.uint8": lambda: np.uint8(3),
    "np.int64": lambda: np.int64(3),
    "np.bool_": lambda: np.bool_(True),
    "0-d float64 array": lambda: np.array(0.1),
    "float": lambda: 0.1,
    "int": lambda: 3,
    "bool": lambda: True,
    "[np.float64, np.float64]": lambda: [np.float64(0.1), np.float64(0.2)],
    "[np.float32]": lambda: [np.float32(0.1)],
    "[np.int32]": lambda: [np.int32(1)],
    "[np.int32, int]": lambda: [np.int32(1), 2],
    "[int, np.float64]": lambda: [1, np.float64(0.5)],
    "[np.float32, float]": lambda: [np.float32(1), 0.5],
    "[np.float16, float]": lambda: [np.float16(1), 0.5],
    "[np.int64, float]": lambda: [np.int64(1), 0.5],
    "[np.uint8, np.int8]": lambda: [np.uint8(1), np.int8(2)],
    "[np.float32, np.float64]": lambda: [np.float32(1), np.float64(2)],
    "[np.int32, np.float16]": lambda: [np.int32(1), np.float16(2)],
    "[[np.float64], [float]]": lambda: [[np.float64(1)], [2.0]],
    "[bool, int]": lambda: [True, 2],
    "[[1.0, 2.0], [3.0, 4.0]]": lambda: [[1.0, 2.0], [3.0, 4.0]],
    "[(1, 2), (3, 4)]": lambda: [(1, 2), (3, 4)],
    "[]": lambda: [],
    "[[], []]": lambda: [[], []],
    "[np.array([1.0]), [2.0]]": lambda: [np.array([1.0]), [2.0]],
    "[float64 tensor, float]": lambda: ("tensor64", 2.0),
}


def _data(name, module):
    d = SCALARS[name]()
    if isinstance(d, tuple) and d[0] == "tensor64":
        return [module.tensor(1.0, dtype=module.float64), d[1]]
    return d


@pytest.mark.filterwarnings("ignore:Creating a tensor from a list of numpy.ndarrays")  # torch's, not ours
@pytest.mark.parametrize("name", list(SCALARS))
@pytest.mark.parametrize("fn", ["tensor", "as_tensor"])
def test_inferred_dtype_matches_torch(name, fn):
    torch = pytest.importorskip("torch")
    want = _np_name(getattr(torch, fn)(_data(name, torch)).dtype)
    got = getattr(cr, fn)(_data(name, cr))
    assert str(got.dtype) == want


def test_numpy_scalar_keeps_its_value_and_dtype():
    t = cr.tensor(np.float64(0.1))
    assert t.dtype == np.float64 and t.item() == 0.1  # 0.1 exactly as the float64 it was
    assert cr.tensor(np.float32(1)).dtype == np.float32
    assert cr.tensor(np.int32(3)).dtype == np.int32 and cr.tensor(np.int32(3)).item() == 3
    assert cr.tensor(np.float64(0.1), dtype=cr.float32).dtype == np.float32  # an explicit dtype wins
    assert cr.Tensor(np.float64(0.1)).dtype == np.float64
    assert cr.tensor(0.1).dtype == np.float32  # Python floats: the default dtype


def test_python_floats_follow_the_default_dtype():
    old = cr.get_default_dtype()
    try:
        cr.set_default_dtype(cr.float64)
        assert cr.tensor(0.1).dtype == np.float64
        assert cr.tensor([np.float32(1), 0.5]).dtype == np.float64  # promote(float32, default float64)
        assert cr.tensor([np.float16(1)]).dtype == np.float16
    finally:
        cr.set_default_dtype(old)


@pytest.mark.parametrize("fill", [np.int32(1), np.float64(0.5), np.bool_(True), 1, 0.5, True])
def test_full_fill_value_dtype_matches_torch(fill):
    torch = pytest.importorskip("torch")
    assert str(cr.full((2,), fill).dtype) == _np_name(torch.full((2,), fill).dtype)


# ---------------------------------------------------------------- layers
def _x(m, shape, dtype):
    return m.ones(*shape, dtype=getattr(m, dtype))


INPUT_DTYPES = ["int64", "int32", "bool", "float64", "float16"]

# name: (builder(m) -> callable layer, input shape); m is torch or chainrule
LAYER_CASES = {
    "Linear": (lambda m: m.nn.Linear(3, 2), (2, 3)),
    "Linear 3-D": (lambda m: m.nn.Linear(3, 2), (4, 2, 3)),
    "Linear 1-D": (lambda m: m.nn.Linear(3, 2), (3,)),
    "Bilinear": (lambda m: (lambda lay: (lambda x: lay(x, x)))(m.nn.Bilinear(3, 3, 2)), (2, 3)),
    "LSTM": (lambda m: m.nn.LSTM(3, 2), (1, 2, 3)),
    "GRU": (lambda m: m.nn.GRU(3, 2), (1, 2, 3)),
    "RNN": (lambda m: m.nn.RNN(3, 2), (1, 2, 3)),
    "LSTM unbatched": (lambda m: m.nn.LSTM(3, 2), (4, 3)),
    "LSTMCell": (lambda m: m.nn.LSTMCell(3, 2), (2, 3)),
    "GRUCell": (lambda m: m.nn.GRUCell(3, 2), (2, 3)),
    "RNNCell": (lambda m: m.nn.RNNCell(3, 2), (2, 3)),
    "Conv1d": (lambda m: m.nn.Conv1d(1, 1, 2), (1, 1, 3)),
    "Conv2d": (lambda m: m.nn.Conv2d(1, 1, 2), (1, 1, 3, 3)),
    "BatchNorm1d": (lambda m: m.nn.BatchNorm1d(3), (2, 3)),
    "BatchNorm2d": (lambda m: m.nn.BatchNorm2d(1), (2, 1, 2, 2)),
    "BatchNorm1d eval": (lambda m: m.nn.BatchNorm1d(3).eval(), (2, 3)),
    "LayerNorm": (lambda m: m.nn.LayerNorm(3), (2, 3)),
    "F.layer_norm int": (lambda m: (lambda x: m.nn.functional.layer_norm(x, (3,))), (2, 3)),
    "LayerNorm no affine": (lambda m: m.nn.LayerNorm(3, elementwise_affine=False), (2, 3)),
}


@pytest.mark.parametrize("dtype", INPUT_DTYPES)
@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_layer_input_dtype_like_torch(case, dtype):
    """Where torch refuses the input, chainrule raises an exception of the same type; where torch
    computes, chainrule computes too, in the same dtype."""
    torch = pytest.importorskip("torch")
    build, shape = LAYER_CASES[case]
    try:
        want = build(torch)(_x(torch, shape, dtype))
        want_exc = None
    except Exception as e:  # noqa: BLE001  (whatever torch raises is the oracle)
        want_exc = type(e)
    layer = build(cr)
    if want_exc is None:
        got = layer(_x(cr, shape, dtype))
        got = got[0] if isinstance(got, tuple) else got
        want = want[0] if isinstance(want, tuple) else want
        assert str(got.dtype) == _np_name(want.dtype)
        return
    with pytest.raises(want_exc) as info:
        layer(_x(cr, shape, dtype))
    msg = str(info.value)
    assert dtype in msg, msg  # the message names the offending dtype


def test_layer_dtype_messages_name_layer_and_dtypes():
    with pytest.raises(RuntimeError, match=r"Linear\(3, 2\): input dtype int64 does not match the weight's float32"):
        nn.Linear(3, 2)(cr.ones(2, 3, dtype=cr.int64))
    with pytest.raises(RuntimeError, match=r"linear: input dtype float64 does not match the weight's float32"):
        F.linear(cr.ones(4, 2, 3, dtype=cr.float64), cr.ones(2, 3))
    with pytest.raises(ValueError, match=r"LSTM: input dtype int64 does not match the weight dtype float32"):
        nn.LSTM(3, 2)(cr.ones(1, 2, 3, dtype=cr.int64))
    with pytest.raises(RuntimeError, match=r"Conv2d: .*int64.*float32"):
        nn.Conv2d(1, 1, 2)(cr.ones(1, 1, 3, 3, dtype=cr.int64))
    with pytest.raises(NotImplementedError, match=r"BatchNorm1d: .*int64"):
        nn.BatchNorm1d(3)(cr.ones(2, 3, dtype=cr.int64))
    with pytest.raises(RuntimeError, match=r"LayerNorm: .*float64.*float32"):
        nn.LayerNorm(3)(cr.ones(2, 3, dtype=cr.float64))


def test_dtype_errors_are_also_type_errors():
    """chainrule raised TypeError for these before; the new errors are RuntimeErrors as in PyTorch
    and still TypeErrors, so code written against either keeps working."""
    with pytest.raises(TypeError):
        nn.Linear(3, 2)(cr.ones(2, 3, dtype=cr.float64))
    with pytest.raises(TypeError):
        nn.Conv1d(1, 1, 2)(cr.ones(1, 1, 3, dtype=cr.float64))


def test_integer_linear_with_integer_weight_computes_like_torch():
    torch = pytest.importorskip("torch")
    x = np.arange(6, dtype=np.int64).reshape(2, 3)
    w = np.arange(6, dtype=np.int64).reshape(2, 3) - 2
    want = torch.nn.functional.linear(torch.tensor(x), torch.tensor(w))
    got = F.linear(cr.tensor(x), cr.tensor(w))
    assert got.dtype == np.int64 and got.tolist() == want.tolist()


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
def test_recurrent_state_dtype_must_match_like_torch(mode):
    torch = pytest.importorskip("torch")

    def run(m):
        layer = getattr(m.nn, mode)(3, 2)
        h = m.zeros(1, 2, 2, dtype=m.float64)
        hx = (h, m.zeros(1, 2, 2)) if mode == "LSTM" else h
        return layer(m.ones(1, 2, 3), hx)

    with pytest.raises(Exception) as want:
        run(torch)
    with pytest.raises(want.type, match="float64"):
        run(cr)


@pytest.mark.parametrize("mode", ["LSTMCell", "GRUCell", "RNNCell"])
def test_cell_state_dtype_must_match_like_torch(mode):
    torch = pytest.importorskip("torch")

    def run(m):
        layer = getattr(m.nn, mode)(3, 2)
        h = m.zeros(2, 2, dtype=m.float64)
        return layer(m.ones(2, 3), (h, m.zeros(2, 2)) if mode == "LSTMCell" else h)

    with pytest.raises(Exception) as want:
        run(torch)
    with pytest.raises(want.type, match="float64"):
        run(cr)


@pytest.mark.parametrize("dtype", ["float32", "int64", "int32", "bool", "uint8", "int16"])
def test_embedding_index_dtypes_like_torch(dtype):
    torch = pytest.importorskip("torch")
    idx = [0, 1]
    try:
        torch.nn.Embedding(4, 2)(torch.tensor(idx, dtype=getattr(torch, dtype)))
        ok = True
    except Exception as e:  # noqa: BLE001
        ok, exc = False, type(e)
    emb = nn.Embedding(4, 2)
    x = cr.tensor(idx, dtype=getattr(cr, dtype) if hasattr(cr, dtype) else dtype)
    if ok:
        assert emb(x).shape == (2, 2)
    else:
        with pytest.raises(exc, match=f"Embedding: .*{dtype}"):
            emb(x)


def test_matching_dtypes_still_compute_and_agree_with_torch():
    """The checks refuse only mismatches: float64 layers on float64 input give torch's numbers."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    w = rng.standard_normal((2, 3))
    b = rng.standard_normal(2)
    lin = nn.Linear(3, 2, dtype=cr.float64)
    lin.weight._array[...] = w
    lin.bias._array[...] = b
    want = torch.nn.functional.linear(torch.tensor(x), torch.tensor(w), torch.tensor(b)).numpy()
    np.testing.assert_allclose(lin(cr.tensor(x))._array, want, rtol=1e-12)
    np.testing.assert_allclose(lin(cr.tensor(x[None]))._array, want[None], rtol=1e-12)
    ln = nn.LayerNorm(3, dtype=cr.float64)
    want = torch.nn.functional.layer_norm(torch.tensor(x), (3,)).numpy()
    np.testing.assert_allclose(ln(cr.tensor(x))._array, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("layer", ["LayerNorm", "BatchNorm1d"])
def test_float16_input_with_float32_parameters_like_torch(layer):
    """PyTorch's CPU "mixed dtype" rule: float16 input may use float32 norm parameters; the
    result is float16 and the parameters' gradients stay float32."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float16)
    t_layer, c_layer = getattr(torch.nn, layer)(3), getattr(nn, layer)(3)
    with torch.no_grad():
        t_layer.weight.copy_(torch.tensor([0.5, 1.5, -1.0]))
    c_layer.weight._array[...] = [0.5, 1.5, -1.0]
    want = t_layer(torch.tensor(x))
    got = c_layer(cr.tensor(x))
    assert got.dtype == np.float16 and want.dtype == torch.float16
    np.testing.assert_allclose(got._array.astype(np.float32), want.detach().float().numpy(), atol=2e-3)
    got.sum().backward()
    assert c_layer.weight.grad.dtype == np.float32
