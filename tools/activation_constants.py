"""Constants of src/activations/{smooth,gelu}.rs, computed with mpmath (run: python tools/activation_constants.py).

Roots of the derivatives (as hi + lo float64 pairs) and Chebyshev interpolants, converted to
monomials in u = (x - mid) / half, of smooth factors: each interpolant is printed with its
degree for float32 and for float64 and its measured maximum relative error.
"""

import mpmath as mp

mp.mp.dps = 60


def split(v):
    hi = float(v)
    return hi, float(v - hi)


def sigma(z):
    return 1 / (1 + mp.exp(-z))


K = mp.sqrt(2 / mp.pi)  # gelu tanh form: z = 2 K (x + KAPPA x^3)
KAPPA = mp.mpf("0.044715")


def phi(x):
    return mp.exp(-x * x / 2) / mp.sqrt(2 * mp.pi)


def Phi(x):
    return mp.erfc(-x / mp.sqrt(2)) / 2


def gelu_d(x):
    return Phi(x) + x * phi(x)


def gelu_tanh_factor(x):
    """gelu_tanh'(x) / sigmoid(z) = 1 + x sigmoid(-z) z'."""
    z = 2 * K * (x + KAPPA * x**3)
    dz = 2 * K * (1 + 3 * KAPPA * x * x)
    return 1 + x * sigma(-z) * dz


def mish_q(x):
    e = mp.exp(x)
    return e**3 + 4 * e**2 + 6 * e + 4 + 4 * x * (1 + e)


def cheb_monomial(f, a, b, n, exact=False):
    """Monomial coefficients (constant first) in u = (x - mid)/half of the degree-n Chebyshev
    interpolant of f on [a, b] (as mpmath numbers with exact=True, else float64)."""
    mid, half = (a + b) / 2, (b - a) / 2
    nodes = [mp.cos(mp.pi * (k + mp.mpf(1) / 2) / (n + 1)) for k in range(n + 1)]
    vals = [f(mid + half * u) for u in nodes]
    c = [2 * mp.fsum(vals[k] * mp.cos(j * mp.pi * (k + mp.mpf(1) / 2) / (n + 1)) for k in range(n + 1)) / (n + 1)
         for j in range(n + 1)]
    c[0] /= 2
    # Chebyshev -> monomial: T_0 = 1, T_1 = u, T_{j+1} = 2u T_j - T_{j-1}
    mono = [mp.mpf(0)] * (n + 1)
    for j in range(n + 1):
        for i, v in enumerate(chebT(j)):
            mono[i] += c[j] * v
    return (mono if exact else [float(v) for v in mono]), mid, half


_T = {0: [mp.mpf(1)], 1: [mp.mpf(0), mp.mpf(1)]}


def chebT(j):
    if j not in _T:
        a, b = chebT(j - 1), chebT(j - 2)
        r = [mp.mpf(0)] + [2 * v for v in a]
        for i, v in enumerate(b):
            r[i] -= v
        _T[j] = r
    return _T[j]


def horner(coeffs, u):
    acc = mp.mpf(coeffs[-1])
    for c in reversed(coeffs[:-1]):
        acc = acc * u + c
    return acc


