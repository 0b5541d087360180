"""Sine, cosine and arctangent from +, -, *, / alone: the same bits on every CPU.

Why the renderer does not call ``np.sin``/``np.cos``/``np.arctan2``: numpy picks their
kernels at run time by CPU feature (AVX-512/SVML, AVX2 or plain libm), and the kernels
differ in the last bit. Measured on one machine: float32 ``np.sin``/``np.cos`` change
when X86_V3 is disabled (``NPY_DISABLE_CPU_FEATURES``), ``np.arctan2`` when X86_V4 is; a
last-bit change flips a pixel wherever a value rounds near .5, so 2-3 of the 194 clips
of ``--size tiny`` came out different. IEEE 754 rounds every +, -, *, / correctly, and
numpy's elementwise ufuncs never fuse two of them, so the polynomials below give
identical results on any CPU and SIMD width. Accuracy (~1e-15) is far below a pixel.
What stays outside: numpy's ``Generator.normal`` calls the C library's exp/log in rare
branches of its ziggurat, where a last-bit difference would have to decide a comparison.
"""

from __future__ import annotations

from math import factorial

import numpy as np

# pi/2 in two parts (Cody-Waite): k * _HALF_PI_HI is exact for the small k of a render
_HALF_PI_HI = 1.57079632673412561417e00
_HALF_PI_LO = 6.07710050650619224932e-11
_HALF_PI = 1.5707963267948966
# Taylor coefficients of sin r / r - 1 and cos r - 1 in powers of r^2; |r| <= pi/4 after
# range reduction, where the first omitted terms are below 1e-19. Integer divisions
# are correctly rounded in Python, so the coefficients are the same everywhere.
_SIN = [(-1) ** i / factorial(2 * i + 1) for i in range(1, 9)]
_COS = [(-1) ** i / factorial(2 * i) for i in range(1, 10)]
# atan(a) for a in [0, 1] is atan(c) + atan(t), t = (a - c) / (1 + a c), c the nearest
# quarter: |t| <= 1/8, and the odd series of atan(t) to t^17 is exact to 1e-17.
_ATAN_AT_QUARTERS = np.array([0.0, 0.24497866312686414, 0.4636476090008061, 0.6435011087932844, 0.7853981633974483])
_ATAN = [(-1) ** i / (2 * i + 1) for i in range(1, 9)]


def _horner(x2: np.ndarray, coefficients: list[float]) -> np.ndarray:
    """sum_i coefficients[i] * x2 ** i, evaluated innermost first (one rounding per step)."""
    acc = np.full_like(x2, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        acc = acc * x2 + c
    return acc


def sin_cos(x) -> tuple[np.ndarray, np.ndarray]:
    """(sin x, cos x) as float64 arrays of x's shape (x in radians, any float input)."""
    x = np.asarray(x, dtype=np.float64)
    k = np.rint(x / _HALF_PI)
    r = (x - k * _HALF_PI_HI) - k * _HALF_PI_LO  # in [-pi/4, pi/4]
    r2 = r * r
    sin_r = r + r * (r2 * _horner(r2, _SIN))
    cos_r = 1.0 + r2 * _horner(r2, _COS)
    quadrant = np.mod(k, 4.0)
    sin = np.select([quadrant == 0, quadrant == 1, quadrant == 2], [sin_r, cos_r, -sin_r], -cos_r)
    cos = np.select([quadrant == 0, quadrant == 1, quadrant == 2], [cos_r, -sin_r, -cos_r], sin_r)
    return sin, cos


def sin(x) -> np.ndarray:
    return sin_cos(x)[0]


def cos(x) -> np.ndarray:
    return sin_cos(x)[1]


def arctan2(y, x) -> np.ndarray:
    """The angle of (x, y) in [-pi, pi], like ``np.arctan2`` (float64; 0 at the origin)."""
    y, x = np.broadcast_arrays(np.asarray(y, dtype=np.float64), np.asarray(x, dtype=np.float64))
    ay, ax = np.abs(y), np.abs(x)
    big, small = np.maximum(ay, ax), np.minimum(ay, ax)
    a = np.divide(small, big, out=np.zeros_like(big), where=big > 0)  # tan of the angle folded into [0, pi/4]
    quarter = np.rint(a * 4.0)
    c = quarter / 4.0
    t = (a - c) / (1.0 + a * c)
    angle = _ATAN_AT_QUARTERS[quarter.astype(np.intp)] + (t + t * (t * t * _horner(t * t, _ATAN)))
    angle = np.where(ay > ax, _HALF_PI - angle, angle)  # unfold: octant, then half-planes
    angle = np.where(x < 0, 2 * _HALF_PI - angle, angle)
    return np.where(y < 0, -angle, angle)
