"""cr.load on hostile files: bounded by the file, one clear error; cr.save refuses what cr.load refuses.

Issue 10, item 3.  Hostile files are built here by hand from the format's pieces (a safetensors
container written by ``safetensors.numpy.save`` with a hand-written ``skeleton``), exactly as an
attacker would.  Memory is measured two ways: ``tracemalloc`` (Python and NumPy allocations) in
the property tests, and an address-space limit (``RLIMIT_AS``) in a subprocess for the issue's
allocation attack, so that the run on the unfixed code could not actually take 2 GiB.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import tracemalloc
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import serialization

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def container(skeleton, tensors=None, fmt="chainrule/1") -> bytes:
    """A safetensors file whose metadata holds ``skeleton`` (a JSON-able object, or a str used as is)."""
    from safetensors.numpy import save

    text = skeleton if isinstance(skeleton, str) else json.dumps(skeleton)
    return save(tensors or {}, metadata={"format": fmt, "skeleton": text})


def write(tmp_path, data: bytes, name="hostile.safetensors"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refused(path, *fragments):
    """cr.load(path) raises the one documented exception, whose message names the file and ``fragments``."""
    with pytest.raises(ValueError) as info:
        cr.load(path)
    msg = str(info.value)
    assert os.path.basename(str(path)) in msg, msg
    for frag in fragments:
        assert frag in msg, msg
    assert isinstance(info.value, cr.CheckpointError), f"{type(info.value).__name__}: {msg}"
    return msg


# --- the issue's allocation attack -------------------------------------------------------------

_LIMITED_LOAD = """
import resource, sys
import chainrule as cr

with open("/proc/self/status") as f:
    vm_kb = next(int(line.split()[1]) for line in f if line.startswith("VmSize:"))
limit = vm_kb * 1024 + 256 * 2**20  # what the interpreter holds now, plus 256 MiB
resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
try:
    cr.load(sys.argv[1])
    print("LOADED")
except BaseException as e:
    print(type(e).__name__, "|", e)
"""


def run_with_memory_limit(path) -> str:
    if not sys.platform.startswith("linux"):
        pytest.skip("RLIMIT_AS and /proc/self/status are Linux")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OPENBLAS_NUM_THREADS="1", CHAINRULE_NATIVE="0")
    out = subprocess.run([sys.executable, "-c", _LIMITED_LOAD, str(path)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_issue_void_scalar_of_2147483647_bytes_is_refused_without_allocating(tmp_path):
    """The issue's file: a scalar of dtype "V" with value 2147483647 made cr.load allocate 2 GiB."""
    data = container({"x": {"__scalar__": 2147483647, "dtype": "V"}})
    assert len(data) <= 122
    got = run_with_memory_limit(write(tmp_path, data))
    assert got.startswith("CheckpointError |"), got
    assert "hostile.safetensors" in got and "obj['x']" in got and "'V'" in got


def test_issue_eight_void_scalars_in_460_bytes_are_refused(tmp_path):
    data = container([{"__scalar__": 2147483647, "dtype": "V"}] * 8)
    assert len(data) <= 460
    got = run_with_memory_limit(write(tmp_path, data))
    assert got.startswith("CheckpointError |") and "obj[0]" in got, got


# --- scalars: exactly the dtypes and values cr.save writes ------------------------------------

@pytest.mark.parametrize("scalar", [
    {"__scalar__": 1, "dtype": "O"},
    {"__scalar__": "a", "dtype": "U100"},
    {"__scalar__": 1.0, "dtype": "complex128"},
    {"__scalar__": 1.0, "dtype": "float128"},
    {"__scalar__": 0, "dtype": "datetime64[s]"},
    {"__scalar__": 300, "dtype": "int8"},          # out of range
    {"__scalar__": -1, "dtype": "uint64"},
    {"__scalar__": 2**64, "dtype": "uint64"},
    {"__scalar__": 1, "dtype": "bool"},            # save writes true/false
    {"__scalar__": True, "dtype": "int32"},
    {"__scalar__": 1.5, "dtype": "int64"},
    {"__scalar__": "abc", "dtype": "float32"},
    {"__scalar__": 1e300, "dtype": "float16"},     # not a float16 value
    {"__scalar__": 0.1, "dtype": "float32"},       # save writes float(np.float32(0.1)) = 0.10000000149011612
    {"__scalar__": [1], "dtype": "int64"},
    {"__scalar__": 1},                             # no dtype
    {"__scalar__": 1, "dtype": ["int64"]},
    {"__scalar__": 1, "dtype": "int64", "extra": 0},
])
def test_scalars_outside_what_save_writes_are_refused(tmp_path, scalar):
    refused(write(tmp_path, container({"x": scalar})), "obj['x']")