def fit(name, f, a, b, tol32=4e-9, tol64=5e-17, odd=False, lo0=False, in_t=False):
    """The lowest degrees meeting each tolerance (None: skip that type; odd ones only with
    odd=True: with x0 at the center, an even degree would put a node at x0, where f is 0/0). With
    lo0=True the float64 constant term is a pair: its lo part is printed as NAME_F64_LO. With
    in_t=True the coefficients are printed for t = x - mid instead of u (exact: half must be a
    power of two)."""
    a, b = mp.mpf(a), mp.mpf(b)
    grid = [a + (b - a) * (i + mp.mpf(1) / 3) / 401 for i in range(401)]
    ref = [f(x) for x in grid]
    out = {}
    for label, tol in (("f32", tol32), ("f64", tol64)):
        if tol is None:
            continue
        for n in range(5 if odd else 4, 40, 2 if odd else 1):
            exact, mid, half = cheb_monomial(f, a, b, n, exact=True)
            mono = [float(v) for v in exact]
            lo = float(exact[0] - mono[0]) if lo0 and label == "f64" else 0.0
            coeffs = [mp.mpf(mono[0]) + lo] + mono[1:]
            err = max(abs(horner(coeffs, (x - mid) / half) / r - 1) for x, r in zip(grid, ref))
            if err < tol:
                if in_t:
                    assert mp.log(half, 2) == int(mp.log(half, 2))
                    mono = [v / float(half) ** k for k, v in enumerate(mono)]
                out[label] = (n, mono, float(err), lo)
                break
    print(f"// {name} on [{float(a)}, {float(b)}]: u = (x - {float((a + b) / 2)!r}) / {float((b - a) / 2)!r}")
    for label, (n, mono, err, lo) in out.items():
        print(f"// {label}: degree {n}, max relative error {err:.2e}")
        print(f"const {name}_{label.upper()}: [f64; {n + 1}] = {mono!r};")
        if lo:
            print(f"const {name}_{label.upper()}_LO: f64 = {lo!r};")
    return out


def erfcx_tables(n=19):
    """ERFC_G and ERFC_G_LO in src/math.rs: erfc(a) e^(a^2) on the four intervals of erfcx_pair,
    degree-n Chebyshev interpolants as monomials in u; the first three coefficients also as lo
    parts (erfcx_pair adds them as pairs). Prints each interval's relative error with the
    coefficients rounded so (float64 evaluation: about 2^-59)."""
    erfcx = lambda t: mp.erfc(t) * mp.exp(t * t)
    rows, los = [], []
    for a, b in [(0.5, 1.5), (1.5, 3), (3, 5.5), (5.5, 9)]:
        a, b = mp.mpf(a), mp.mpf(b)
        mono, mid, half = cheb_monomial(erfcx, a, b, n, exact=True)
        hi = [float(v) for v in mono]
        lo = [float(mono[k] - hi[k]) for k in range(3)]
        coeffs = [mp.mpf(hi[k]) + lo[k] for k in range(3)] + hi[3:]
        grid = [mid + half * mp.cos(mp.pi * (i + mp.mpf(1) / 3) / 400) for i in range(400)]
        err = max(abs(horner(coeffs, (x - mid) / half) / erfcx(x) - 1) for x in grid)
        print(f"// [{float(a)}, {float(b)}]: degree {n}, max relative error {float(err):.2e}")
        rows.append(hi)
        los.append(lo)
    print(f"const ERFC_G: [[f64; {n + 1}]; 4] = {rows!r};")
    print(f"const ERFC_G_LO: [[f64; 3]; 4] = {los!r};")
    return rows, los


def erfcx_wide(n=14, k=3, top=mp.mpf("14.5")):
    """ERFCX_WIDE in src/activations/gelu.rs: erfc(t) e^(t^2) on [0, top] as a degree-n Chebyshev
    interpolant in w = k / (k + t), printed as monomials in u = (w - mid) / half, with its relative
    error in float64 evaluation (the float32 kernels' budget: 2^-34)."""
    erfcx = lambda t: mp.erfc(t) * mp.exp(t * t)
    a = k / (k + top)
    mono, mid, half = cheb_monomial(lambda w: erfcx(k / w - k), a, mp.mpf(1), n)
    grid = [top * i / 2000 for i in range(2001)] + [mp.mpf(i) / 100000 for i in range(1000)]
    err = max(abs(horner(mono, (k / (k + t) - mid) / half) / erfcx(t) - 1) for t in grid)
    print(f"// erfcx on [0, {float(top)}] in w = {k} / ({k} + t): u = w / {float(half)!r} - {float(mid / half)!r}, "
          f"degree {n}, max relative error {float(err):.2e}")
    print(f"const ERFCX_WIDE: [f64; {n + 1}] = {[float(m) for m in mono]!r};")


