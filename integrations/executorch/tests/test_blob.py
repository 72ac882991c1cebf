"""The Rust reader refuses malformed blobs with an error code, never a crash
(through the C ABI the shim calls), and accepts what the Python writer makes."""

import ctypes

import numpy as np
import pytest

from armrest_executorch import blob as B


def init(lib, data: bytes):
    h = ctypes.c_void_p()
    buf = (ctypes.c_uint8 * max(len(data), 1)).from_buffer_copy(data or b"\0")
    rc = lib.armrest_et_init(buf, ctypes.c_size_t(len(data)), None, None, ctypes.byref(h))
    if rc == 0:
        lib.armrest_et_destroy(h)
    return rc


def small_blob():
    w = B.BlobWriter()
    x = w.value([1, 3, 4, 4])
    w.inputs.append(x)
    t = w.node(B.TRANSPOSE, [x], [1, 4, 4, 3], B.transpose_attrs([0, 2, 3, 1]))
    f = w.constant(np.ones((2, 3, 3, 3), np.float32))
    c = w.node(B.CONV2D, [t, f], [1, 4, 4, 2], B.conv_attrs((1, 1, 1, 1), (1, 1), (1, 1)))
    y = w.node(B.MEAN, [c], [1, 2], B.mean_attrs([1, 2], False))
    w.outputs.append(y)
    return w.finish()


def test_valid_blob_initialises(armrest):
    armrest.armrest_et_init.restype = ctypes.c_int32
    assert init(armrest, small_blob()) == 0


def test_truncated_and_corrupted_blobs_are_refused(armrest):
    good = small_blob()
    for n in range(0, len(good), 7):
        assert init(armrest, good[:n]) != 0, n
    bad_magic = b"X" + good[1:]
    assert init(armrest, bad_magic) == 1
    wrong_version = good[:8] + (3).to_bytes(4, "little") + good[12:]
    assert init(armrest, wrong_version) == 2
    assert init(armrest, good[:-4]) == 3
    flipped = bytearray(good)
    flipped[80] ^= 0xFF
    assert init(armrest, bytes(flipped)) == 4
    rng = np.random.default_rng(0)
    for _ in range(300):
        b = bytearray(good)
        for i in rng.integers(0, len(b), size=3):
            b[i] = int(rng.integers(0, 256))
        assert init(armrest, bytes(b)) in (0, 1, 2, 3, 4, 5)
    armrest.armrest_last_error.restype = ctypes.c_char_p


def test_options_are_validated(armrest):
    import armrest_executorch

    with pytest.raises(ValueError, match="num_threads"):
        armrest_executorch.set_options(num_threads=-3)
    with pytest.raises(ValueError, match="verify"):
        armrest_executorch.set_options(verify="maybe")
    with pytest.raises(ValueError, match="unknown option"):
        armrest_executorch.set_options(colour="blue")
    armrest_executorch.set_options(num_threads=2, verify=True)
    assert armrest_executorch.config()[1] == 2