@pytest.mark.parametrize("value", [np.float16(0.1), np.float32(-0.0), np.float64(np.nan), np.float32(np.inf),
                                   np.int8(-128), np.uint64(2**64 - 1), np.int64(-(2**63)), np.bool_(True),
                                   np.uint16(65535)])
def test_every_scalar_save_writes_loads_back_bit_exact(tmp_path, value):
    cr.save({"x": value}, tmp_path / "s")
    back = cr.load(tmp_path / "s")["x"]
    assert type(back) is type(value)
    assert back.tobytes() == value.tobytes()


@pytest.mark.parametrize("value", [np.longdouble(1.5), np.complex64(1j), np.str_("a"), np.datetime64(0, "s")])
def test_save_refuses_the_scalars_load_refuses(tmp_path, value):
    with pytest.raises(TypeError, match=r"obj\['x'\]"):
        cr.save({"x": value}, tmp_path / "s")
    assert os.listdir(tmp_path) == []


# --- malformed structure -----------------------------------------------------------------------

@pytest.mark.parametrize("skeleton, where", [
    ({"a": {"__tuple__": 5}}, "obj['a']"),                               # 'int' object is not iterable
    ({"a": {"__items__": [[[1], 2]]}}, "obj['a']"),                      # unhashable type: 'list'
    ({"a": {"__items__": [[1]]}}, "obj['a']"),
    ({"a": {"__items__": 5}}, "obj['a']"),
    ({"a": {"__items__": [[{"__tensor__": "w"}, 1]]}}, "obj['a']"),      # a Tensor as a key
    ({"a": {"__items__": [[{"__tuple__": [[1]]}, 2]]}}, "obj['a']"),     # a tuple key holding a list
    ({"a": {"__items__": [], "odict": 1}}, "obj['a']"),
    ({"a": [0, {"__tensor__": [1]}]}, "obj['a'][1]"),
    ({"a": [0, {"__tensor__": "nope"}]}, "obj['a'][1]"),
    ({"a": {"b": {"__tensor__": "i", "requires_grad": True}}}, "obj['a']['b']"),  # int64 can't require grad
    ({"a": {"__tensor__": "w", "ndarray": "yes"}}, "obj['a']"),
    ({"a": {"__tuple__": [], "b": 1}}, "obj['a']"),
    ({"a": {"__foo__": 1}}, "obj['a']"),
    ({"a": {"__tuple__": [1, {"__tensor__": "w", "__scalar__": 1}]}}, "obj['a'][1]"),
])
def test_malformed_structure_is_one_error_naming_the_file_and_key_path(tmp_path, skeleton, where):
    tensors = {"w": np.zeros(2, np.float32), "i": np.arange(3)}
    refused(write(tmp_path, container(skeleton, tensors)), where)


def test_skeleton_that_is_not_json_or_holds_a_huge_integer_is_refused(tmp_path):
    refused(write(tmp_path, container('{"a": [1, 2'), "a.st"), "skeleton")
    refused(write(tmp_path, container('{"a": 1' + "1" * 5000 + "}"), "b.st"), "skeleton")


def test_fifty_thousand_levels_of_nesting_are_refused_not_a_recursion_error(tmp_path):
    deep = '{"a": ' + "[" * 50_000 + "]" * 50_000 + "}"
    refused(write(tmp_path, container(deep), "skel.st"), "nested")
    deep_items = '{"__items__": [[0, ' * 2_000 + "0" + "]]}" * 2_000
    refused(write(tmp_path, container(deep_items), "items.st"), "nested")


def test_deep_nesting_in_the_safetensors_header_itself_is_refused(tmp_path):
    header = ('{"x": ' + "[" * 50_000 + "]" * 50_000 + "}").encode()
    refused(write(tmp_path, len(header).to_bytes(8, "little") + header), "header")


def test_tensor_dtype_that_save_never_writes_is_refused_naming_the_tensor(tmp_path):
    from safetensors.numpy import save

    data = save({"z": np.ones(2, np.complex64)})
    refused(write(tmp_path, data, "plain.st"), "'z'", "C64")
    data = container({"z": {"__tensor__": "z"}}, {"z": np.ones(2, np.complex64)})
    refused(write(tmp_path, data, "chainrule.st"), "'z'", "C64")


