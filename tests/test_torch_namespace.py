"""`import chainrule as torch` behaves like `import torch` (issue 12 items 1 and 2): the
sub-package attributes and module paths programs use, and the CPU-only idioms (cuda / accelerator
/ backends probes, autocast and GradScaler, threads, matmul precision, legacy tensor types,
``Tensor(*sizes)``, bfloat16, ``f"{loss:.4f}"``), checked against PyTorch's CPU build where it
is installed and against what that build does (written down from it) where it is not."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.gradcheck import gradcheck, gradgradcheck
from chainrule.backend.device import DeviceUnavailableError


def _torch():
    return pytest.importorskip("torch")


# -- item 1: the namespace ---------------------------------------------------------------

ATTRIBUTES = ["nn", "nn.functional", "nn.init", "nn.utils", "optim", "optim.lr_scheduler", "utils", "utils.data",
              "autograd", "func", "linalg", "cuda", "cuda.amp", "amp", "backends", "backends.cudnn",
              "backends.cuda", "backends.mps", "accelerator"]


@pytest.mark.parametrize("path", ATTRIBUTES)
def test_subpackages_are_attributes_after_the_top_level_import(path: str) -> None:
    """Run in a fresh interpreter, so that no other test has imported them already."""
    code = ("import sys, types, chainrule as torch\n"
            f"m = torch.{path}\n"
            "assert isinstance(m, types.ModuleType), m\n"
            f"assert m is sys.modules['chainrule.{path}']\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_heavy_subpackages_are_imported_on_first_use_only() -> None:
    """`import chainrule` stays fast: nn and optim load when first touched (and then stay)."""
    code = ("import sys, chainrule as torch\n"
            "assert 'chainrule.nn' not in sys.modules and 'chainrule.optim' not in sys.modules\n"
            "assert 'threadpoolctl' not in sys.modules\n"
            "torch.nn.Linear(2, 3)\n"
            "assert 'chainrule.nn' in sys.modules and 'nn' in vars(torch)\n"
            "from chainrule import optim\n"
            "assert optim is torch.optim\n"
            "assert 'nn' in dir(torch) and 'linalg' in dir(torch)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'no_such_thing'"):
        cr.no_such_thing  # noqa: B018
    assert not hasattr(cr, "quantization")


# where PyTorch defines the classes programs import by module path, and chainrule with it
MODULE_PATHS = [
    ("nn.modules.linear", "Linear"), ("nn.modules.linear", "Identity"), ("nn.modules.conv", "Conv2d"),
    ("nn.modules.activation", "ReLU"), ("nn.modules.activation", "MultiheadAttention"),
    ("nn.modules.loss", "CrossEntropyLoss"), ("nn.modules.module", "Module"), ("nn.modules.container", "Sequential"),
    ("nn.modules.batchnorm", "BatchNorm2d"), ("nn.modules.normalization", "LayerNorm"),
    ("nn.modules.dropout", "Dropout"), ("nn.modules.sparse", "Embedding"), ("nn.modules.rnn", "LSTM"),
    ("nn.modules.pooling", "MaxPool2d"), ("nn.modules.flatten", "Flatten"), ("nn.modules.fold", "Unfold"),
    ("nn.parameter", "Parameter"), ("utils.data.dataloader", "DataLoader"), ("utils.data.dataset", "Dataset"),
    ("utils.data.dataset", "TensorDataset"), ("utils.data.sampler", "RandomSampler"), ("optim.adam", "Adam"),
    ("optim.optimizer", "Optimizer"), ("optim.lr_scheduler", "StepLR"),
]


@pytest.mark.parametrize("module, name", MODULE_PATHS)
def test_pytorch_module_paths_exist(module: str, name: str) -> None:
    mod = importlib.import_module(f"chainrule.{module}")
    package = "optim.lr_scheduler" if "lr_scheduler" in module else module.split(".modules.")[0].rsplit(".", 1)[0] \
        if ".modules." in module else module.rsplit(".", 1)[0]
    assert getattr(mod, name) is getattr(importlib.import_module(f"chainrule.{package}"), name)


@pytest.mark.parametrize("package", ["nn", "optim", "optim.lr_scheduler", "utils.data"])
def test_every_shared_class_is_where_pytorch_keeps_it(package: str) -> None:
    """Oracle: for each public name chainrule shares with PyTorch's package, PyTorch's defining
    module (torch.nn.modules.sparse for Embedding...) exists here and holds the same object."""
    torch = _torch()
    tpkg = importlib.import_module(f"torch.{package}")
    cpkg = importlib.import_module(f"chainrule.{package}")
    missing = []
    for name in cpkg.__all__:
        obj = getattr(tpkg, name, None)
        where = getattr(obj, "__module__", None) or ""
        if not isinstance(obj, (type, types.FunctionType)) or not where.startswith("torch.") or "._" in where:
            continue
        try:
            ok = getattr(importlib.import_module("chainrule" + where[len("torch"):]), name, None) is getattr(cpkg, name)
        except ImportError:
            ok = False
        if not ok:
            missing.append(f"{where}.{name}")
    assert missing == [], f"not at PyTorch's path (torch {torch.__version__}): {missing}"


# -- item 2: accelerator probes ----------------------------------------------------------

CUDA_ANSWERS = {"is_available": False, "device_count": 0, "is_initialized": False, "is_bf16_supported": False,
                "get_arch_list": [], "memory_allocated": 0, "max_memory_allocated": 0, "memory_reserved": 0,
                "max_memory_reserved": 0, "empty_cache": None, "seed": None, "seed_all": None}
CUDA_RAISES = ["synchronize", "current_device", "get_device_name", "get_device_properties", "get_device_capability",
               "init", "initial_seed", "get_rng_state", "mem_get_info", "current_stream", "default_stream",
               "ipc_collect"]


@pytest.mark.parametrize("name, answer", sorted(CUDA_ANSWERS.items()))
def test_cuda_answers_as_a_cpu_only_build(name: str, answer) -> None:
    assert getattr(cr.cuda, name)() == answer


@pytest.mark.parametrize("name", ["manual_seed", "manual_seed_all"])
def test_cuda_seeding_is_a_no_op_that_leaves_chainrule_s_generator_alone(name: str) -> None:
    cr.manual_seed(5)
    a = cr.randn(3).numpy()
    cr.manual_seed(5)
    assert getattr(cr.cuda, name)(123) is None
    np.testing.assert_array_equal(cr.randn(3).numpy(), a)


@pytest.mark.parametrize("name", CUDA_RAISES + ["set_device"])
def test_cuda_functions_that_need_a_gpu_raise_as_pytorch(name: str) -> None:
    fn = getattr(cr.cuda, name)
    with pytest.raises(AssertionError, match="Torch not compiled with CUDA enabled") as e:
        fn(0) if name == "set_device" else fn()
    assert isinstance(e.value, DeviceUnavailableError) and f"cuda.{name}" in str(e.value)


def test_cuda_answers_match_pytorch() -> None:
    torch = _torch()
    if torch.cuda.is_available():
        pytest.skip("PyTorch here has CUDA; the oracle is its CPU-only build")
    for name, answer in CUDA_ANSWERS.items():
        assert getattr(torch.cuda, name)() == answer, name
    for name in CUDA_RAISES:
        with pytest.raises(AssertionError):
            getattr(torch.cuda, name)()
    assert torch.cuda.manual_seed(1) is None and torch.cuda.manual_seed_all(1) is None


def test_accelerator_probes_match_pytorch() -> None:
    assert cr.accelerator.is_available() is False
    assert cr.accelerator.current_accelerator() is None and cr.accelerator.device_count() == 0
    device = cr.accelerator.current_accelerator() or cr.device("cpu")  # the idiom
    assert cr.zeros(2, device=device).device == "cpu"
    torch = _torch()
    if torch.accelerator.is_available():
        pytest.skip("PyTorch here has an accelerator")
    assert torch.accelerator.current_accelerator() is None and torch.accelerator.device_count() == 0


BACKEND_FLAGS = [("cudnn", "enabled", True), ("cudnn", "benchmark", False), ("cudnn", "deterministic", False),
                 ("cudnn", "allow_tf32", True), ("mkldnn", "enabled", True)]


def _fresh_values(expressions: list[str]) -> list:
    """The values of ``expressions`` in a fresh interpreter (other tests and the docs' examples
    set these process-wide flags, as programs do)."""
    import json

    code = "import json, chainrule as cr\nprint(json.dumps([" + ", ".join(expressions) + "]))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_backend_flags_and_matmul_precision_start_at_pytorch_s_defaults() -> None:
    exprs = [f"cr.backends.{m}.{f}" for m, f, _ in BACKEND_FLAGS]
    got = _fresh_values(exprs + ["cr.backends.cuda.matmul.allow_tf32", "cr.get_float32_matmul_precision()"])
    assert got == [d for _, _, d in BACKEND_FLAGS] + [False, "highest"]


@pytest.mark.parametrize("module, flag, default", BACKEND_FLAGS)
def test_backend_flags_read_back(module: str, flag: str, default: bool) -> None:
    mod = importlib.import_module(f"chainrule.backends.{module}")
    before = getattr(mod, flag)
    try:
        setattr(getattr(cr.backends, module), flag, not before)  # as programs write it
        assert getattr(mod, flag) is (not before)
    finally:
        setattr(mod, flag, before)


def test_backend_flags_and_probes_match_pytorch() -> None:
    torch = _torch()
    for module, flag, default in BACKEND_FLAGS:
        assert getattr(getattr(torch.backends, module), flag) is default
    assert torch.backends.cuda.matmul.allow_tf32 is False
    for probe in ("cudnn.is_available", "cuda.is_built", "mps.is_available", "mps.is_built"):
        mod, fn = probe.split(".")
        assert getattr(getattr(cr.backends, mod), fn)() is getattr(getattr(torch.backends, mod), fn)() is False
    assert cr.backends.cudnn.version() is torch.backends.cudnn.version() is None


def test_matmul_tf32_flag_reads_back_and_cudnn_flags_restore() -> None:
    import chainrule.backends.cudnn as cudnn  # the import form programs use

    before = cr.backends.cuda.matmul.allow_tf32
    try:
        cr.backends.cuda.matmul.allow_tf32 = not before
        assert cr.backends.cuda.matmul.allow_tf32 is (not before)
    finally:
        cr.backends.cuda.matmul.allow_tf32 = before
    enabled, benchmark = cudnn.enabled, cudnn.benchmark
    with cudnn.flags(enabled=not enabled, benchmark=not benchmark):
        assert cudnn.enabled is (not enabled) and cudnn.benchmark is (not benchmark)
    assert cudnn.enabled is enabled and cudnn.benchmark is benchmark


# -- autocast and GradScaler ---------------------------------------------------------------

def test_cpu_autocast_is_a_context_and_a_decorator_that_computes_in_full_precision() -> None:
    x = cr.randn(4, 3)
    w = cr.randn(3, 2)
    with cr.autocast(device_type="cpu", dtype=cr.bfloat16):
        assert cr.is_autocast_enabled("cpu")
        y = x @ w
    assert not cr.is_autocast_enabled("cpu")
    np.testing.assert_array_equal(y.numpy(), (x @ w).numpy())
    assert y.dtype == cr.float32

    @cr.amp.autocast("cpu")
    def f(a):
        assert cr.is_autocast_enabled("cpu")
        return a * 2

    np.testing.assert_array_equal(f(x).numpy(), (x * 2).numpy())
    with cr.amp.autocast("cpu", enabled=False):
        assert not cr.is_autocast_enabled("cpu")


def test_autocast_matches_pytorch_on_which_regions_are_enabled() -> None:
    torch = _torch()
    cases = [("cpu", None), ("cpu", "float16"), ("cpu", "bfloat16")]
    for dev, dt in cases:
        kw = {} if dt is None else {"dtype": getattr(torch, dt)}
        ckw = {} if dt is None else {"dtype": getattr(cr, dt)}
        with torch.autocast(dev, **kw), cr.autocast(dev, **ckw):
            assert cr.is_autocast_enabled(dev) == torch.is_autocast_enabled(dev), (dev, dt)


@pytest.mark.parametrize("make", [lambda m: m.autocast("cuda"), lambda m: m.autocast("cpu", dtype=m.float32)])
def test_autocast_that_pytorch_disables_warns_and_is_disabled(make) -> None:
    with pytest.warns(UserWarning, match="Disabling autocast"):
        region = make(cr)
    with region:
        assert not cr.is_autocast_enabled("cuda") and not cr.is_autocast_enabled("cpu")
    torch = pytest.importorskip("torch")
    with pytest.warns(UserWarning, match="Disabling autocast"):
        make(torch)


def test_autocast_bad_device_type_raises_as_pytorch() -> None:
    with pytest.raises(ValueError, match="device_type"):
        cr.autocast(3)
    with pytest.raises(RuntimeError, match="device type at start of device string: gpu"):
        cr.autocast("gpu")
    torch = _torch()
    with pytest.raises(ValueError):
        torch.autocast(3)
    with pytest.raises(RuntimeError):
        torch.autocast("gpu")


def test_deprecated_cuda_amp_spellings_warn_and_disable() -> None:
    with pytest.warns(FutureWarning, match="deprecated"), pytest.warns(UserWarning, match="Disabling"):
        scaler = cr.cuda.amp.GradScaler()
    assert not scaler.is_enabled()
    with pytest.warns(FutureWarning, match="deprecated"):
        scaler = cr.cuda.amp.GradScaler(enabled=False)
    assert not scaler.is_enabled()
    with pytest.warns(FutureWarning, match="deprecated"), pytest.warns(UserWarning, match="Disabling autocast"):
        with cr.cuda.amp.autocast():
            pass


def _fit_problem(lib, dtype):
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal((6, 3)), dtype=dtype)
    y = lib.tensor(rng.standard_normal((6, 1)), dtype=dtype)
    w = lib.tensor(rng.standard_normal((3, 1)), dtype=dtype, requires_grad=True)
    return x, y, w


@pytest.mark.parametrize("how", ["enabled_false", "cuda_default"])
def test_disabled_grad_scaler_is_transparent(how: str) -> None:
    """Disabled (as PyTorch's CPU build makes a CUDA scaler): scale() returns the loss itself,
    step() is optimizer.step(), update() nothing, state_dict() {}, get_scale() 1.0."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scaler = cr.amp.GradScaler(enabled=False) if how == "enabled_false" else cr.amp.GradScaler()
    x, y, w = _fit_problem(cr, cr.float64)
    w2 = cr.tensor(w.detach().numpy().copy(), requires_grad=True)
    opt, opt2 = cr.optim.SGD([w], lr=0.1), cr.optim.SGD([w2], lr=0.1)
    for _ in range(3):
        loss = ((x @ w - y) ** 2).mean()
        assert scaler.scale(loss) is loss
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        scaler.step(opt)
        scaler.update()
        opt.zero_grad()
        ((x @ w2 - y) ** 2).mean().backward()
        opt2.step()
        opt2.zero_grad()
    np.testing.assert_array_equal(w.detach().numpy(), w2.detach().numpy())
    assert not scaler.is_enabled() and scaler.state_dict() == {} and scaler.get_scale() == 1.0


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_cpu_grad_scaler_matches_pytorch_step_for_step() -> None:
    """An enabled CPU scaler against PyTorch's: a huge initial scale overflows the gradients
    (inf), so steps are skipped and the scale backs off until finite, then grows every
    growth_interval good steps; the scales and the parameters agree at every step."""
    torch = _torch()
    runs = {}
    for name, lib in (("cr", cr), ("torch", torch)):
        x, y, w = _fit_problem(lib, lib.float32)
        opt = lib.optim.SGD([w], lr=0.05)
        scaler = lib.amp.GradScaler("cpu", init_scale=2.0**127, growth_interval=2)
        trace = []
        for _ in range(8):
            opt.zero_grad()
            loss = ((x @ w - y) ** 2).mean()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            trace.append((scaler.get_scale(), w.detach().numpy().copy()))
        runs[name] = (trace, scaler.state_dict())
    assert [s for s, _ in runs["cr"][0]] == [s for s, _ in runs["torch"][0]]
    assert runs["cr"][0][0][0] < 2.0**127  # (the first step did overflow)
    for (_, a), (_, b) in zip(runs["cr"][0], runs["torch"][0]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert runs["cr"][1] == runs["torch"][1]


def test_cpu_grad_scaler_state_dict_round_trip_and_misuse() -> None:
    scaler = cr.amp.GradScaler("cpu", init_scale=8.0, growth_interval=3)
    assert scaler.state_dict() == {"scale": 8.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                                   "growth_interval": 3, "_growth_tracker": 0}
    other = cr.amp.GradScaler("cpu")
    other.load_state_dict(scaler.state_dict())
    assert other.get_scale() == 8.0 and other.get_growth_interval() == 3
    x, y, w = _fit_problem(cr, cr.float32)
    opt = cr.optim.SGD([w], lr=0.1)
    scaler.scale(((x @ w - y) ** 2).mean()).backward()
    scaler.unscale_(opt)
    with pytest.raises(RuntimeError, match="unscale_"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="step"):
        scaler.step(opt)


# -- threads, matmul precision, default device ----------------------------------------------

def test_set_num_threads_limits_numpy_s_blas() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    if not blas:
        pytest.skip("NumPy's BLAS is not one threadpoolctl can see")
    before = {i["filepath"]: i["num_threads"] for i in blas}
    try:
        cr.set_num_threads(1)
        assert cr.get_num_threads() == 1
        assert all(i["num_threads"] == 1 for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")
    finally:
        for path, n in before.items():
            threadpoolctl.ThreadpoolController().select(filepath=path).limit(limits=n)
        cr.set_num_threads(max(before.values()))


def test_get_num_threads_is_the_intra_op_count_not_blas_s(monkeypatch) -> None:
    """Unset, the count is what chainrule's ops use (``OMP_NUM_THREADS`` & co., else the cores), as
    torch.get_num_threads gives PyTorch's; not NumPy's BLAS count, which chainrule cuts to one
    once oneDNN holds the threads (a benchmark reading it gave PyTorch one thread against two)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from chainrule import _torch_api
    from chainrule.backend import threads

    monkeypatch.delitem(_torch_api._THREADS, "intra", raising=False)
    monkeypatch.setitem(threads._state, "count", None)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        assert cr.get_num_threads() == 3


@pytest.mark.parametrize("fn", ["set_num_threads", "set_num_interop_threads"])
def test_thread_counts_must_be_positive(fn: str) -> None:
    with pytest.raises(RuntimeError, match="positive"):
        getattr(cr, fn)(0)
    with pytest.raises(TypeError):
        getattr(cr, fn)(2.5)
    torch = _torch()
    with pytest.raises(RuntimeError):
        torch.set_num_threads(0)


def test_interop_threads_read_back() -> None:
    assert cr.get_num_interop_threads() >= 1
    cr.set_num_interop_threads(3)
    assert cr.get_num_interop_threads() == 3


def test_float32_matmul_precision_as_pytorch() -> None:
    before = cr.get_float32_matmul_precision()
    try:
        cr.set_float32_matmul_precision("high")
        assert cr.get_float32_matmul_precision() == "high"
        with pytest.warns(UserWarning, match="no effect"):
            cr.set_float32_matmul_precision("fastest")
        assert cr.get_float32_matmul_precision() == "high"
    finally:
        cr.set_float32_matmul_precision(before)
    torch = _torch()
    assert torch.get_float32_matmul_precision() == "highest"  # (PyTorch's default; chainrule's: checked fresh)
    with pytest.warns(UserWarning):
        torch.set_float32_matmul_precision("fastest")


def test_default_device_and_the_other_top_level_helpers() -> None:
    cr.set_default_device("cpu")
    cr.set_default_device(cr.device("cpu"))
    cr.set_default_device(None)
    assert cr.get_default_device() == cr.device("cpu")
    with pytest.raises(DeviceUnavailableError, match="set_default_device"):
        cr.set_default_device("cuda")
    t = cr.ones(2, 3)
    assert cr.is_tensor(t) and not cr.is_tensor(np.ones(2)) and cr.numel(t) == 6
    assert cr.get_default_dtype() == cr.float32
    with cr.inference_mode():
        assert not (t * 2).requires_grad
    with cr.no_grad():
        assert not cr.is_grad_enabled()


# -- legacy constructors ---------------------------------------------------------------------

LEGACY = {"FloatTensor": "float32", "DoubleTensor": "float64", "HalfTensor": "float16", "LongTensor": "int64",
          "IntTensor": "int32", "ShortTensor": "int16", "CharTensor": "int8", "ByteTensor": "uint8",
          "BoolTensor": "bool"}


@pytest.mark.parametrize("name, dtype", sorted(LEGACY.items()))
def test_legacy_tensor_types(name: str, dtype: str) -> None:
    T = getattr(cr, name)
    a = T(2, 3)
    assert a.shape == (2, 3) and a.dtype == np.dtype(dtype) and not a.requires_grad
    assert T().shape == (0,)
    b = T([1, 0, 2])
    np.testing.assert_array_equal(b.numpy(), np.array([1, 0, 2], dtype=dtype))
    assert isinstance(b, T) and isinstance(b, cr.Tensor)
    other = "float64" if dtype != "float64" else "float32"
    assert not isinstance(cr.zeros(2, dtype=other), T)
    with pytest.raises(TypeError, match=name):
        T(cr.zeros(2, dtype=other))
    torch = pytest.importorskip("torch")
    tb = getattr(torch, name)([1, 0, 2])
    assert str(tb.dtype) == f"torch.{dtype}"
    np.testing.assert_array_equal(tb.numpy(), b.numpy())


def test_tensor_constructor_reads_sizes_and_data_as_pytorch() -> None:
    a = cr.Tensor(3, 4)
    assert a.shape == (3, 4) and a.dtype == cr.float32
    assert cr.Tensor(5).shape == (5,) and cr.Tensor().shape == (0,)
    for data in ([1, 2], (1, 2), [True, False], [[1.5], [2.5]]):
        t = cr.Tensor(data)
        assert t.dtype == cr.float32
        np.testing.assert_array_equal(t.numpy(), np.array(data, dtype=np.float32))
    with pytest.raises(RuntimeError, match="non-negative"):
        cr.Tensor(-1, 2)
    torch = pytest.importorskip("torch")
    for args in ((3, 4), (5,), ([1, 2],), ((1, 2),), ([True, False],)):
        ref, got = torch.Tensor(*args), cr.Tensor(*args)
        assert tuple(ref.shape) == got.shape and str(ref.dtype) == f"torch.{got.dtype}"
        if isinstance(args[0], (list, tuple)):
            np.testing.assert_array_equal(ref.numpy(), got.numpy())


def test_tensor_constructor_keeps_chainrule_s_own_forms() -> None:
    arr = np.arange(3, dtype=np.int16)
    t = cr.Tensor(arr)
    assert t._array is arr and t.dtype == np.int16  # wrapped, not copied, dtype kept
    assert cr.Tensor(t)._array is arr
    assert cr.Tensor(2.5).shape == () and cr.Tensor(2.5).dtype == cr.float32
    assert cr.Tensor(arr.astype(np.float64), True).requires_grad  # the older positional requires_grad
    assert cr.Tensor([1.0], requires_grad=True).requires_grad
    assert cr.Tensor([1, 2], dtype=cr.int64).dtype == cr.int64
    with pytest.raises(DeviceUnavailableError):
        cr.Tensor(2, 3, device="cuda")
    # the library's own conversions keep their meaning (3 is a number there, not a shape)
    assert (cr.ones(2) + 3).numpy().tolist() == [4.0, 4.0]
    assert cr.where(cr.tensor([True, False]), 1, 0).numpy().tolist() == [1, 0]


def test_tensor_constructor_uses_the_default_dtype() -> None:
    cr.set_default_dtype(cr.float64)
    try:
        assert cr.Tensor(2).dtype == cr.float64 and cr.Tensor([1, 2]).dtype == cr.float64
    finally:
        cr.set_default_dtype(cr.float32)


# -- bfloat16 ------------------------------------------------------------------------------

def test_bfloat16_is_a_name_that_refuses_computation_clearly() -> None:
    assert str(cr.bfloat16) == "bfloat16" and repr(cr.bfloat16) == "chainrule.bfloat16"
    assert cr.bfloat16.is_floating_point and cr.bfloat16.itemsize == 2
    attempts = [lambda: cr.zeros(2, dtype=cr.bfloat16), lambda: cr.ones(2).to(cr.bfloat16),
                lambda: cr.tensor([1.0], dtype=cr.bfloat16), lambda: cr.tensor([1.0], dtype="bfloat16"),
                lambda: cr.nn.Linear(2, 2).to(cr.bfloat16), lambda: cr.randn(2, dtype=cr.bfloat16)]
    for attempt in attempts:
        with pytest.raises(TypeError, match="bfloat16.*float32"):
            attempt()
    import pickle

    assert pickle.loads(pickle.dumps(cr.bfloat16)) is cr.bfloat16


# -- f"{loss:.4f}" ----------------------------------------------------------------------------

@pytest.mark.parametrize("value, spec", [(1.23456, ".4f"), (-0.5, "+.2e"), (3.0, ">8.3f"), (2.5, ""), (7, "d"),
                                         (7, "05d"), (True, "")])
def test_format_of_a_0d_tensor_is_its_number_s(value, spec: str) -> None:
    t = cr.tensor(value, dtype=cr.float64 if isinstance(value, float) else None)
    assert format(t, spec) == format(t.item(), spec)
    torch = pytest.importorskip("torch")
    ref = torch.tensor(value, dtype=torch.float64 if isinstance(value, float) else None)
    assert format(t, spec) == format(ref, spec)


def test_format_of_other_tensors() -> None:
    loss = (cr.ones(3, requires_grad=True) * 2).sum()
    assert f"{loss:.4f}" == "6.0000"
    t = cr.tensor([1.5, 2.0])
    assert f"{t}" == str(t)
    with pytest.raises(TypeError):
        f"{t:.3f}"
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError):
        f"{torch.tensor([1.5, 2.0]):.3f}"


# -- torch.linalg ---------------------------------------------------------------------------------

VECTOR_CASES = [((5,), 2, None), ((3, 4), 1, None), ((3, 4), 3, 1), ((2, 3, 4), 2, (0, 2)), ((3, 4), float("inf"), 0),
                ((3, 4), -float("inf"), 1), ((3, 4), 0.5, -1), ((0, 3), 2, 0), ((2, 0), 2, None)]
MATRIX_CASES = [((3, 4), "fro", (-2, -1)), ((2, 3, 4), "fro", (0, 2)), ((3, 4), 1, (-2, -1)), ((3, 4), -1, (-2, -1)),
                ((2, 3, 4), float("inf"), (-2, -1)), ((3, 4), -float("inf"), (1, 0)), ((0, 3, 2), "fro", (-2, -1))]


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _compare_with_torch(fn_name: str, shape, kwargs: dict) -> None:
    torch = _torch()
    for keepdim in (False, True):
        x = _rand(shape)
        a = cr.tensor(x, requires_grad=True)
        b = torch.tensor(x, requires_grad=True)
        ya = getattr(cr.linalg, fn_name)(a, keepdim=keepdim, **kwargs)
        yb = getattr(torch.linalg, fn_name)(b, keepdim=keepdim, **kwargs)
        assert ya.shape == tuple(yb.shape)
        np.testing.assert_allclose(ya.detach().numpy(), yb.detach().numpy(), rtol=1e-12, atol=1e-12)
        g = _rand(tuple(yb.shape), seed=1)
        (ya * cr.tensor(g)).sum().backward()
        (yb * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape, ord, dim", VECTOR_CASES)
def test_vector_norm_matches_pytorch(shape, ord, dim) -> None:
    _compare_with_torch("vector_norm", shape, {"ord": ord, "dim": dim})


@pytest.mark.parametrize("shape, ord, dim", MATRIX_CASES)
def test_matrix_norm_matches_pytorch(shape, ord, dim) -> None:
    _compare_with_torch("matrix_norm", shape, {"ord": ord, "dim": dim})


@pytest.mark.parametrize("shape, ord, dim", [((4,), None, None), ((3, 4), None, None), ((3, 4), 1, None),
                                             ((4,), 3, None), ((3, 4), float("inf"), None), ((2, 3, 4), None, 1),
                                             ((2, 3, 4), None, (0, 1)), ((2, 3, 4), -1, (2, 1))])
def test_norm_chooses_as_pytorch(shape, ord, dim) -> None:
    _compare_with_torch("norm", shape, {"ord": ord, "dim": dim})


@pytest.mark.parametrize("fn, kwargs, smooth", [
    ("vector_norm", {"ord": 2, "dim": 1}, True), ("vector_norm", {"ord": 3}, True),
    ("vector_norm", {"ord": 1, "dim": 0}, False), ("vector_norm", {"ord": float("inf"), "dim": 1}, False),
    ("matrix_norm", {"ord": "fro"}, True), ("matrix_norm", {"ord": 1}, False),
    ("matrix_norm", {"ord": -float("inf")}, False), ("norm", {}, True)])
def test_linalg_norms_pass_gradcheck(fn: str, kwargs: dict, smooth: bool) -> None:
    x = cr.tensor(_rand((2, 3, 4), seed=3), requires_grad=True)  # (no ties, no zeros: differentiable there)
    f = lambda t: getattr(cr.linalg, fn)(t, **kwargs)
    assert gradcheck(f, (x,))
    if smooth:
        assert gradgradcheck(f, (x,))


def test_linalg_refusals() -> None:
    x = cr.randn(3, 3, dtype=cr.float64)
    for ord in ("nuc", 2, -2):  # (computed from the singular values since the SVD landed)
        assert np.isclose(cr.linalg.matrix_norm(x, ord=ord).item(), np.linalg.norm(x.numpy(), ord))
    with pytest.raises(RuntimeError, match="2-tuple"):
        cr.linalg.matrix_norm(x, dim=(0,))
    with pytest.raises(RuntimeError, match="at least 2"):
        cr.linalg.matrix_norm(cr.randn(3))
    with pytest.raises(RuntimeError, match="1-D or 2-D"):
        cr.linalg.norm(cr.randn(2, 2, 2), ord=1)
    with pytest.raises(RuntimeError, match="number"):
        cr.linalg.vector_norm(x, ord="fro")
    with pytest.raises(RuntimeError, match="floating"):
        cr.linalg.matrix_norm(cr.ones(2, 2, dtype=cr.int64))


@pytest.mark.parametrize("fn, kwargs", [("vector_norm", {"ord": 2, "dim": 1}), ("vector_norm", {"ord": 3}),
                                        ("vector_norm", {"ord": float("inf"), "dim": -1}),
                                        ("matrix_norm", {"ord": "fro"}), ("matrix_norm", {"ord": 1}),
                                        ("matrix_norm", {"ord": -float("inf")}), ("norm", {"dim": (0, 2)})])
def test_linalg_norms_forward_mode_matches_pytorch(fn: str, kwargs: dict) -> None:
    torch = _torch()
    x, v = _rand((2, 3, 4), seed=4), _rand((2, 3, 4), seed=5)
    out, tangent = cr.func.jvp(lambda t: getattr(cr.linalg, fn)(t, **kwargs), (cr.tensor(x),), (cr.tensor(v),))
    ref_out, ref_tangent = torch.func.jvp(lambda t: getattr(torch.linalg, fn)(t, **kwargs),
                                          (torch.tensor(x),), (torch.tensor(v),))
    np.testing.assert_allclose(out.numpy(), ref_out.numpy(), rtol=1e-12)
    np.testing.assert_allclose(tangent.numpy(), ref_tangent.numpy(), rtol=1e-10, atol=1e-12)


def test_autocast_state_is_per_thread() -> None:
    """As PyTorch's (and chainrule's grad mode): a region opened in one thread is not seen in another."""
    import threading

    seen = []
    with cr.autocast("cpu"):
        t = threading.Thread(target=lambda: seen.append(cr.is_autocast_enabled("cpu")))
        t.start()
        t.join()
        assert cr.is_autocast_enabled("cpu")
    assert seen == [False]


def test_distributions_and_distributed_are_attributes_of_the_package():
    """``import torch; torch.distributions.Normal(...)`` and ``torch.distributed.is_available()``
    without importing the subpackages first, as in PyTorch."""
    import subprocess
    import sys

    code = ("import chainrule as torch; print(type(torch.distributions.Normal(0.0, 1.0)).__name__, "
            "torch.distributed.is_available() in (True, False), torch.utils.checkpoint.checkpoint.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["Normal", "True", "checkpoint"]


def test_memory_formats_are_accepted_and_change_no_value():
    """``model.to(memory_format=torch.channels_last)`` and the same on tensors (a layout
    request, for speed): accepted, values unchanged."""
    import numpy as np

    import chainrule as torch

    assert repr(torch.channels_last) == "torch.channels_last"
    assert isinstance(torch.contiguous_format, torch.memory_format)
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 3)
    x = torch.randn(2, 3, 6, 6)
    want = conv(x).detach().numpy()
    conv = conv.to(memory_format=torch.channels_last)
    y = x.to(memory_format=torch.channels_last).contiguous(memory_format=torch.channels_last)
    np.testing.assert_array_equal(conv(y).detach().numpy(), want)
