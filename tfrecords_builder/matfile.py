"""MATLAB ``.mat`` files: what a file really is, read by its own format, within a memory bound.

The CinC releases store ``val`` (leads x samples, int16) in MATLAB v4 files whose
WFDB header reads it as format 16 at byte offset 24. A file re-saved as MATLAB v5,
holding floats, holding ``val`` transposed, or not a MATLAB file at all must not be
read at that offset: :func:`mat_format` identifies the file from its first bytes,
the fast path is taken only for the exact v4 int16 layout the header describes, and
everything else goes through ``scipy.io`` (v4 and v5) or is rejected with the reason.

Example:
>>> mat_format(b"MATLAB 5.0 MAT-file" + bytes(105) + b"\\x00\\x01IM")
'v5'
>>> mat_format(b"not a MATLAB file at all, just some text .......")
'not MATLAB'
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfrecords_builder.errors import HeaderError

#: Per-record memory bound: a matrix with more values than this is not loaded.
MAX_MATRIX_VALUES = 64 * 1024 * 1024
_V4_HEADER = np.dtype([("type", "<i4"), ("mrows", "<i4"), ("ncols", "<i4"), ("imagf", "<i4"),
                       ("namlen", "<i4")])
_V4_INT16 = 30  # MOPT: little-endian IEEE (M=0), O=0, int16 (P=3), full matrix (T=0)


def _v4_header(head: bytes):
    """The fields of a MATLAB v4 matrix header (little- or big-endian), or None."""
    if len(head) < _V4_HEADER.itemsize:
        return None
    for dtype in (_V4_HEADER, _V4_HEADER.newbyteorder(">")):
        fields = np.frombuffer(head[:dtype.itemsize], dtype=dtype)[0]
        mopt = int(fields["type"])
        m, o, p, t = mopt // 1000, mopt // 100 % 10, mopt // 10 % 10, mopt % 10
        if (0 <= mopt < 5000 and o == 0 and p <= 5 and t <= 2 and fields["imagf"] in (0, 1)
                and fields["mrows"] >= 0 and fields["ncols"] >= 0 and 1 <= fields["namlen"] <= 64
                and m in (0, 1)):
            name_end = dtype.itemsize + int(fields["namlen"])
            name = head[dtype.itemsize:name_end]
            if len(name) == fields["namlen"] and name.endswith(b"\x00") and name[:-1].isascii():
                return fields, name[:-1].decode()
    return None


def mat_format(head: bytes) -> str:
    """``'v4'``, ``'v5'``, ``'v7.3'`` or ``'not MATLAB'`` from a file's first 128 bytes."""
    if head[:10] == b"MATLAB 7.3":
        return "v7.3"
    if head.startswith(b"MATLAB 5.0") and head[126:128] in (b"IM", b"MI"):
        return "v5"
    return "v4" if _v4_header(head) is not None else "not MATLAB"


def check_mat_file(path: Path) -> tuple[str, bytes]:
    """``(format, first bytes)`` of a ``.mat`` file scipy can read, else HeaderError (why)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(128)
    except OSError as error:
        raise HeaderError(f"{path}: cannot read ({error.strerror})") from None
    if not head:
        raise HeaderError(f"{path}: empty file (0 bytes); expected a MATLAB v4 or v5 file")
    kind = mat_format(head)
    if kind == "v7.3":
        raise HeaderError(
            f"{path}: MATLAB v7.3 (HDF5) file; re-save it with save(..., '-v7') or '-v4'")
    if kind == "not MATLAB":
        raise HeaderError(f"{path}: not a MATLAB file (starts with {head[:16]!r}); "
                          f"expected a MATLAB v4 or v5 file")
    return kind, head


def _load_matrix(path: Path, name: str) -> np.ndarray:
    """Variable ``name`` of a v4/v5 file, after checking its size against the memory bound."""
    import scipy.io

    try:
        entries = {entry[0]: entry for entry in scipy.io.whosmat(path)}
        if name not in entries:
            raise HeaderError(
                f"{path}: no variable {name!r} (holds {', '.join(entries) or 'nothing'})")
        shape = entries[name][1]
        if int(np.prod(shape, dtype=np.int64)) > MAX_MATRIX_VALUES:
            raise HeaderError(f"{path}: {name} has shape {shape}, more than the per-record "
                              f"bound of {MAX_MATRIX_VALUES} values")
        return scipy.io.loadmat(path, variable_names=[name])[name]
    except HeaderError:
        raise
    except (ValueError, TypeError, OSError, NotImplementedError, EOFError) as error:
        raise HeaderError(f"{path}: unreadable MATLAB file ({error})") from None


def samples_by_leads(matrix: np.ndarray, n_leads: int, what: str) -> np.ndarray:
    """A (leads x samples) or transposed (samples x leads) real matrix as (samples, leads).

    Raises:
        HeaderError: not 2-D, not real numbers, or no dimension equals ``n_leads``.
    """
    matrix = np.asarray(matrix)
    if matrix.dtype.kind not in "iuf" or matrix.ndim != 2:
        raise HeaderError(f"{what} is a {matrix.ndim}-D {matrix.dtype} array; expected a 2-D "
                          f"real matrix of {n_leads} leads x samples")
    if matrix.shape[0] == n_leads:
        return matrix.T
    if matrix.shape[1] == n_leads:
        return matrix  # saved transposed: samples x leads
    raise HeaderError(f"{what} has shape {matrix.shape}; expected {n_leads} leads x samples")


def read_val(path: Path, n_signals: int, byte_offset: int, max_samples: int | None) -> np.ndarray:
    """The digital samples of a CinC ``.mat`` (its ``val``) as (samples, signals).

    The exact layout the WFDB header describes (v4, int16, ``n_signals`` rows,
    data at ``byte_offset``) is read with one ``numpy.fromfile`` call; any other
    v4/v5 ``val`` (float, other integer types, transposed) is loaded with
    ``scipy.io.loadmat``.

    Raises:
        HeaderError: the file is empty, not MATLAB, has no usable ``val``, or is too large.
    """
    kind, head = check_mat_file(path)
    v4 = _v4_header(head) if kind == "v4" else None
    if v4 is not None:
        fields, name = v4
        if (int(fields["type"]) == _V4_INT16 and name == "val" and int(fields["imagf"]) == 0
                and int(fields["mrows"]) == n_signals
                and _V4_HEADER.itemsize + int(fields["namlen"]) == byte_offset):
            ncols = int(fields["ncols"])
            count = n_signals * (ncols if max_samples is None else min(ncols, max_samples))
            raw = np.fromfile(path, dtype="<i2", count=count, offset=byte_offset)
            if raw.size != count:
                raise HeaderError(f"{path}: truncated: val declares {n_signals} x {ncols} int16 "
                                  f"values, the file holds {raw.size // n_signals} per signal")
            return raw.reshape(-1, n_signals)
    frames = samples_by_leads(_load_matrix(path, "val"), n_signals, f"{path}: val")
    return frames if max_samples is None else frames[:max_samples]


def load_struct_field(path: Path, struct: str, field: str) -> np.ndarray:
    """``struct.field`` of a v4/v5 file (the original CPSC 2018 ``ECG.data``)."""
    check_mat_file(path)
    if path.stat().st_size > MAX_MATRIX_VALUES * 8:
        raise HeaderError(f"{path}: {path.stat().st_size} bytes, more than the per-record bound")
    value = _load_matrix(path, struct)
    try:
        return np.asarray(value[field].item() if value.size == 1 else value[field])
    except (ValueError, KeyError, IndexError) as error:
        raise HeaderError(f"{path}: {struct} has no usable field {field!r} ({error})") from None