def test_zero_size_tensor_with_huge_dimensions_is_refused(tmp_path):
    """safetensors accepts shape [0, 2^62, 2^62] (0 bytes); NumPy can't make it ("array is too big")."""
    from safetensors.numpy import save

    data = bytearray(save({"e": np.zeros((0, 1, 1), np.float32)}))
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    header["e"]["shape"] = [0, 2**62, 2**62]
    text = json.dumps(header).encode()
    refused(write(tmp_path, len(text).to_bytes(8, "little") + text), "'e'")


def test_file_objects_are_named_too():
    buf = io.BytesIO(container({"x": {"__scalar__": 1, "dtype": "O"}}))
    with pytest.raises(cr.CheckpointError, match=r"file object.*obj\['x'\]"):
        cr.load(buf)


def test_checkpoint_error_is_a_value_error_exported_as_cr_checkpoint_error():
    assert issubclass(cr.CheckpointError, ValueError)
    assert cr.CheckpointError is serialization.CheckpointError


# --- nesting depth: the same limit for save and load ------------------------------------------

def nested_lists(depth: int):
    x = [1]
    for _ in range(depth - 1):
        x = [x]
    return x


def test_save_and_load_share_one_nesting_limit(tmp_path):
    limit = serialization.MAX_DEPTH
    cr.save({"a": nested_lists(limit - 1)}, tmp_path / "ok")  # the dict is the first level
    assert cr.load(tmp_path / "ok") == {"a": nested_lists(limit - 1)}
    with pytest.raises(ValueError, match=rf"obj\['a'\](\[0\]){{{limit - 2}}}.*{limit}"):
        cr.save({"a": nested_lists(limit)}, tmp_path / "deep")
    assert not (tmp_path / "deep").exists()
    skeleton = json.dumps({"a": nested_lists(limit)})
    refused(write(tmp_path, container(skeleton), "deep.st"), "nested", str(limit))


def test_tuples_and_int_key_dicts_count_as_levels_for_both(tmp_path):
    limit = serialization.MAX_DEPTH
    x = 0
    for i in range(limit):  # `limit` levels: dicts with int keys and tuples, alternating
        x = (x,) if i % 2 else {i: x}
    cr.save(x, tmp_path / "ok")
    assert cr.load(tmp_path / "ok") == x
    with pytest.raises(ValueError, match=str(limit)):
        cr.save((x,), tmp_path / "deep")
    skeleton = {"__tuple__": [json.loads(serialization.pack(x)["skeleton"])]}
    refused(write(tmp_path, container(skeleton), "deep.st"), "nested")


def test_a_cycle_is_a_clear_error_on_save_not_a_recursion_error(tmp_path):
    a: list = []
    a.append(a)
    with pytest.raises(ValueError, match=rf"obj\['a'\](\[0\])+ is nested deeper than {serialization.MAX_DEPTH}"):
        cr.save({"a": a}, tmp_path / "c")


def test_dict_keys_save_writes_are_scalars_and_tuples_of_them(tmp_path):
    state = {(1, ("a", None)): 2, 1.5: "x", None: 0, True: 1, "__k": 3}
    cr.save(state, tmp_path / "k")
    assert cr.load(tmp_path / "k") == state
    with pytest.raises(TypeError, match=r"key"):
        cr.save({(cr.ones(1),): 1}, tmp_path / "t")


# --- temporary files and the file mode -------------------------------------------------------