def log1p_unit(n=14):
    """LOG1P_UNIT in src/math.rs: log1p(t) / t on [0, 1] as the degree-n Chebyshev interpolant,
    printed as monomials in t itself, with its relative error (the float32 kernels through
    float64, with exp_wide's 2^-37, need about 2^-38)."""
    g = lambda t: mp.log1p(t) / t if t != 0 else mp.mpf(1)
    mono_u = cheb_monomial(g, mp.mpf(0), mp.mpf(1), n, exact=True)[0]
    # u = 2t - 1: expand sum m_i (2t - 1)^i in t.
    mono = [mp.mpf(0)] * (n + 1)
    for i, m in enumerate(mono_u):
        for j in range(i + 1):
            mono[j] += m * mp.binomial(i, j) * 2**j * (-1) ** (i - j)
    coeffs = [float(m) for m in mono]
    grid = [mp.mpf(i) / 4000 for i in range(1, 4001)] + [mp.mpf(2) ** -k for k in range(1, 60)]
    err = max(abs(horner(coeffs, t) * t / mp.log1p(t) - 1) for t in grid)
    print(f"// log1p(t) / t on [0, 1], degree {n}, max relative error 2^{float(mp.log(err, 2)):.1f}")
    print(f"const LOG1P_UNIT: [f64; {n + 1}] = {coeffs!r};")


if __name__ == "__main__":
    x_silu = mp.findroot(lambda x: 1 + x + mp.exp(x), -1.27)
    print("silu' root x0 = -1 - W(1/e):", split(x_silu), "e^x0 =", float(mp.exp(x_silu)))
    x_mish = mp.findroot(mish_q, -1.19)
    print("mish' root:", split(x_mish), "e^x0 =", float(mp.exp(x_mish)))
    x_gelu = mp.findroot(gelu_d, -0.75)
    print("gelu' root:", split(x_gelu))
    x_gt = mp.findroot(gelu_tanh_factor, -0.75)
    print("gelu_tanh' root:", split(x_gt), "e^z0 =", split(mp.exp(2 * K * (x_gt + KAPPA * x_gt**3))))
    print("K:", split(K), "2K:", split(2 * K), "1/sqrt2:", split(1 / mp.sqrt(2)), "2K*KAPPA:", split(2 * K * KAPPA),
          "6K*KAPPA:", split(6 * K * KAPPA), "1/sqrt(2pi):", split(1 / mp.sqrt(2 * mp.pi)))
    fit("GELU_Q", lambda x: gelu_d(x) / (x - x_gelu), x_gelu - 1, x_gelu + 1, odd=True, tol64=None)
    fit("GELU_Q", lambda x: gelu_d(x) / (x - x_gelu), x_gelu - 0.25, x_gelu + 0.25, odd=True, tol32=None,
        tol64=3e-17, lo0=True, in_t=True)
    # gelu.rs (tanh form) root branch: F / t on |t| < 1/8, in t itself (u = 8t scaled back exactly),
    # the constant term as hi + lo.
    for label, n in (("F32", 5), ("F64", 11)):
        mono = cheb_monomial(lambda x: gelu_tanh_factor(x) / (x - x_gt), x_gt - mp.mpf(1) / 8,
                             x_gt + mp.mpf(1) / 8, n, exact=True)[0]
        mono = [m * 8**i for i, m in enumerate(mono)]
        print(f"const GELU_TANH_C0_{label}: (f64, f64) = {split(mono[0])!r};")
        print(f"const GELU_TANH_Q_{label}: [f64; {n}] = {[float(m) for m in mono[1:]]!r};")
    erfcx_tables()
    erfcx_wide()
    fit("TANHSHRINK", lambda z: (mp.sqrt(z) - mp.tanh(mp.sqrt(z))) / mp.sqrt(z) ** 3 if z > 0 else mp.mpf(1) / 3,
        0, 2.25)
    log1p_unit()