_KILLED_WRITE = """
import os, signal, sys
import chainrule as cr

os.replace = lambda src, dst: os.kill(os.getpid(), signal.SIGKILL)  # dies after the bytes, before the rename
cr.save({"w": cr.ones(3)}, sys.argv[1])
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_an_interrupted_write_leaves_no_temporary_file_after_the_next_save(tmp_path):
    path = tmp_path / "c.safetensors"
    cr.save({"w": cr.zeros(3)}, path)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", _KILLED_WRITE, str(path)], env=env, capture_output=True, timeout=120)
    assert out.returncode == -9, out.stderr
    assert len(os.listdir(tmp_path)) == 2  # the killed writer's temporary file is there
    np.testing.assert_array_equal(cr.load(path)["w"].numpy(), [0, 0, 0])  # the old file is intact
    cr.save({"w": cr.full((3,), 2.0)}, path)
    assert os.listdir(tmp_path) == ["c.safetensors"]
    np.testing.assert_array_equal(cr.load(path)["w"].numpy(), [2, 2, 2])


@pytest.mark.skipif(os.name != "posix", reason="process ids")
def test_the_temporary_file_of_a_live_writer_is_left_alone(tmp_path):
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".c.safetensors.tmp-{writer.pid}-0123abcd"
        live.write_bytes(b"half")
        cr.save({"w": cr.ones(1)}, tmp_path / "c.safetensors")
        assert live.exists()
    finally:
        writer.kill()
        writer.wait()
    cr.save({"w": cr.ones(1)}, tmp_path / "c.safetensors")  # its writer is gone now
    assert not live.exists()
    other = tmp_path / f".other.tmp-{writer.pid}-0123abcd"  # another target's temporary file is not ours
    other.write_bytes(b"x")
    cr.save({"w": cr.ones(1)}, tmp_path / "c.safetensors")
    assert other.exists()


@pytest.mark.skipif(os.name != "posix", reason="flock")
def test_a_locked_temporary_file_is_left_alone_even_if_its_process_id_looks_dead(tmp_path):
    """A writer in another PID namespace (a container sharing the folder) has an id that means
    nothing here: the lock it holds while writing is what keeps its file."""
    import fcntl

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    locked = tmp_path / f".c.safetensors.tmp-{int(gone.stdout)}-0123abcd"
    locked.write_bytes(b"half")
    with open(locked, "rb") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        cr.save({"w": cr.ones(1)}, tmp_path / "c.safetensors")
        assert locked.exists()
    cr.save({"w": cr.ones(1)}, tmp_path / "c.safetensors")
    assert not locked.exists()


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_saved_files_get_the_mode_open_would_give(tmp_path, umask, mode):
    from chainrule.train.checkpoint import save_checkpoint

    old = os.umask(umask)
    try:
        cr.save({"w": cr.ones(1)}, tmp_path / "a")
        save_checkpoint({"w": cr.ones(1)}, tmp_path / "sub" / "b")
    finally:
        os.umask(old)
    assert (tmp_path / "a").stat().st_mode & 0o777 == mode
    assert (tmp_path / "sub" / "b").stat().st_mode & 0o777 == mode


# --- property tests: random bytes, mutated valid files, random structures ----------------------

def valid_state():
    cr.manual_seed(0)
    return {
        "model": OrderedDict([("w", cr.randn(3, 2)), ("b", cr.zeros(2))]),
        "opt": {"state": {0: {"step": cr.tensor(3.0), "m": np.arange(4, dtype=np.int32)}},
                "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0]}]},
        "epoch": 7, "seed": np.uint64(2**63 + 1), "name": "run", "none": None,
    }


VALID = None


def valid_bytes() -> bytes:
    global VALID
    if VALID is None:
        buf = io.BytesIO()
        cr.save(valid_state(), buf)
        VALID = buf.getvalue()
    return VALID


# Bytes of memory per byte of file: the tensors cost their bytes (read once from the file), the
# structure costs its Python objects; "{}," (3 bytes) becomes an empty dict parsed from JSON and
# the one built from it (about 2 x 64 bytes + list slots), the worst case measured: 49 per byte
# (test_the_worst_structure_for_memory_stays_under_the_bound); other structures 16-19 per byte.
MEMORY_PER_BYTE = 80
MEMORY_CONSTANT = 256 * 1024


def load_measured(path):
    """(the result or the CheckpointError, peak traced bytes) of cr.load(path)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        try:
            result = cr.load(path)
        except cr.CheckpointError as e:
            result = e
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak


def same(a, b) -> bool:
    """Structural equality: types, dtypes, bits (NaN equals NaN), requires_grad."""
    if type(a) is not type(b):
        return False
    if isinstance(a, cr.Tensor):
        return a.requires_grad == b.requires_grad and same(a._array, b._array)
    if isinstance(a, (np.ndarray, np.generic)):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def check_load(path, size):
    """Only the documented exception, memory bounded by the file, and what loads saves back the same."""
    result, peak = load_measured(path)
    assert peak <= MEMORY_PER_BYTE * size + MEMORY_CONSTANT, (peak, size)
    if isinstance(result, cr.CheckpointError):
        assert os.path.basename(str(path)) in str(result)
        return
    buf = io.BytesIO()
    cr.save(result, buf)  # round-trip symmetry: save accepts whatever load returned
    buf.seek(0)
    assert same(cr.load(buf), result)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile") / "f.safetensors"


SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(data=st.binary(max_size=600))
def test_random_bytes_load_or_raise_the_documented_error(scratch, data):
    scratch.write_bytes(data)
    check_load(scratch, len(data))


@SETTINGS
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.binary(min_size=1, max_size=4)), min_size=1, max_size=6),
       cut=st.none() | st.integers(0, 10**6))
def test_mutated_valid_files_load_or_raise_the_documented_error(scratch, edits, cut):
    data = bytearray(valid_bytes())
    n = 8 + int.from_bytes(data[:8], "little")
    for pos, new in edits:  # mostly inside the header, where the structure is
        pos = pos % n if pos % 4 else pos % len(data)
        data[pos : pos + len(new)] = new
    if cut is not None:
        del data[cut % (len(data) + 1) :]
    scratch.write_bytes(bytes(data))
    check_load(scratch, len(data))


_leaf = (st.none() | st.booleans() | st.integers(-(2**65), 2**65) | st.floats() | st.text(max_size=4)
         | st.sampled_from(["w", "i", "z", "__tensor__", "__scalar__", "__tuple__", "__items__", "odict",
                            "ndarray", "requires_grad", "dtype", "float16", "int8", "uint64", "bool", "V", "O"]))
_key = st.sampled_from(["__tensor__", "__scalar__", "__tuple__", "__items__", "odict", "ndarray",
                        "requires_grad", "dtype", "a", "b"]) | st.text(max_size=3)
_json = st.recursive(_leaf, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(_key, kids, max_size=4),
                     max_leaves=25)


@SETTINGS
@given(skeleton=_json)
def test_random_structures_load_or_raise_the_documented_error(scratch, skeleton):
    tensors = {"w": np.arange(3, dtype=np.float32), "i": np.arange(2), "z": np.zeros((0, 2))}
    data = container(skeleton, tensors)
    scratch.write_bytes(data)
    check_load(scratch, len(data))


_arrays = st.sampled_from(sorted(serialization._DTYPES)).flatmap(
    lambda dt: st.lists(st.integers(0, 1), max_size=5).map(lambda xs: np.array(xs).astype(dt)))
_np_scalars = st.sampled_from(sorted(serialization._DTYPES)).flatmap(
    lambda dt: st.integers(0, 100).map(lambda v: np.array(v).astype(dt)[()]))
_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5) | _arrays | _np_scalars
    | _arrays.map(cr.Tensor._wrap) | _arrays.filter(lambda a: a.dtype.kind == "f").map(
        lambda a: cr.Tensor._wrap(a).requires_grad_(True)),
    lambda kids: (st.lists(kids, max_size=3) | st.lists(kids, max_size=3).map(tuple)
                  | st.dictionaries(st.text(max_size=4), kids, max_size=3)
                  | st.dictionaries(st.integers(-3, 3) | st.tuples(st.integers(), st.none()) | st.text(max_size=3),
                                    kids, max_size=3)
                  | st.dictionaries(st.text(max_size=3), kids, max_size=3).map(OrderedDict)),
    max_leaves=15)


@SETTINGS
@given(state=_values)
def test_whatever_save_writes_load_gives_back(scratch, state):
    cr.save(state, scratch)
    back, peak = load_measured(scratch)
    assert same(back, state)
    assert peak <= MEMORY_PER_BYTE * scratch.stat().st_size + MEMORY_CONSTANT


def test_the_worst_structure_for_memory_stays_under_the_bound(tmp_path):
    """Many empty containers (the most Python objects per byte of file) and one large tensor."""
    for i, skeleton in enumerate(["[" + ",".join(["{}"] * 20_000) + "]", "[" + ",".join(["[]"] * 20_000) + "]",
                                  "[" + ",".join(['{"__tuple__":[]}'] * 5_000) + "]"]):
        path = write(tmp_path, container(skeleton), f"s{i}")
        result, peak = load_measured(path)
        assert not isinstance(result, Exception)
        assert peak <= MEMORY_PER_BYTE * path.stat().st_size + MEMORY_CONSTANT
    path = tmp_path / "big"
    cr.save({"w": cr.zeros(1_000_000)}, path)
    result, peak = load_measured(path)
    assert peak <= 2.2 * path.stat().st_size  # the array once, plus the bytes it is read from
