//! Integration tests of the kernels against independent float64 formulas (std math only).
//!
//! The elementwise kernels are listed once, in `visit_all`, each with its reference formula;
//! every elementwise test is a `Visit` implementation run over that list for f32 and f64.

use nonlin::activations::elu::*;
use nonlin::activations::gelu::*;
use nonlin::activations::hard::*;
use nonlin::activations::maxout::{maxout, maxout_backward};
use nonlin::activations::mish::*;
use nonlin::activations::relu::*;
use nonlin::activations::sigmoid::{Sigmoid, SigmoidBackward, SigmoidDerivative};
use nonlin::activations::smooth::*;
use nonlin::activations::tanh::{Tanh, TanhBackward, TanhDerivative};
use nonlin::simd::{Level, set_level};
use nonlin::strided::{View, elementwise};
use nonlin::{Kernel, Real, apply, apply_inplace, apply2};

// ---------------------------------------------------------------- helpers

/// The SIMD level is global and tests run on several threads: a test that sets it holds this
/// lock until it has put the level back, so two such tests never interleave.
static LEVEL_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `f(level)` at every level the CPU has, scalar first, under [`LEVEL_LOCK`]; the level in force
/// before is restored afterwards, also when `f` panics.
fn at_each_level(mut f: impl FnMut(Level)) {
    struct Restore(Level);
    impl Drop for Restore {
        fn drop(&mut self) {
            set_level(self.0);
        }
    }
    // Dropped in reverse order: the level is restored, then the lock released.
    let _lock = LEVEL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let _restore = Restore(nonlin::level());
    for &l in Level::all().iter().filter(|&&l| l <= Level::detect()) {
        set_level(l);
        f(l);
    }
}

/// Bit pattern of a T (NaN payloads and signs of zero included).
fn bits<T: Real>(v: T) -> u64 {
    match size_of::<T>() {
        4 => unsafe { std::mem::transmute_copy::<T, u32>(&v) as u64 },
        _ => unsafe { std::mem::transmute_copy::<T, u64>(&v) },
    }
}

/// Bit-identical, except that any NaN matches any NaN: which operand's payload and sign a
/// NaN result carries is unspecified (LLVM may commute `g * NaN`), and means nothing.
fn same_bits<T: Real>(a: &[T], b: &[T]) -> bool {
    let same = |x: T, y: T| bits(x) == bits(y) || (x.to_f64().is_nan() && y.to_f64().is_nan());
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(*x, *y))
}

/// Distance of `got` from the exact value `want`, in ulps of T at `want` rounded to T.
/// NaN only matches NaN; infinities only match themselves.
fn ulps<T: Real>(got: T, want: f64) -> f64 {
    let g = got.to_f64();
    if g.is_nan() || want.is_nan() {
        return if g.is_nan() && want.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let r = T::from_f64(want).to_f64();
    if g == want || g == r {
        return 0.0;
    }
    if r.is_infinite() && g.is_finite() && want.is_finite() {
        // want rounds to inf, got is finite: measure at the largest finite value
        let max_ulp = 2f64.powi(if T::MANTISSA_DIGITS == 24 { 104 } else { 971 });
        return (g - want).abs() / max_ulp;
    }
    if r.is_infinite() || g.is_infinite() {
        return f64::INFINITY;
    }
    let min_exp = if T::MANTISSA_DIGITS == 24 {
        -126
    } else {
        -1022
    };
    let e = (((r.abs().to_bits() >> 52) as i32) - 1023).max(min_exp);
    // Two factors: 2^-1074 in one powi would underflow on the way.
    (g - want).abs() / (2f64.powi(e) * 2f64.powi(1 - T::MANTISSA_DIGITS as i32))
}

/// Deterministic pseudo-random numbers.
struct Rng(u64);
impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

#[rustfmt::skip]
const SPECIALS: [f64; 32] = [
    0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN,
    f32::MAX as f64, -(f32::MAX as f64), f64::MAX, -f64::MAX,
    1e-40, -1e-40, 1.401298464324817e-45, -1.401298464324817e-45, // f32 subnormals
    5e-324, -5e-324, 1e-310, -1e-310,                              // f64 subnormals
    f32::MIN_POSITIVE as f64, f64::MIN_POSITIVE, 0.5, -0.5, 1.0, -1.0,
    20.0, -20.0, 100.0, -100.0, -300.0, 800.0, -800.0, 1000.0, -1000.0,
];

fn specials<T: Real>() -> Vec<T> {
    SPECIALS.iter().map(|&v| T::from_f64(v)).collect()
}

/// A few thousand values over [-50, 50] (a grid, random points, small magnitudes), then specials.
fn inputs<T: Real>() -> Vec<T> {
    let mut rng = Rng(1);
    let mut v: Vec<f64> = (0..=4000).map(|i| -50.0 + i as f64 * 0.025).collect();
    v.extend((0..2000).map(|_| rng.range(-50.0, 50.0)));
    v.extend((-45..=1).flat_map(|e| [1.7 * 10f64.powi(e), -1.3 * 10f64.powi(e)]));
    v.extend(SPECIALS);
    // The 64 values of T on each side of each derivative root (silu', mish', gelu').
    for r in nonlin::accuracy::DERIVATIVE_ROOTS {
        if T::MANTISSA_DIGITS == 24 {
            let b = (r as f32).to_bits();
            v.extend((b - 64..=b + 64).map(|b| f32::from_bits(b) as f64));
        } else {
            let b = r.to_bits();
            v.extend((b - 64..=b + 64).map(f64::from_bits));
        }
    }
    v.into_iter().map(T::from_f64).collect()
}

/// Operand pairs for two-input kernels: inputs zipped with a permutation of themselves, every
/// pair of specials, and specials against a sample of the grid (both ways).
fn pairs<T: Real>() -> Vec<(T, T)> {
    let (x, s) = (inputs::<T>(), specials::<T>());
    let n = x.len();
    let mut p: Vec<(T, T)> = (0..n).map(|i| (x[(i * 7919 + 13) % n], x[i])).collect();
    p.extend(s.iter().flat_map(|&a| s.iter().map(move |&b| (a, b))));
    for (&a, &b) in s
        .iter()
        .flat_map(|a| x.iter().step_by(97).map(move |b| (a, b)))
    {
        p.extend([(a, b), (b, a)]);
    }
    p
}

/// Random values over [-50, 50] with the specials interleaved (every fifth element), each mapped
/// through `f` (e.g. to a saved forward output).
fn mixed<T: Real>(n: usize, seed: u64, f: &dyn Fn(f64) -> f64) -> Vec<T> {
    let (s, mut rng) = (specials::<f64>(), Rng(seed));
    let raw = |i: usize, rng: &mut Rng| {
        if i.is_multiple_of(5) {
            s[i / 5 % s.len()]
        } else {
            rng.range(-50.0, 50.0)
        }
    };
    (0..n).map(|i| T::from_f64(f(raw(i, &mut rng)))).collect()
}

/// The piecewise convention: NaN for NaN x, `pos` for x > 0, `nonpos` otherwise.
fn pw(x: f64, pos: f64, nonpos: f64) -> f64 {
    if x.is_nan() {
        f64::NAN
    } else if x > 0.0 {
        pos
    } else {
        nonpos
    }
}
fn sigmoid_ref(x: f64) -> f64 {
    let e = (-x.abs()).exp();
    if x < 0.0 {
        e / (1.0 + e)
    } else {
        1.0 / (1.0 + e)
    }
}
fn sigmoid_derivative_ref(x: f64) -> f64 {
    let e = (-x.abs()).exp();
    e / ((1.0 + e) * (1.0 + e))
}
fn tanh_derivative_ref(x: f64) -> f64 {
    let e = (-2.0 * x.abs()).exp();
    4.0 * e / ((1.0 + e) * (1.0 + e))
}
/// `g alpha e^x` for x <= 0; where `e^x` is subnormal or `g` near overflow, as
/// `g e^(x/2) e^(x/2) alpha`: no overflow of `g alpha`, no subnormal unless the result is one.
fn elu_backward_ref(g: f64, x: f64, alpha: f64) -> f64 {
    let (e, h) = (x.exp(), (0.5 * x).exp());
    // e^x > 0 for every finite x, so an infinite g stays infinite.
    let v = if g.is_infinite() && x.is_finite() {
        g * alpha
    } else if e >= f64::MIN_POSITIVE && g.abs() <= f64::MAX / 4.0 {
        g * e * alpha
    } else {
        g * h * h * alpha
    };
    pw(x, g, v)
}

// ---------------------------------------------------------------- references: torch.nn.functional's elementwise functions
//
// Written from the definitions with std math only. Where a function is `f e^a` with `e^a` tiny, it
// is evaluated as `((g e^(a/2)) f) e^(a/2)` ([`sc`]), so that neither a subnormal `e^a` nor a huge
// gradient loses the result. Where a reference's own terms cancel (near the roots of the
// derivatives, where float64 cannot resolve the value), it says so with [`cancels`]: the sweep
// then also accepts an error below that reference's own rounding error (a few float64 epsilons of
// the terms; invisible at float32).

thread_local! {
    /// Absolute error the current reference value may carry (0: the reference is accurate).
    static FLOOR: std::cell::Cell<f64> = const { std::cell::Cell::new(0.0) };
    /// Set while a float32 kernel that evaluates through float64 is checked ([`THROUGH_F64`]).
    static WIDE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The float32 backward kernels that evaluate in float64 (`nonlin::simd::via_f64`): `g d(x)`
/// with `d(x)` a float64 value, so an infinite `g` gives NaN where `d(x)` underflows float64
/// (`e^a` below 2^-1075), as `inf * 0` (PyTorch and NumPy give NaN there too), not at `a <
/// -1e4` as the pair kernels.
const THROUGH_F64: [&str; 6] = [
    "logsigmoid_backward",
    "gelu_backward",
    "gelu_tanh_backward",
    "silu_backward",
    "mish_backward",
    "tanhshrink_backward",
];

/// The current reference sums terms of total magnitude `terms` (with their final scaling).
fn cancels(terms: f64) {
    FLOOR.with(|f| f.set(f.get().max(16.0 * f64::EPSILON * terms.abs())));
}

/// `g f e^a`, rounded a few times but never through a subnormal intermediate. An infinite `g`
/// stays infinite where `e^a > 0` in the kernels' sense (`a >= -1e4`, see `exp_split`, or for
/// [`THROUGH_F64`] where `e^a` does not round to 0 in float64).
fn sc(g: f64, f: f64, a: f64) -> f64 {
    if g.is_infinite() && a.is_finite() && f != 0.0 && !f.is_nan() {
        let zero = if WIDE.with(|w| w.get()) { a.exp() == 0.0 } else { a < -1e4 };
        return if zero { f64::NAN } else { g * f.signum() };
    }
    if g * f == 0.0 && !a.is_nan() {
        return g * f; // a zero gradient stays 0, also where e^a overflows (or a = inf)
    }
    let e = a.exp();
    if e >= f64::MIN_POSITIVE * 1e20 && e.is_finite() && (g * f).is_finite() {
        // one exp: fewer roundings; a tiny g last, so that it is not rounded on its own
        return if g.abs() < 1.0 && (f * e).is_finite() { g * (f * e) } else { (g * f) * e };
    }
    let h = (0.5 * a).exp();
    if h.is_infinite() && a.is_finite() {
        // e^a beyond float64's square (a tiny g, a negative alpha): e^t e^t e^(a - 2t), exactly
        // split (Sterbenz: a - 2t is within a factor 2 of t).
        let t = a / 3.0;
        let (e, e3) = (t.exp(), (a - 2.0 * t).exp());
        return (((g * e) * f) * e) * e3;
    }
    ((g * h) * f) * h
}

/// `x y` as `(p, e)`, the rounded product and its exact error.
fn two_prod(x: f64, y: f64) -> (f64, f64) {
    let p = x * y;
    (p, x.mul_add(y, -p))
}

/// sigmoid(z + zl) = sc(g, f, a) parts: `(f, a)` with `a = min(z, 0)`.
fn sigmoid_sc(z: f64, zl: f64) -> (f64, f64) {
    let e = (-z.abs()).exp();
    let d = 1.0 + e;
    // d/dz log sigmoid(z) = sigmoid(-z)
    let sn = if z >= 0.0 { e / d } else { 1.0 / d };
    ((1.0 + sn * zl) / d, z.min(0.0))
}

fn silu_ref(g: f64, x: f64, derivative: bool) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x == f64::NEG_INFINITY {
        return if derivative { g * 0.0 } else { -0.0 };
    }
    if x == f64::INFINITY {
        return if derivative { g } else { x };
    }
    let (f, a) = sigmoid_sc(x, 0.0);
    if !derivative {
        return sc(1.0, x * f, a);
    }
    let e = (-x.abs()).exp();
    if x > 0.0 {
        return g * ((1.0 + e + x * e) / ((1.0 + e) * (1.0 + e)));
    }
    // e (1 + x + e) / (1 + e)^2, e = e^x: 1 + x and e cancel near the root -1.28.
    let d2 = (1.0 + e) * (1.0 + e);
    cancels(g * e * ((1.0 + x).abs() + e) / d2);
    sc(g, (1.0 + x + e) / d2, x)
}

fn mish_ref(g: f64, x: f64, derivative: bool) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x == f64::NEG_INFINITY {
        return if derivative { g * 0.0 } else { -0.0 };
    }
    if x == f64::INFINITY {
        return if derivative { g } else { x };
    }
    if x.abs() > 1e4 {
        return match (derivative, x > 0.0) {
            (false, true) => x,
            (false, false) => -0.0,
            (true, true) => g,
            (true, false) => sc(g, -1.0, -1e5), // -0 (mish' < 0 there), or NaN for an infinite g
        };
    }
    if x > 0.0 {
        let f = (-x).exp();
        let dd = 1.0 + 2.0 * f * (1.0 + f); // (n + 2) / e^2x, n = e^x (e^x + 2)
        if !derivative {
            return x * (1.0 + 2.0 * f) / dd;
        }
        return g * (((1.0 + 2.0 * f) * dd + 4.0 * x * f * f * (1.0 + f)) / (dd * dd));
    }
    let e = x.exp();
    let n2 = e * (e + 2.0) + 2.0;
    if !derivative {
        return sc(1.0, x * (e + 2.0) / n2, x);
    }
    // e ((e + 2)(n + 2) + 4x (1 + e)) / (n + 2)^2: the two terms cancel near the root -1.19.
    let (p, q) = ((e + 2.0) * n2, 4.0 * x * (1.0 + e));
    cancels(g * e * (p + q.abs()) / (n2 * n2));
    sc(g, (p + q) / (n2 * n2), x)
}

/// `(z, zl)` with `z + zl = beta x` exactly.
fn softplus_ref(g: f64, x: f64, beta: f64, threshold: f64, derivative: bool) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let (z, zl) = two_prod(beta, x);
    if z > threshold {
        return if derivative { g } else { x };
    }
    if derivative {
        let (f, a) = sigmoid_sc(z, if zl.abs() < 1e-3 { zl } else { 0.0 }); // first order in zl
        return sc(g, f, a);
    }
    if z == f64::NEG_INFINITY {
        return 0.0 / beta;
    }
    // softplus(z + zl) = softplus(z) + sigmoid(z) zl
    let sp = z.max(0.0) + (-z.abs()).exp().ln_1p();
    (sp + sigmoid_ref(z) * zl) / beta
}

fn logsigmoid_ref(g: f64, x: f64, derivative: bool) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if derivative {
        let (f, a) = sigmoid_sc(-x, 0.0);
        return sc(g, f, a);
    }
    -((-x.abs()).exp().ln_1p() - x.min(0.0)) // -0 for large x: log sigmoid(x) < 0
}

fn softsign_ref(g: f64, x: f64, derivative: bool) -> f64 {
    let r = 1.0 / (1.0 + x.abs());
    match (derivative, x.is_infinite()) {
        (false, true) => x.signum(),
        (false, false) => x / (1.0 + x.abs()),
        (true, true) => g * 0.0,
        (true, false) => (g * r) * r,
    }
}

/// Taylor coefficients of tanh (odd powers), from `tanh' = 1 - tanh^2`.
fn tanh_taylor() -> &'static [f64] {
    static C: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    C.get_or_init(|| {
        let mut a = vec![0.0; 130];
        a[1] = 1.0;
        for k in 2..a.len() {
            // k a_k = -sum_{i + j = k - 1} a_i a_j (k - 1 > 0)
            let s: f64 = (1..k - 1).map(|i| a[i] * a[k - 1 - i]).sum();
            a[k] = -s / k as f64;
        }
        a
    })
}

fn tanhshrink_ref(g: f64, x: f64, derivative: bool) -> f64 {
    if derivative {
        let t = x.tanh();
        return (g * t) * t;
    }
    let a = x.abs();
    let y = if a < 1.0 {
        // x^3/3 - 2x^5/15 + ...: alternating, decreasing (the radius is pi/2)
        let c = tanh_taylor();
        (3..c.len())
            .rev()
            .step_by(2)
            .fold(0.0, |s, k| s * a * a - c[k])
            * a
            * a
            * a
    } else {
        let e = (-2.0 * a).exp();
        (a - 1.0) + 2.0 * e / (1.0 + e)
    };
    if x.is_nan() { x } else { y.copysign(x) }
}

const SELU: (f64, f64) = (1.0507009873554805, 1.6732632423543772);

/// `a expm1(x / a)` for x <= 0, the quotient carried in two parts (`expm1(q + r) = expm1(q) +
/// e^q r` to first order), which matters where `q` is large (a negative alpha).
fn celu_ref(x: f64, a: f64) -> f64 {
    let q = x / a;
    let r = (-q).mul_add(a, x) / a;
    let r = if r.abs() < 0.5 { r } else { 0.0 };
    let e = q.exp_m1();
    pw(x, x, a * if q > 1.0 && e.is_finite() { e + q.exp() * r } else { e })
}

/// `g e^(x/a)` for x <= 0, the quotient carried in two parts; infinite g stays infinite.
fn celu_backward_ref(g: f64, x: f64, a: f64) -> f64 {
    let q = x / a;
    // e^(q + r) = e^q (1 + r) while r is small; where it is not, q is so large that e^q is 0 or
    // inf (and 1 + r could have either sign).
    let r = (-q).mul_add(a, x) / a;
    let v = if g.is_infinite() && x.is_finite() {
        g
    } else {
        sc(g, 1.0 + if r.abs() < 0.5 { r } else { 0.0 }, q)
    };
    pw(x, g, v)
}

// gelu: e^(-x^2/2) from x^2 = p + pl exactly; erfc(s) = e^(-s^2) erfcx(s), erfcx by its continued
// fraction (s >= 1/2), erf by its Taylor series (s < 1/2).
const FRAC_1_SQRT_2PI: f64 = 0.3989422804014327;

fn erf_series(s: f64) -> f64 {
    let (mut term, mut sum) = (s, s);
    for n in 1..40 {
        term *= -s * s / n as f64;
        sum += term / (2 * n + 1) as f64;
    }
    sum * std::f64::consts::FRAC_2_SQRT_PI
}

/// `erfcx(|x| / sqrt 2)`, from the continued fraction in `u = |x|` (exact; no rounded
/// `x / sqrt 2`): `sqrt(2/pi) / (u + 1/(u + 2/(u + 3/(u + ...))))`.
fn erfcx_cf(u: f64) -> f64 {
    let n = ((4000.0 / (u * u)) as usize).min(2000) + 50;
    let f = (1..=n).rev().fold(u, |f, k| u + k as f64 / f);
    0.7978845608028654 / f
}

/// `(f, a)` with `gelu(x)` (or `gelu'(x)` times g) `= sc(g, f, a)`.
fn gelu_ref(g: f64, x: f64, derivative: bool) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x.is_infinite() {
        return match (derivative, x > 0.0) {
            (false, true) => x,
            (false, false) => -0.0,
            (true, true) => g,
            (true, false) => g * 0.0,
        };
    }
    if x.abs() > 1e3 {
        return match (derivative, x > 0.0) {
            (false, true) => x,
            (false, false) => -0.0,
            (true, true) => g,
            (true, false) => sc(g, -1.0, -1e5), // -0 (the derivative is negative there), or NaN for an infinite g
        };
    }
    let s = x.abs() * std::f64::consts::FRAC_1_SQRT_2;
    let (p, pl) = two_prod(x, x);
    let (gf, a) = (1.0 - 0.5 * pl, -0.5 * p); // e^(-x^2/2) = gf e^a
    // Phi(-|x|) = half = sc(1, hf, a)
    let (hf, half) = if s < 0.5 {
        (0.5 * (1.0 - erf_series(s)), 0.0)
    } else {
        (0.5 * gf * erfcx_cf(x.abs()), a)
    };
    let phi = FRAC_1_SQRT_2PI * gf; // phi(x) = sc(1, phi, a)
    match (derivative, x > 0.0) {
        (false, true) => x * (1.0 - sc(1.0, hf, half)),
        (false, false) => sc(1.0, x * hf, half),
        (true, true) => g * ((1.0 - sc(1.0, hf, half)) + x * sc(1.0, phi, a)),
        (true, false) => {
            // Phi(x) + x phi(x): the terms cancel near the root -0.75.
            let (t1, t2) = (sc(1.0, hf, half), sc(1.0, x * phi, a));
            if half == a {
                cancels(g * sc(1.0, hf - x * phi, a));
                sc(g, hf + x * phi, a)
            } else {
                cancels(g * (t1 - t2));
                g * (t1 + t2)
            }
        }
    }
}

// gelu's tanh form: x sigmoid(z), z = 2 sqrt(2/pi) (x + 0.044715 x^3), the constants and z in two parts.
const GT_K: (f64, f64) = (1.5957691216057308, -9.96930880911092e-17);
const GT_KAPPA: (f64, f64) = (0.044715, 2.1960211427085595e-18);

fn gelu_tanh_ref(g: f64, x: f64, derivative: bool) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x == f64::NEG_INFINITY {
        return if derivative { g * 0.0 } else { -0.0 };
    }
    if x.abs() > 1e3 {
        return match (derivative, x > 0.0) {
            (false, true) => x,
            (false, false) => -0.0,
            (true, true) => g,
            (true, false) => sc(g, -1.0, -1e5), // -0 (the derivative is negative there), or NaN for an infinite g
        };
    }
    let (x2, x2l) = two_prod(x, x);
    let (x3, x3l) = two_prod(x2, x);
    let x3l = x2l.mul_add(x, x3l);
    let (k3, k3l) = two_prod(GT_KAPPA.0, x3);
    let k3l = k3l + GT_KAPPA.0 * x3l + GT_KAPPA.1 * x3;
    let w = x + k3;
    let wl = (x - w + k3) + k3l; // |k3| vs |x|: fine for this use (two-sum when |x| >= |k3|)
    let wl = if x.abs() >= k3.abs() {
        wl
    } else {
        (k3 - w + x) + k3l
    };
    let (z, zl) = two_prod(GT_K.0, w);
    let zl = zl + GT_K.0 * wl + GT_K.1 * w;
    let (f, a) = sigmoid_sc(z, zl);
    if !derivative {
        return sc(1.0, x * f, a);
    }
    let sn = 1.0 / (1.0 + z.exp()); // sigmoid(-z)
    let dz = GT_K.0 * (1.0 + 3.0 * GT_KAPPA.0 * x * x);
    let t = x * sn * dz;
    cancels(g * sc(1.0, f, a) * (1.0 + t.abs()));
    sc(g, f * (1.0 + t), a)
}

// ---------------------------------------------------------------- the kernel list

type F1<'a> = &'a dyn Fn(f64) -> f64;
type F2<'a> = &'a dyn Fn(f64, f64) -> f64;

trait Visit<T: Real> {
    fn unary<K: Kernel<T, 1>>(&mut self, name: &str, k: K, want: F1);
    /// `second` maps a raw second operand to the kernel's (x to a saved output, or identity).
    fn binary<K: Kernel<T, 2>>(&mut self, name: &str, k: K, want: F2, second: F1);
}

#[rustfmt::skip]
fn visit_all<T: Real>(v: &mut impl Visit<T>, slope: f64, alpha: f64) {
    // The kernels round their f64 parameters to T.
    let (s, a) = (T::from_f64(slope).to_f64(), T::from_f64(alpha).to_f64());
    let id = |b: f64| b;
    let elu = move |x: f64| pw(x, x, a * x.exp_m1());
    v.unary("sigmoid", Sigmoid, &sigmoid_ref);
    v.unary("sigmoid_derivative", SigmoidDerivative, &sigmoid_derivative_ref);
    v.unary("tanh", Tanh, &f64::tanh);
    v.unary("tanh_derivative", TanhDerivative, &tanh_derivative_ref);
    v.unary("relu", Relu, &|x| pw(x, x, 0.0));
    v.unary("relu_derivative", ReluDerivative, &|x| pw(x, 1.0, 0.0));
    v.unary("leaky_relu", LeakyRelu { slope }, &|x| pw(x, x, s * x));
    v.unary("leaky_relu_derivative", LeakyReluDerivative { slope }, &|x| pw(x, 1.0, s));
    v.unary("elu", Elu { alpha }, &elu);
    v.unary("elu_derivative", EluDerivative { alpha }, &|x| pw(x, 1.0, a * x.exp()));
    v.binary("sigmoid_backward", SigmoidBackward, &|g, y| g * (1.0 - y) * y, &sigmoid_ref);
    v.binary("tanh_backward", TanhBackward, &|g, y| g * ((1.0 - y) * (1.0 + y)), &f64::tanh);
    v.binary("relu_backward", ReluBackward, &|g, x| pw(x, g, 0.0), &id);
    v.binary("leaky_relu_backward", LeakyReluBackward { slope }, &|g, x| pw(x, g, s * g), &id);
    v.binary("elu_backward", EluBackward { alpha }, &|g, x| elu_backward_ref(g, x, a), &id);
    v.binary("elu_backward_from_output", EluBackwardFromOutput { alpha }, &|g, y| pw(y, g, g * (y + a)), &elu);
    v.binary("prelu", Prelu, &|x, w| pw(x, x, w * x), &id);
    v.binary("prelu_derivative", PreluDerivative, &|x, w| pw(x, 1.0, w), &id);
    visit_elementwise(v, alpha);
}

/// torch.nn.functional's elementwise functions (the parameters rounded to T as the kernels do).
#[rustfmt::skip]
fn visit_elementwise<T: Real>(v: &mut impl Visit<T>, alpha: f64) {
    let r = |p: f64| T::from_f64(p).to_f64();
    let (a, lam, sa) = (r(alpha), r(SELU.0), r(SELU.0 * SELU.1));
    let id = |b: f64| b;
    let one = |f: fn(f64, f64, bool) -> f64| move |x: f64| f(1.0, x, false);
    let der = |f: fn(f64, f64, bool) -> f64| move |x: f64| f(1.0, x, true);
    let back = |f: fn(f64, f64, bool) -> f64| move |g: f64, x: f64| f(g, x, true);
    v.unary("gelu", Gelu, &one(gelu_ref));
    v.unary("gelu_derivative", GeluDerivative, &der(gelu_ref));
    v.binary("gelu_backward", GeluBackward, &back(gelu_ref), &id);
    v.unary("gelu_tanh", GeluTanh, &one(gelu_tanh_ref));
    v.unary("gelu_tanh_derivative", GeluTanhDerivative, &der(gelu_tanh_ref));
    v.binary("gelu_tanh_backward", GeluTanhBackward, &back(gelu_tanh_ref), &id);
    v.unary("silu", Silu, &one(silu_ref));
    v.unary("silu_derivative", SiluDerivative, &der(silu_ref));
    v.binary("silu_backward", SiluBackward, &back(silu_ref), &id);
    v.unary("mish", Mish, &one(mish_ref));
    v.unary("mish_derivative", MishDerivative, &der(mish_ref));
    v.binary("mish_backward", MishBackward, &back(mish_ref), &id);
    let (beta, th) = (alpha, 20.0);
    v.unary("softplus", Softplus { beta, threshold: th }, &|x| softplus_ref(1.0, x, a, th, false));
    v.unary("softplus_derivative", SoftplusDerivative { beta, threshold: th }, &|x| softplus_ref(1.0, x, a, th, true));
    v.binary("softplus_backward", SoftplusBackward { beta, threshold: th }, &|g, x| softplus_ref(g, x, a, th, true), &id);
    v.unary("logsigmoid", Logsigmoid, &one(logsigmoid_ref));
    v.unary("logsigmoid_derivative", LogsigmoidDerivative, &der(logsigmoid_ref));
    v.binary("logsigmoid_backward", LogsigmoidBackward, &back(logsigmoid_ref), &id);
    v.unary("softsign", Softsign, &one(softsign_ref));
    v.unary("softsign_derivative", SoftsignDerivative, &der(softsign_ref));
    v.binary("softsign_backward", SoftsignBackward, &back(softsign_ref), &id);
    v.unary("tanhshrink", Tanhshrink, &one(tanhshrink_ref));
    v.unary("tanhshrink_derivative", TanhshrinkDerivative, &der(tanhshrink_ref));
    v.binary("tanhshrink_backward", TanhshrinkBackward, &back(tanhshrink_ref), &id);
    let selu = move |x: f64| pw(x, lam * x, sa * x.exp_m1());
    v.unary("selu", Selu, &selu);
    v.unary("selu_derivative", SeluDerivative, &|x| pw(x, lam, sc(1.0, sa, x)));
    v.binary("selu_backward", SeluBackward, &|g, x| pw(x, lam * g, elu_backward_ref(g, x, sa)), &id);
    v.binary("selu_backward_from_output", SeluBackwardFromOutput, &|g, y| pw(y, lam * g, g * (y + sa)), &selu);
    let celu = move |x: f64| celu_ref(x, a);
    v.unary("celu", Celu { alpha }, &celu);
    v.unary("celu_derivative", CeluDerivative { alpha }, &|x| celu_backward_ref(1.0, x, a));
    v.binary("celu_backward", CeluBackward { alpha }, &|g, x| celu_backward_ref(g, x, a), &id);
    v.binary("celu_backward_from_output", CeluBackwardFromOutput { alpha }, &|g, y| pw(y, g, g * ((y + a) / a)), &celu);
    // The piecewise-linear ones: exact, or one rounding of the formula.
    let nan_or = |x: f64, v: f64| if x.is_nan() { x } else { v };
    let clamp = |x: f64, lo: f64, hi: f64| if x < lo { lo } else if x > hi { hi } else { x };
    let mask = move |x: f64, inside: bool, v: f64| nan_or(x, if inside { v } else { 0.0 });
    for (name, lo, hi) in [("hardtanh", -1.0, 1.0), ("relu6", 0.0, 6.0), ("hardtanh(-0.5,2.5)", -0.5, 2.5)] {
        let (min_val, max_val) = (lo, hi);
        v.unary(name, Hardtanh { min_val, max_val }, &|x| clamp(x, lo, hi));
        v.unary(&format!("{name}_derivative"), HardtanhDerivative { min_val, max_val }, &|x| mask(x, lo < x && x < hi, 1.0));
        v.binary(&format!("{name}_backward"), HardtanhBackward { min_val, max_val }, &|g, x| mask(x, lo < x && x < hi, g), &id);
    }
    v.unary("hardsigmoid", Hardsigmoid, &|x| nan_or(x, clamp((x + 3.0) / 6.0, 0.0, 1.0)));
    v.unary("hardsigmoid_derivative", HardsigmoidDerivative, &|x| mask(x, x.abs() < 3.0, 1.0 / 6.0));
    v.binary("hardsigmoid_backward", HardsigmoidBackward, &|g, x| mask(x, x.abs() < 3.0, g / 6.0), &id);
    let hardswish_d = move |x: f64| nan_or(x, if x <= -3.0 { 0.0 } else if x >= 3.0 { 1.0 } else { (2.0 * x + 3.0) / 6.0 });
    v.unary("hardswish", Hardswish, &|x| nan_or(x, if x < -3.0 { -0.0 } else if x > 3.0 { x } else { x * (x + 3.0) / 6.0 }));
    v.unary("hardswish_derivative", HardswishDerivative, &hardswish_d);
    v.binary("hardswish_backward", HardswishBackward, &|g, x| g * hardswish_d(x), &id);
    let lambd = 0.5;
    v.unary("softshrink", Softshrink { lambd }, &|x| nan_or(x, if x > lambd { x - lambd } else if x < -lambd { x + lambd } else { 0.0 }));
    v.unary("hardshrink", Hardshrink { lambd }, &|x| mask(x, x.abs() > lambd, x));
    v.unary("shrink_derivative", ShrinkDerivative { lambd }, &|x| mask(x, x.abs() > lambd, 1.0));
    v.binary("shrink_backward", ShrinkBackward { lambd }, &|g, x| mask(x, x.abs() > lambd, g), &id);
    let (threshold, th) = (0.1, r(0.1));
    v.unary("threshold", Threshold { threshold, value: 20.0 }, &|x| if x <= th { 20.0 } else { x });
    v.unary("threshold_derivative", ThresholdDerivative { threshold }, &|x| mask(x, x > th, 1.0));
    v.binary("threshold_backward", ThresholdBackward { threshold }, &|g, x| mask(x, x > th, g), &id);
    v.unary("two_relu", TwoRelu, &|x| nan_or(x, clamp(x, -1.0, 1.0) + 1.0));
    v.unary("two_relu_derivative", TwoReluDerivative, &|x| mask(x, -1.0 < x && x <= 1.0, 1.0));
    v.binary("two_relu_backward", TwoReluBackward, &|g, x| mask(x, -1.0 < x && x <= 1.0, g), &id);
}

// ---------------------------------------------------------------- accuracy

struct Accuracy {
    failures: Vec<String>,
    /// Worst error per kernel and type (printed with --nocapture).
    worst: Vec<(String, f64)>,
    /// Skip elu_backward with |4 g| overflowing T (see `elu_backward_extreme_gradients`).
    skip_huge_elu_grad: bool,
}

impl Accuracy {
    /// `want` is evaluated here, so that the [`FLOOR`] it sets belongs to it.
    fn check<T: Real>(&mut self, name: &str, args: &[f64], got: T, want: &dyn Fn() -> f64) {
        FLOOR.with(|f| f.set(0.0));
        let want = want();
        let floor = FLOOR.with(|f| f.get());
        // Within the reference's own rounding error (near a root, float64 only): counted as 0.
        let within_floor = (got.to_f64() - want).abs() <= floor;
        let (e, r, key) = (
            if within_floor { 0.0 } else { ulps(got, want) },
            T::from_f64(want),
            format!("{name}<{}>", T::NAME),
        );
        match self.worst.iter_mut().find(|w| w.0 == key) {
            Some(w) => w.1 = w.1.max(e),
            None => self.worst.push((key.clone(), e)),
        }
        // Zeros must have the sign of the reference (which rounding to T keeps).
        let zero_sign_ok = got.to_f64() != 0.0 || r.to_f64() != 0.0 || bits(got) == bits(r);
        if e > looser(&key).unwrap_or(4.0) || !zero_sign_ok {
            self.failures.push(format!(
                "{key}{args:?}: got {got:?}, want {want:e} ({e} ulp)"
            ));
        }
    }
}

/// Kernels allowed more than 4 ulp in this sweep, and why.
fn looser(key: &str) -> Option<f64> {
    match key {
        // The reference's own error reaches about 3.8 ulp in the tail (erfcx's continued
        // fraction, e^(-x^2/2) from libm, the products); the kernel measures 1.3 against mpmath.
        "gelu<float64>" => Some(6.0),
        _ => None,
    }
}

impl<T: Real> Visit<T> for Accuracy {
    fn unary<K: Kernel<T, 1>>(&mut self, name: &str, k: K, want: F1) {
        let x = inputs::<T>();
        let mut out = vec![T::default(); x.len()];
        apply(&k, &x, &mut out);
        for (&x, &y) in x.iter().zip(&out) {
            self.check(name, &[x.to_f64()], y, &|| want(x.to_f64()));
        }
    }
    fn binary<K: Kernel<T, 2>>(&mut self, name: &str, k: K, want: F2, second: F1) {
        let huge = |g: T| T::from_f64(4.0 * g.to_f64()).to_f64().is_infinite();
        let skip = |g: T| self.skip_huge_elu_grad && name == "elu_backward" && huge(g);
        let (a, b): (Vec<T>, Vec<T>) = pairs::<T>()
            .into_iter()
            .filter(|&(g, _)| !skip(g))
            .map(|(a, b)| (a, T::from_f64(second(b.to_f64()))))
            .unzip();
        let mut out = vec![T::default(); a.len()];
        apply2(&k, &a, &b, &mut out);
        WIDE.with(|w| w.set(T::MANTISSA_DIGITS == 24 && THROUGH_F64.contains(&name)));
        for i in 0..a.len() {
            let (a, b) = (a[i].to_f64(), b[i].to_f64());
            self.check(name, &[a, b], out[i], &|| want(a, b));
        }
        WIDE.with(|w| w.set(false));
    }
}

// ---------------------------------------------------------------- SIMD levels

/// Runs each kernel at every level the CPU has (AVX2 and AVX-512, or NEON) and compares the
/// bits with the scalar level.
struct Levels {
    failures: Vec<String>,
}

impl Levels {
    fn compare<T: Real>(&mut self, name: &str, run: &dyn Fn(&mut [T])) {
        let n = inputs::<T>().len().max(pairs::<T>().len());
        let mut want = vec![T::default(); n];
        at_each_level(|l| {
            if l == Level::Scalar {
                run(&mut want);
                return;
            }
            let mut got = vec![T::default(); n];
            run(&mut got);
            // Any NaN matches any NaN (payloads and signs of NaN are not specified).
            let differ =
                |i: usize| bits(got[i]) != bits(want[i]) && !(got[i].is_nan() && want[i].is_nan());
            if let Some(i) = (0..n).find(|&i| differ(i)) {
                self.failures.push(format!(
                    "{name}<{}> at {}: element {i}: {:?} vs scalar {:?}",
                    T::NAME,
                    l.name(),
                    got[i],
                    want[i]
                ));
            }
        });
    }
}

impl<T: Real> Visit<T> for Levels {
    fn unary<K: Kernel<T, 1>>(&mut self, name: &str, k: K, _: F1) {
        let x = inputs::<T>();
        self.compare(name, &|out: &mut [T]| apply(&k, &x, &mut out[..x.len()]));
    }
    fn binary<K: Kernel<T, 2>>(&mut self, name: &str, k: K, _: F2, second: F1) {
        let (a, b): (Vec<T>, Vec<T>) = pairs::<T>()
            .into_iter()
            .map(|(a, b)| (a, T::from_f64(second(b.to_f64()))))
            .unzip();
        self.compare(name, &|out: &mut [T]| {
            apply2(&k, &a, &b, &mut out[..a.len()])
        });
    }
}

/// Every elementwise kernel gives the same bits at every SIMD level as at the scalar level
/// (other tests may run meanwhile at whatever level is set: all levels agree).
#[test]
fn every_level_matches_scalar_bit_for_bit() {
    let mut v = Levels { failures: vec![] };
    for (slope, alpha) in [(0.01, 1.0), (0.2, 1.3), (0.2, -0.7)] {
        visit_all::<f32>(&mut v, slope, alpha);
        visit_all::<f64>(&mut v, slope, alpha);
    }
    assert!(v.failures.is_empty(), "{}", v.failures.join("\n"));
}

fn sweep(skip_huge_elu_grad: bool) {
    let mut acc = Accuracy {
        failures: vec![],
        worst: vec![],
        skip_huge_elu_grad,
    };
    // A negative alpha too: celu's e^(x / alpha) then grows without bound as x -> -inf.
    for (slope, alpha) in [(0.01, 1.0), (0.2, 1.3), (0.2, -0.7)] {
        visit_all::<f32>(&mut acc, slope, alpha);
        visit_all::<f64>(&mut acc, slope, alpha);
    }
    acc.worst
        .iter()
        .for_each(|(k, e)| eprintln!("{k:34} worst {e:.3} ulp"));
    let n = acc.failures.len();
    assert!(
        n == 0,
        "{n} failures, first ones:\n{}",
        acc.failures[..n.min(30)].join("\n")
    );
}

#[test]
fn accuracy_within_4_ulp() {
    sweep(true);
}

/// EluBackward at the extremes: `g` near MAX must not overflow where `g alpha e^x` is finite
/// (a regression: `exp_mul` once applied too little of `2^k` before multiplying by `g`), and an
/// infinite `g` stays infinite for every finite x, far below EXP_MUL_LO too.
#[test]
fn elu_backward_extreme_gradients() {
    let k = EluBackward { alpha: 1.0 };
    let (mut y32, mut y64) = ([0.0f32], [0.0f64]);
    apply2(&k, &[f32::MAX], &[-0.5], &mut y32);
    assert_eq!(
        y32[0],
        (f32::MAX as f64 * (-0.5f64).exp()) as f32,
        "f32: g = MAX, x = -0.5"
    );
    apply2(&k, &[f64::MAX], &[-0.5], &mut y64);
    assert!(
        ulps(y64[0], elu_backward_ref(f64::MAX, -0.5, 1.0)) <= 4.0,
        "f64: {}",
        y64[0]
    );
    apply2(&k, &[f32::INFINITY], &[-300.0], &mut y32);
    assert_eq!(y32[0], f32::INFINITY, "f32: g = inf, x = -300");
    sweep(false);
}

fn f32_at<K: Kernel<f32, 1>>(k: K, x: f32) -> f32 {
    let mut y = [0.0f32];
    apply(&k, &[x], &mut y);
    y[0]
}

/// float32 selu's `λ x` (and `λ g`) is the float64 product rounded to float32: one rounding,
/// provided the float64 product is a float32 midpoint only where it is exact. Checked with the
/// kernels' results on every `NONLIN_SWEEP_STEP`-th positive bit pattern (default 1031; 1 checks
/// all of them).
#[test]
fn selu_scale_through_float64_rounds_once() {
    let step: usize = std::env::var("NONLIN_SWEEP_STEP").map_or(1031, |s| s.parse().unwrap());
    let all: Vec<u32> = (1u32..0x7f80_0000).step_by(step).collect();
    for bits in all.chunks(1 << 22) {
        let x: Vec<f32> = bits.iter().map(|&b| f32::from_bits(b)).collect();
        let (mut y, mut yb) = (vec![0f32; x.len()], vec![0f32; x.len()]);
        apply(&Selu, &x, &mut y);
        apply2(&SeluBackward, &x, &vec![1f32; x.len()], &mut yb);
        check_selu_scale(&x, &y, &yb);
    }
}

fn check_selu_scale(x: &[f32], y: &[f32], yb: &[f32]) {
    for ((&x, &y), &yb) in x.iter().zip(y).zip(yb) {
        let p = x as f64 * SELU_SCALE;
        let exact = (x as f64).mul_add(SELU_SCALE, -p) == 0.0;
        let r = p as f32;
        assert_eq!(
            (y.to_bits(), yb.to_bits()),
            (r.to_bits(), r.to_bits()),
            "x = {x:e}"
        );
        if !exact && r as f64 != p {
            let step = if p > r as f64 { 1 } else { u32::MAX };
            let toward = f32::from_bits(r.to_bits().wrapping_add(step));
            let mid = if r.is_finite() {
                (r as f64 + toward as f64) / 2.0
            } else {
                (f32::MAX as f64 + 2f64.powi(128)) / 2.0
            };
            assert_ne!(p, mid, "x = {x:e}: double rounding");
        }
    }
}

#[test]
fn documented_values() {
    let rel = |got: f32, want: f64| (got as f64 / want - 1.0).abs();
    assert!(rel(f32_at(SigmoidDerivative, 20.0), 2.0611537e-9) < 1e-6);
    assert!(rel(f32_at(SigmoidDerivative, 30.0), 9.357623e-14) < 1e-6);
    assert!(f32_at(TanhDerivative, 10.0) > 0.0);
    assert_eq!(f32_at(Relu, -0.0).to_bits(), 0.0f32.to_bits());
    assert_eq!(
        f32_at(LeakyRelu { slope: 0.01 }, -0.0).to_bits(),
        (-0.0f32).to_bits()
    );
    assert_eq!(f32_at(Tanh, -0.0).to_bits(), (-0.0f32).to_bits());
    assert_eq!(
        f32_at(Elu { alpha: 1.0 }, -0.0).to_bits(),
        (-0.0f32).to_bits()
    );
    assert_eq!(f32_at(Sigmoid, -0.0), 0.5);
    assert_eq!(f32_at(Elu { alpha: 1.5 }, f32::NEG_INFINITY), -1.5);
    assert_eq!(f32_at(ReluDerivative, 0.0), 0.0);
    assert_eq!(f32_at(LeakyReluDerivative { slope: 0.5 }, 0.0), 0.5);
    let mut y = [0.0f64];
    apply2(&ReluBackward, &[f64::NAN], &[-1.0], &mut y);
    assert_eq!(y[0], 0.0, "relu_backward ignores g where x <= 0");
    apply2(&ReluBackward, &[1.0], &[f64::NAN], &mut y);
    assert!(y[0].is_nan());
}

/// NaN in gives NaN out, for every unary kernel (the sweep checks the binary ones).
struct NanIn;
impl<T: Real> Visit<T> for NanIn {
    fn unary<K: Kernel<T, 1>>(&mut self, name: &str, k: K, _: F1) {
        let mut y = [T::default()];
        apply(&k, &[T::from_f64(f64::NAN)], &mut y);
        assert!(y[0].is_nan(), "{name}<{}>(NaN) = {:?}", T::NAME, y[0]);
    }
    fn binary<K: Kernel<T, 2>>(&mut self, _: &str, _: K, _: F2, _: F1) {}
}

#[test]
fn nan_in_nan_out() {
    visit_all::<f32>(&mut NanIn, 0.01, 1.0);
    visit_all::<f64>(&mut NanIn, 0.01, 1.0);
}

// ---------------------------------------------------------------- lengths and layouts

/// Every length 0..=70 and a few large ones: bitwise equal to the kernel on 1-element slices,
/// and apply_inplace equal to apply.
struct Lengths;
const LENGTHS: [usize; 3] = [1000, 4097, 20000];
impl<T: Real> Visit<T> for Lengths {
    fn unary<K: Kernel<T, 1>>(&mut self, name: &str, k: K, _: F1) {
        for n in (0..=70).chain(LENGTHS) {
            let x = mixed::<T>(n, n as u64, &|v| v);
            let (mut out, mut one, mut inplace) =
                (vec![T::default(); n], vec![T::default(); n], x.clone());
            apply(&k, &x, &mut out);
            apply_inplace(&k, &mut inplace);
            (0..n).for_each(|i| apply(&k, &x[i..i + 1], &mut one[i..i + 1]));
            assert!(same_bits(&out, &one), "{name}<{}> n = {n}", T::NAME);
            assert!(
                same_bits(&inplace, &one),
                "{name}<{}> in place, n = {n}",
                T::NAME
            );
        }
    }
    fn binary<K: Kernel<T, 2>>(&mut self, name: &str, k: K, _: F2, second: F1) {
        for n in (0..=70).chain(LENGTHS) {
            let (a, b) = (
                mixed::<T>(n, n as u64, &|v| v),
                mixed::<T>(n, n as u64 + 99, second),
            );
            let (mut out, mut one) = (vec![T::default(); n], vec![T::default(); n]);
            apply2(&k, &a, &b, &mut out);
            (0..n).for_each(|i| apply2(&k, &a[i..i + 1], &b[i..i + 1], &mut one[i..i + 1]));
            assert!(same_bits(&out, &one), "{name}<{}> n = {n}", T::NAME);
        }
    }
}

#[test]
fn position_independence() {
    visit_all::<f32>(&mut Lengths, 0.01, 1.0);
    visit_all::<f64>(&mut Lengths, 0.01, 1.0);
}

/// A strided layout of a logical C-order array inside a Vec.
struct Layout {
    shape: Vec<usize>,
    strides: Vec<isize>,
    base: usize,
    size: usize,
}

impl Layout {
    /// `order`: axes from outermost to innermost in memory; `flip`: axes stored reversed;
    /// `step`: spacing of the innermost axis.
    fn new(shape: &[usize], order: &[usize], flip: &[usize], step: usize) -> Layout {
        let mut strides = vec![0isize; shape.len()];
        let mut s = step as isize;
        for &a in order.iter().rev() {
            strides[a] = s;
            s *= shape[a] as isize;
        }
        let mut base = 0;
        for &a in flip {
            base += (shape[a] - 1) * strides[a] as usize;
            strides[a] = -strides[a];
        }
        Layout {
            shape: shape.to_vec(),
            strides,
            base,
            size: s as usize,
        }
    }
    /// Memory index of the element with C-order index `flat`.
    fn offset(&self, mut flat: usize) -> usize {
        let mut off = self.base as isize;
        for a in (0..self.shape.len()).rev() {
            off += (flat % self.shape[a]) as isize * self.strides[a];
            flat /= self.shape[a];
        }
        off as usize
    }
    fn scatter<T: Real>(&self, logical: &[T]) -> Vec<T> {
        let mut mem = vec![T::from_f64(-7.0); self.size];
        logical
            .iter()
            .enumerate()
            .for_each(|(i, &v)| mem[self.offset(i)] = v);
        mem
    }
    fn gather<T: Real>(&self, mem: &[T]) -> Vec<T> {
        (0..self.shape.iter().product())
            .map(|i| mem[self.offset(i)])
            .collect()
    }
    fn view<'a, T>(&'a self, mem: &[T]) -> View<'a, T> {
        View {
            ptr: unsafe { mem.as_ptr().add(self.base) },
            strides: &self.strides,
        }
    }
    /// Runs `k` from the inputs (in memory laid out as `ins`) into this layout; returns the
    /// output in logical order.
    fn run<T: Real, K: Kernel<T, N>, const N: usize>(
        &self,
        k: &K,
        ins: [(&Layout, &[T]); N],
    ) -> Vec<T> {
        let mut out = vec![T::default(); self.size];
        let views = ins.map(|(l, m)| l.view(m));
        unsafe {
            elementwise(
                k,
                &self.shape,
                views,
                out.as_mut_ptr().add(self.base),
                &self.strides,
            )
        };
        self.gather(&out)
    }
}

/// Groups of layouts of one shape: C order, transposed, permuted, negative strides, stride 2, and
/// mixtures.
#[rustfmt::skip]
fn layouts() -> Vec<Vec<Layout>> {
    let (s3, s2, s1, s4) = ([6, 37, 11], [40, 57], [8, 1, 300], [5, 3, 4, 7]);
    vec![
        vec![
            Layout::new(&s3, &[0, 1, 2], &[], 1),
            Layout::new(&s3, &[2, 1, 0], &[], 1),
            Layout::new(&s3, &[1, 2, 0], &[], 1),
            Layout::new(&s3, &[0, 1, 2], &[0, 2], 1),
            Layout::new(&s3, &[0, 1, 2], &[], 2),
            Layout::new(&s3, &[2, 0, 1], &[1], 3),
        ],
        vec![Layout::new(&s2, &[0, 1], &[], 1), Layout::new(&s2, &[1, 0], &[], 1), Layout::new(&s2, &[1, 0], &[0], 2)],
        vec![Layout::new(&s1, &[0, 1, 2], &[], 1), Layout::new(&s1, &[2, 1, 0], &[0], 1), Layout::new(&s1, &[1, 0, 2], &[2], 2)],
        // Only short rows (several packed into each block), with carries across three outer axes.
        vec![
            Layout::new(&s4, &[0, 1, 2, 3], &[], 1),
            Layout::new(&s4, &[3, 2, 1, 0], &[1], 2),
            Layout::new(&s4, &[1, 3, 0, 2], &[3], 3),
        ],
    ]
}

/// strided::elementwise for every pair of input and output layouts (and in place): bitwise
/// equal to the contiguous result.
struct Strided;
impl<T: Real> Visit<T> for Strided {
    fn unary<K: Kernel<T, 1>>(&mut self, name: &str, k: K, _: F1) {
        for group in layouts() {
            let x = mixed::<T>(group[0].size, 5, &|v| v);
            let mut want = vec![T::default(); x.len()];
            apply(&k, &x, &mut want);
            for (i, lin) in group.iter().enumerate() {
                let xm = lin.scatter(&x);
                for (o, lout) in group.iter().enumerate() {
                    assert!(
                        same_bits(&lout.run(&k, [(lin, &xm)]), &want),
                        "{name}<{}> {i} -> {o}",
                        T::NAME
                    );
                }
                let mut xm = xm;
                let p = unsafe { xm.as_mut_ptr().add(lin.base) };
                let v = View {
                    ptr: p as *const T,
                    strides: &lin.strides,
                };
                unsafe { elementwise(&k, &lin.shape, [v], p, &lin.strides) };
                assert!(
                    same_bits(&lin.gather(&xm), &want),
                    "{name}<{}> in place {i}",
                    T::NAME
                );
            }
        }
    }
    fn binary<K: Kernel<T, 2>>(&mut self, name: &str, k: K, _: F2, second: F1) {
        for group in layouts() {
            let n = group[0].size;
            let (a, b) = (mixed::<T>(n, 6, &|v| v), mixed::<T>(n, 7, second));
            let mut want = vec![T::default(); n];
            apply2(&k, &a, &b, &mut want);
            for i in 0..group.len() {
                let m = group.len();
                let (la, lb, lo) = (&group[i], &group[(i + 1) % m], &group[(i + 2) % m]);
                let got = lo.run(&k, [(la, &la.scatter(&a)), (lb, &lb.scatter(&b))]);
                assert!(same_bits(&got, &want), "{name}<{}> layouts {i}..", T::NAME);
            }
            // The second operand broadcast along the last axis (stride 0, as prelu's weight).
            let shape = &group[0].shape;
            let last = *shape.last().unwrap();
            let bm = mixed::<T>(n / last, 8, second);
            let d = shape.len() - 1;
            let mut strides = vec![0isize; d + 1];
            for a in (0..d).rev() {
                strides[a] = shape[a + 1..d].iter().product::<usize>() as isize;
            }
            let b: Vec<T> = (0..n).map(|i| bm[i / last]).collect();
            apply2(&k, &a, &b, &mut want);
            let bv = View {
                ptr: bm.as_ptr(),
                strides: &strides,
            };
            let am = group[0].scatter(&a);
            let av = group[0].view(&am);
            for lo in &group {
                let mut out = vec![T::default(); lo.size];
                unsafe {
                    elementwise(
                        &k,
                        shape,
                        [av, bv],
                        out.as_mut_ptr().add(lo.base),
                        &lo.strides,
                    )
                };
                assert!(
                    same_bits(&lo.gather(&out), &want),
                    "{name}<{}> broadcast",
                    T::NAME
                );
            }
        }
    }
}

#[test]
fn strided_layouts() {
    visit_all::<f32>(&mut Strided, 0.01, 1.3);
    visit_all::<f64>(&mut Strided, 0.01, 1.3);
    // An empty shape touches nothing (dangling pointers are never read).
    let p = std::ptr::NonNull::<f32>::dangling().as_ptr();
    unsafe {
        elementwise(
            &Sigmoid,
            &[3, 0, 2],
            [View {
                ptr: p as *const f32,
                strides: &[0, 0, 0],
            }],
            p,
            &[0, 0, 0],
        )
    };
}

// ---------------------------------------------------------------- prelu_backward, maxout

/// Runs `f` with nonlin's pool set to `threads` threads (one test at a time: the pool is global).
fn with_threads<R>(threads: usize, f: impl FnOnce() -> R) -> R {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    nonlin::parallel::set_num_threads(threads).unwrap();
    assert_eq!(nonlin::parallel::num_threads(), threads);
    f()
}

/// Runs prelu_backward on cancellation-free data (g > 0, so every term g x is <= 0), checks it
/// against the formula and a naive f64 sum, and returns the weight gradient.
fn check_prelu<T: Real>(outer: usize, c: usize, inner: usize, tol: f64) -> Vec<f64> {
    let n = outer * c * inner;
    let mut rng = Rng((outer * 31 + c * 7 + inner) as u64);
    let x: Vec<T> = (0..n).map(|_| T::from_f64(rng.range(-1.0, 1.0))).collect();
    let g: Vec<T> = (0..n).map(|_| T::from_f64(rng.range(0.01, 1.0))).collect();
    let w: Vec<T> = (0..c)
        .map(|i| T::from_f64(0.3 - 0.5 * i as f64 / c as f64))
        .collect();
    let mut gi = vec![T::default(); n];
    let gw = prelu_backward(&g, &x, &w, inner, &mut gi);
    let mut want = vec![0.0f64; c];
    for i in 0..n {
        let (ch, gv, xv) = ((i / inner) % c, g[i].to_f64(), x[i].to_f64());
        want[ch] += if xv > 0.0 { 0.0 } else { gv * xv };
        let gi_want = T::from_f64(pw(xv, gv, w[ch].to_f64() * gv));
        assert_eq!(
            bits(gi[i]),
            bits(gi_want),
            "({outer},{c},{inner}) grad_input[{i}]"
        );
    }
    assert_eq!(gw.len(), c);
    for ch in 0..c {
        let ok = (gw[ch] - want[ch]).abs() <= tol * want[ch].abs();
        assert!(
            ok,
            "({outer},{c},{inner}) grad_weight[{ch}] = {}, want {}",
            gw[ch], want[ch]
        );
    }
    gw
}

/// (outer, C, inner): every branch of prelu_backward_raw, serial and parallel.
#[rustfmt::skip]
const PRELU_SHAPES: [(usize, usize, usize); 11] = [
    (1, 1, 1), (2, 3, 5), (4, 1, 7), (3, 5, 1), (7, 1, 1), (1, 40000, 1), (3, 40000, 1),
    (5000, 20, 1), (200, 10, 50), (3, 1, 100000), (3, 4, 100000),
];

#[test]
fn prelu_backward_against_naive() {
    for (o, c, i) in PRELU_SHAPES {
        check_prelu::<f32>(o, c, i, 1e-6);
        check_prelu::<f64>(o, c, i, 1e-12);
    }
    // A NaN x: NaN grad_input there and NaN grad_weight for its channel only.
    let (x, g, w) = ([1.0f32, f32::NAN, -2.0, -1.0], [1.0f32; 4], [0.5f32, 0.25]);
    let mut gi = [0.0f32; 4];
    let gw = prelu_backward(&g, &x, &w, 1, &mut gi);
    assert!(
        gi[0] == 1.0 && gi[1].is_nan() && gi[2] == 0.5 && gi[3] == 0.25,
        "{gi:?}"
    );
    assert!(gw[0] == -2.0 && gw[1].is_nan(), "{gw:?}");
}

#[test]
fn prelu_backward_thread_independent() {
    for (o, c, i) in PRELU_SHAPES {
        let one = with_threads(1, || check_prelu::<f32>(o, c, i, 1e-6));
        let two = with_threads(2, || check_prelu::<f32>(o, c, i, 1e-6));
        assert!(same_bits(&one, &two), "({o},{c},{i}): {one:?} vs {two:?}");
    }
}

/// Naive maxout: index (in x) of each group's winner, the first NaN or else the first maximum.
fn maxout_winners<T: Real>(x: &[T], groups: usize, pieces: usize, inner: usize) -> Vec<usize> {
    let outer = x.len() / (groups * pieces * inner);
    let mut win = Vec::new();
    for og in 0..outer * groups {
        for i in 0..inner {
            let idx: Vec<usize> = (0..pieces).map(|p| (og * pieces + p) * inner + i).collect();
            let max = idx
                .iter()
                .map(|&j| x[j])
                .fold(x[idx[0]], |m, v| if v > m { v } else { m });
            let first_nan = idx.iter().find(|&&j| x[j].is_nan());
            win.push(*first_nan.unwrap_or_else(|| idx.iter().find(|&&j| x[j] == max).unwrap()));
        }
    }
    win
}

/// Random data with many ties, ±0, ±inf and a few NaNs; returns (maxout, maxout_backward).
fn check_maxout<T: Real>(
    outer: usize,
    groups: usize,
    pieces: usize,
    inner: usize,
) -> (Vec<T>, Vec<T>) {
    let vals = [
        -2.0,
        -1.0,
        -0.0,
        0.0,
        1.0,
        2.0,
        3.5,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    let mut rng = Rng((outer * 1000 + groups * 100 + pieces * 10 + inner) as u64);
    let (n, shape) = (
        outer * groups * pieces * inner,
        (outer, groups, pieces, inner),
    );
    let mut draw = || {
        if rng.unit() < 0.03 {
            f64::NAN
        } else {
            vals[(rng.unit() * 9.0) as usize]
        }
    };
    let x: Vec<T> = (0..n).map(|_| T::from_f64(draw())).collect();
    let g: Vec<T> = (0..n / pieces)
        .map(|_| T::from_f64(rng.range(-1.0, 1.0)))
        .collect();
    let (mut y, mut gi) = (vec![T::default(); n / pieces], vec![T::from_f64(9.0); n]);
    maxout(&x, groups, pieces, inner, &mut y);
    maxout_backward(&g, &x, groups, pieces, inner, &mut gi);
    let win = maxout_winners(&x, groups, pieces, inner);
    let mut want_gi = vec![T::default(); n];
    win.iter().enumerate().for_each(|(k, &j)| want_gi[j] = g[k]);
    let want_y: Vec<T> = win.iter().map(|&j| x[j]).collect();
    assert!(same_bits(&y, &want_y), "maxout {shape:?}");
    assert!(same_bits(&gi, &want_gi), "maxout_backward {shape:?}");
    (y, gi)
}

#[test]
fn maxout_against_naive() {
    for (o, g, p, i) in [
        (1, 1, 1, 1),
        (3, 4, 5, 1),
        (5, 40, 4, 1), // contiguous groups over several blocks
        (2, 3, 4, 7),
        (4, 5, 3, 33),
        (2, 2, 1, 5),
        (1, 3, 8, 70),
    ] {
        check_maxout::<f32>(o, g, p, i);
        check_maxout::<f64>(o, g, p, i);
    }
    // Explicit: the first NaN wins; the first of tied maxima (-0 before +0) wins.
    let x = [
        1.0f64,
        f64::NAN,
        3.0,
        -f64::NAN,
        2.0,
        1.0,
        2.0,
        -5.0,
        -0.0,
        0.0,
        -1.0,
        -0.0,
    ];
    let (mut y, mut gi) = ([0.0; 3], [0.0; 12]);
    maxout(&x, 3, 4, 1, &mut y); // inner = 1: groups of 4 consecutive values
    maxout_backward(&[10.0, 20.0, 30.0], &x, 3, 4, 1, &mut gi);
    assert!(
        y[0].is_nan() && y[1] == 2.0 && y[2].to_bits() == (-0.0f64).to_bits(),
        "{y:?}"
    );
    assert_eq!(
        gi,
        [
            0.0, 10.0, 0.0, 0.0, 20.0, 0.0, 0.0, 0.0, 30.0, 0.0, 0.0, 0.0
        ]
    );
    let (mut y, mut gi) = ([0.0; 6], [0.0; 12]);
    maxout(&x, 3, 2, 2, &mut y); // inner = 2: groups (x[0], x[2]), (x[1], x[3]), (x[4], x[6]), ...
    maxout_backward(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &x, 3, 2, 2, &mut gi);
    assert!(
        y[0] == 3.0 && y[1].is_nan() && y[1].is_sign_positive() && y[2] == 2.0,
        "{y:?}"
    );
    assert!(
        y[3] == 1.0 && y[4].to_bits() == (-0.0f64).to_bits() && y[5] == 0.0,
        "{y:?}"
    );
    assert_eq!(
        gi,
        [0.0, 2.0, 1.0, 0.0, 3.0, 4.0, 0.0, 0.0, 5.0, 6.0, 0.0, 0.0]
    );
}

// ---------------------------------------------------------------- threads

#[test]
fn large_arrays_thread_independent() {
    let n = 1_000_000;
    let (x, g) = (mixed::<f32>(n, 42, &|v| v), mixed::<f64>(n, 43, &|v| v));
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let run = |threads: usize| {
        with_threads(threads, || {
            let (mut a, mut b, mut c) = (vec![0.0f32; n], vec![0.0f64; n], x.clone());
            apply(&Sigmoid, &x, &mut a);
            apply2(&EluBackward { alpha: 1.0 }, &g, &x64, &mut b);
            apply_inplace(&Tanh, &mut c);
            let (y, gi) = check_maxout::<f64>(8, 64, 4, 300);
            (a, b, c, y, gi)
        })
    };
    let (one, two) = (run(1), run(2));
    assert!(
        same_bits(&one.0, &two.0) && same_bits(&one.2, &two.2),
        "f32 results differ"
    );
    assert!(same_bits(&one.1, &two.1) && same_bits(&one.3, &two.3) && same_bits(&one.4, &two.4));
}

// ---------------------------------------------------------------- softmax, log_softmax, glu, rrelu

use nonlin::activations::glu::{Glu, GluBackwardA, GluBackwardB, glu_backward_contiguous};
use nonlin::activations::relu::rrelu_noise;
use nonlin::activations::softmax::{CHUNK, Op, softmax_backward, softmax_forward, softmax_raw};

/// `a - b` as `(s, err)` with `s + err` exact (TwoSum).
fn two_diff(a: f64, b: f64) -> (f64, f64) {
    let s = a - b;
    let bb = s - a;
    (s, (a - (s - bb)) - (b + bb))
}

/// Naive float64 softmax / log_softmax of the rows of `(outer, len, inner)` along `len`, with
/// the rounding error of `x - m` put back (it is exact for f32 inputs, not for f64 ones).
fn softmax_naive(x: &[f64], len: usize, inner: usize, log: bool) -> Vec<f64> {
    let mut y = vec![0.0; x.len()];
    for o in 0..x.len() / (len * inner) {
        for j in 0..inner {
            let at = |k: usize| o * len * inner + k * inner + j;
            let m = (0..len).map(|k| x[at(k)]).fold(f64::NEG_INFINITY, f64::max);
            let e = |k: usize| {
                let (d, err) = two_diff(x[at(k)], m);
                d.exp() * (1.0 + err)
            };
            // Neumaier's compensated sum (a plain one is off by up to len/2 ulp in f64)
            let (mut s, mut c) = (0.0f64, 0.0f64);
            for v in (0..len).map(e) {
                let t = s + v;
                c += if s.abs() >= v.abs() {
                    (s - t) + v
                } else {
                    (v - t) + s
                };
                s = t;
            }
            let s = s + c;
            for k in 0..len {
                let (d, err) = two_diff(x[at(k)], m);
                y[at(k)] = if log { (d - s.ln()) + err } else { e(k) / s };
            }
        }
    }
    y
}

fn check_softmax<T: Real>(len: usize, inner: usize, outer: usize) {
    let mut rng = Rng(len as u64 * 31 + inner as u64);
    let x: Vec<T> = (0..outer * len * inner)
        .map(|_| T::from_f64(rng.range(-20.0, 20.0)))
        .collect();
    let x64: Vec<f64> = x.iter().map(|v| v.to_f64()).collect();
    for (op, log) in [(Op::Softmax, false), (Op::LogSoftmax, true)] {
        let mut y = vec![T::default(); x.len()];
        softmax_forward(op, &x, len, inner, &mut y);
        let want = softmax_naive(&x64, len, inner, log);
        // log: near 0, in ulps of log(sum) (at least 1)
        let worst = y
            .iter()
            .zip(&want)
            .map(|(g, w)| {
                if log {
                    (g.to_f64() - w).abs()
                        / (w.abs().max(1.0) * 2f64.powi(1 - T::MANTISSA_DIGITS as i32))
                } else {
                    ulps(*g, *w)
                }
            })
            .fold(0.0, f64::max);
        assert!(
            worst <= 4.0,
            "{:?} {} len {len} inner {inner}: {worst} ulp",
            op,
            T::NAME
        );
        // same bits for every thread count
        for threads in [1, 3] {
            let mut z = vec![T::default(); x.len()];
            with_threads(threads, || softmax_forward(op, &x, len, inner, &mut z));
            assert!(same_bits(&y, &z), "{op:?} {threads} threads");
        }
    }
    // backward against the naive vector-Jacobian products
    let mut y = vec![T::default(); x.len()];
    softmax_forward(Op::Softmax, &x, len, inner, &mut y);
    let g: Vec<T> = (0..x.len())
        .map(|_| T::from_f64(rng.range(-1.0, 1.0)))
        .collect();
    let mut out = vec![T::default(); x.len()];
    softmax_backward(Op::SoftmaxBackward, &g, &y, len, inner, &mut out);
    for o in 0..outer {
        for j in 0..inner {
            let at = |k: usize| o * len * inner + k * inner + j;
            let dot: f64 = (0..len)
                .map(|k| g[at(k)].to_f64() * y[at(k)].to_f64())
                .sum();
            let mag: f64 = (0..len)
                .map(|k| (g[at(k)].to_f64() * y[at(k)].to_f64()).abs())
                .sum();
            for k in 0..len {
                let (gk, yk) = (g[at(k)].to_f64(), y[at(k)].to_f64());
                let want = yk * (gk - dot);
                let tol =
                    8.0 * yk.abs() * (gk.abs() + mag) * 2f64.powi(1 - T::MANTISSA_DIGITS as i32);
                assert!(
                    (out[at(k)].to_f64() - want).abs() <= tol + 1e-300,
                    "softmax_backward"
                );
            }
        }
    }
}

/// Calls past `LARGE_BYTES` (their last pass prefetched and, out of place, streamed; rows of
/// 1001, so their starts take every alignment, and rows longer than a chunk) give each row the
/// bits a call on that row alone gives, in place too, at every level.
#[test]
#[cfg_attr(not(target_arch = "x86_64"), ignore)]
fn large_softmax_calls_match_row_by_row() {
    fn check<T: Real>(len: usize) -> Vec<String> {
        let n = (nonlin::simd::LARGE_BYTES / size_of::<T>()).next_multiple_of(len);
        let x: Vec<T> = mixed(n, 19, &|v| v * 4.0);
        let g: Vec<T> = mixed(n, 20, &|v| v);
        let mut y = vec![T::default(); n];
        softmax_forward(Op::Softmax, &x, len, 1, &mut y);
        let (mut bad, rows) = (vec![], n / len);
        let mut out = vec![T::default(); n];
        let mut row = vec![T::default(); len];
        for op in [
            Op::Softmax,
            Op::LogSoftmax,
            Op::SoftmaxBackward,
            Op::LogSoftmaxBackward,
        ] {
            let a = if matches!(op, Op::Softmax | Op::LogSoftmax) { &x } else { &g };
            let mut place = a.clone();
            unsafe {
                softmax_raw(op, a.as_ptr(), y.as_ptr(), out.as_mut_ptr(), rows, len, 1);
                let p = place.as_mut_ptr();
                softmax_raw(op, p, y.as_ptr(), p, rows, len, 1);
            }
            if !same_bits(&out, &place) {
                bad.push(format!("{} {op:?} len {len} in place", T::NAME));
            }
            for r in (0..rows).step_by(97) {
                let at = r * len;
                let (ar, yr) = (a[at..].as_ptr(), y[at..].as_ptr());
                unsafe { softmax_raw(op, ar, yr, row.as_mut_ptr(), 1, len, 1) };
                if !same_bits(&out[at..at + len], &row) {
                    bad.push(format!("{} {op:?} len {len} row {r}", T::NAME));
                }
            }
        }
        bad
    }
    at_each_level(|l| {
        let mut bad = check::<f32>(1001);
        bad.extend(check::<f64>(1001));
        bad.extend(check::<f32>(3 * CHUNK + 5));
        assert!(bad.is_empty(), "{}: {bad:?}", l.name());
    });
}

#[test]
fn softmax_against_naive() {
    for (len, inner, outer) in [
        (1, 1, 5),
        (7, 1, 3),
        (300, 1, 4),
        (16, 1, 37),
        (5, 1, 37),
        (17, 5, 3),
        (40, 33, 2),
        (CHUNK * 2 + 5, 1, 2),
    ] {
        check_softmax::<f32>(len, inner, outer);
        check_softmax::<f64>(len, inner, outer);
    }
}

fn check_rows_of_infinities_and_nan<T: Real>() {
    let (inf, nan) = (f64::INFINITY, f64::NAN);
    let rows: [(&[f64], &[f64], &[f64]); 4] = [
        (&[-inf, 0.0, -inf], &[0.0, 1.0, 0.0], &[-inf, 0.0, -inf]),
        (&[inf, 0.0], &[nan, nan], &[nan, nan]),
        (&[-inf, -inf], &[nan, nan], &[nan, nan]),
        (&[nan, 1.0], &[nan, nan], &[nan, nan]),
    ];
    for (x, soft, log) in rows {
        let x: Vec<T> = x.iter().map(|&v| T::from_f64(v)).collect();
        for (op, want) in [(Op::Softmax, soft), (Op::LogSoftmax, log)] {
            let mut y = vec![T::default(); x.len()];
            softmax_forward(op, &x, x.len(), 1, &mut y);
            assert!(
                y.iter()
                    .zip(want)
                    .all(|(a, &b)| a.to_f64() == b || (a.is_nan() && b.is_nan())),
                "{op:?} {x:?} -> {y:?}"
            );
        }
    }
}

#[test]
fn softmax_rows_of_infinities_and_nan() {
    check_rows_of_infinities_and_nan::<f32>();
    check_rows_of_infinities_and_nan::<f64>();
}

#[test]
fn glu_kernels_against_formula() {
    let mut rng = Rng(5);
    for _ in 0..2000 {
        let (g, a, b) = (
            rng.range(-3.0, 3.0),
            rng.range(-5.0, 5.0),
            rng.range(-60.0, 60.0),
        );
        let s = sigmoid_ref(b);
        let got = f64s(&Glu, [a, b]);
        assert!(ulps(got, a * s) <= 3.0, "glu({a}, {b})");
        assert!(ulps(f64s(&GluBackwardA, [g, b]), g * s) <= 3.0);
        assert!(
            ulps(
                f64s3(&GluBackwardB, [g, a, b]),
                g * a * sigmoid_derivative_ref(b)
            ) <= 6.0, // the plain reference has five roundings; the kernel one
            "glu_backward_b({g}, {a}, {b}) = {} vs {}",
            f64s3(&GluBackwardB, [g, a, b]),
            g * a * sigmoid_derivative_ref(b)
        );
    }
    // the tail: a large, sigmoid(b) far below the float64 normal range
    let got = f64s(&Glu, [1e300, -1000.0]);
    assert!(
        ulps(got, 1e300 * (-500f64).exp() * (-500f64).exp()) <= 2.0,
        "{got}"
    );
    assert_eq!(f64s(&Glu, [f64::INFINITY, -800.0]), f64::INFINITY);
}

/// The one-pass glu gradient (C-contiguous arrays) gives the bits of the two kernels it fuses,
/// at every level, in place too.
#[test]
fn glu_backward_one_pass_matches_the_kernels() {
    fn check<T: Real>(outer: usize, m: usize) {
        let mut rng = Rng((outer * 7 + m) as u64);
        let special = [0.0, -0.0, f64::INFINITY, -f64::INFINITY, f64::NAN, 1e-40, 200.0, -800.0];
        let mut draw = |i: usize, s: f64| {
            T::from_f64(if i % 13 == 5 {
                special[(i / 13) % special.len()]
            } else {
                rng.range(-s, s)
            })
        };
        let x: Vec<T> = (0..outer * 2 * m).map(|i| draw(i, 30.0)).collect();
        let g: Vec<T> = (0..outer * m).map(|i| draw(i + 3, 3.0)).collect();
        at_each_level(|l| {
            let mut want = vec![T::default(); x.len()];
            for r in 0..outer {
                let (a, b) = (&x[r * 2 * m..], &x[r * 2 * m + m..]);
                let gr = &g[r * m..(r + 1) * m];
                let (oa, ob) = want[r * 2 * m..(r + 1) * 2 * m].split_at_mut(m);
                apply2(&GluBackwardA, gr, &b[..m], oa);
                let views = [gr.as_ptr(), a.as_ptr(), b.as_ptr()].map(|ptr| View {
                    ptr,
                    strides: &[1],
                });
                unsafe { elementwise(&GluBackwardB, &[m], views, ob.as_mut_ptr(), &[1]) };
            }
            let mut got = vec![T::default(); x.len()];
            unsafe { glu_backward_contiguous(g.as_ptr(), x.as_ptr(), got.as_mut_ptr(), outer, m) };
            assert!(same_bits(&got, &want), "{} {outer}x{m} at {}", T::NAME, l.name());
            let mut inplace = x.clone();
            let p = inplace.as_mut_ptr();
            unsafe { glu_backward_contiguous(g.as_ptr(), p, p, outer, m) };
            assert!(same_bits(&inplace, &want), "in place, {} {outer}x{m}", T::NAME);
        });
    }
    for (outer, m) in [(3, 37), (2, 5000), (1, 9000), (40, 1)] {
        check::<f32>(outer, m);
        check::<f64>(outer, m);
    }
}

fn f64s<K: Kernel<f64, 2>>(k: &K, [a, b]: [f64; 2]) -> f64 {
    let mut out = [0.0];
    apply2(k, &[a], &[b], &mut out);
    out[0]
}

fn f64s3<K: Kernel<f64, 3>>(k: &K, args: [f64; 3]) -> f64 {
    k.eval::<f64>(args)
}

#[test]
fn rrelu_noise_range_and_determinism() {
    let n = 100_003;
    let (mut a, mut b) = (vec![0f32; n], vec![0f32; n]);
    rrelu_noise(42, 0.125, 1.0 / 3.0, &mut a);
    with_threads(3, || rrelu_noise(42, 0.125, 1.0 / 3.0, &mut b));
    assert!(same_bits(&a, &b));
    assert!(a.iter().all(|&r| (0.125..=1.0f32 / 3.0).contains(&r)));
    let mean = a.iter().map(|&r| r as f64).sum::<f64>() / n as f64;
    assert!((mean - (0.125 + 1.0 / 3.0) / 2.0).abs() < 2e-3, "{mean}");
    // a piece of the stream is the same piece of a longer one
    let mut c = vec![0f64; 10];
    let mut d = vec![0f64; 1000];
    rrelu_noise(7, 0.1, 0.3, &mut c);
    rrelu_noise(7, 0.1, 0.3, &mut d);
    assert!(same_bits(&c, &d[..10]));
}

/// `Vector::load_partial` and `store_partial` at every level the CPU has, for every `n` below
/// the lane count: the first `n` lanes come from memory and the others are `pad`; exactly `n`
/// elements are written, and the neighbours on both sides keep their values.
#[test]
fn partial_loads_and_stores() {
    use nonlin::Vector;
    use nonlin::simd::{Job, dispatch};
    struct Check<T>(std::marker::PhantomData<T>);
    impl<T: Real> Job<T> for Check<T> {
        type Output = Vec<String>;
        #[inline(always)]
        fn run<V: Vector<Elem = T>>(self) -> Vec<String> {
            let mut bad = vec![];
            let (pad, guard) = (T::from_f64(-7.5), T::from_f64(99.0));
            for n in 0..V::LANES {
                let src: Vec<T> = (0..n).map(|i| T::from_f64(i as f64 + 1.0)).collect();
                let want: Vec<T> = (0..V::LANES)
                    .map(|i| if i < n { src[i] } else { pad })
                    .collect();
                let mut lanes = vec![T::default(); V::LANES];
                unsafe { V::load_partial(src.as_ptr(), n, pad).store(lanes.as_mut_ptr()) };
                if !same_bits(&lanes, &want) {
                    bad.push(format!("load_partial, n = {n}: {lanes:?}"));
                }
                let mut dst = vec![guard; V::LANES + 2];
                unsafe { V::load(want.as_ptr()).store_partial(dst.as_mut_ptr().add(1), n) };
                let expect: Vec<T> = (0..V::LANES + 2)
                    .map(|i| if (1..=n).contains(&i) { want[i - 1] } else { guard })
                    .collect();
                if !same_bits(&dst, &expect) {
                    bad.push(format!("store_partial, n = {n}: {dst:?}"));
                }
            }
            bad
        }
    }
    at_each_level(|l| {
        let mut bad = dispatch(Check::<f32>(std::marker::PhantomData));
        bad.extend(dispatch(Check::<f64>(std::marker::PhantomData)));
        assert!(bad.is_empty(), "{}: {bad:?}", l.name());
    });
}

/// Outputs of `LARGE_BYTES` and more are past the caches: their inputs are prefetched, and
/// for kernels of the least cost (softsign) the output goes by streaming stores from its first
/// element aligned to the vector (the ones before it by cached stores). They give the same
/// values as calls on pieces below the threshold, at every offset of the output from that
/// alignment, at every level, for one and two inputs, and in place. (Only x86 prefetches and
/// streams.)
#[test]
#[cfg_attr(not(target_arch = "x86_64"), ignore)]
fn large_outputs_match_cached_ones() {
    type Case<T> = (&'static str, fn(&[T], &[T], &mut [T]));
    fn check<T: Real>() -> Vec<String> {
        // softsign is streamed, sigmoid is not
        const {
            assert!(<Softsign as Kernel<T, 1>>::COST == 1);
            assert!(<SoftsignBackward as Kernel<T, 2>>::COST == 1);
            assert!(<Sigmoid as Kernel<T, 1>>::COST > 1);
        }
        let cases: [Case<T>; 4] = [
            ("softsign", |_, x, o| apply(&Softsign, x, o)),
            ("softsign_backward", |g, x, o| apply2(&SoftsignBackward, g, x, o)),
            ("sigmoid", |_, x, o| apply(&Sigmoid, x, o)),
            ("sigmoid_backward", |g, x, o| apply2(&SigmoidBackward, g, x, o)),
        ];
        let n = nonlin::simd::LARGE_BYTES / size_of::<T>() + 1001;
        let x: Vec<T> = mixed(n, 17, &|v| v / 4.0);
        let g: Vec<T> = mixed(n, 18, &|v| v);
        let mut want = vec![T::default(); n];
        let mut buf = vec![T::default(); n + 16];
        let mut bad = vec![];
        for (name, f) in cases {
            let piece = 1 << 16;
            for a in (0..n).step_by(piece) {
                let b = (a + piece).min(n);
                f(&g[a..b], &x[a..b], &mut want[a..b]);
            }
            for off in 0..16 {
                f(&g, &x, &mut buf[off..off + n]);
                if !same_bits(&buf[off..off + n], &want) {
                    bad.push(format!("{}: {name} at offset {off}", T::NAME));
                }
            }
        }
        // In place: prefetched, never streamed.
        let in_place: [fn(&mut [T]); 2] =
            [|b| apply_inplace(&Softsign, b), |b| apply_inplace(&Sigmoid, b)];
        for (f, (name, out_of_place)) in in_place.into_iter().zip([cases[0], cases[2]]) {
            out_of_place(&g, &x, &mut want);
            buf[3..3 + n].copy_from_slice(&x);
            f(&mut buf[3..3 + n]);
            if !same_bits(&buf[3..3 + n], &want) {
                bad.push(format!("{}: {name} in place", T::NAME));
            }
        }
        bad
    }
    at_each_level(|l| {
        let mut bad = check::<f32>();
        bad.extend(check::<f64>());
        assert!(bad.is_empty(), "{}: {bad:?}", l.name());
    });
}

// ---------------------------------------------------------------- fuzzing

#[path = "support/fuzz.rs"]
mod fuzz;

/// [`fuzz::run`] for `NONLIN_FUZZ_SECONDS` (default 2; `.ci/run` gives 20) from
/// `NONLIN_FUZZ_SEED` (default 1).
#[test]
fn fuzz_every_level_against_scalar() {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let seconds: f64 = var("NONLIN_FUZZ_SECONDS", "2").parse().expect("NONLIN_FUZZ_SECONDS");
    let seed: u64 = var("NONLIN_FUZZ_SEED", "1").parse().expect("NONLIN_FUZZ_SEED");
    let failures = fuzz::run(seconds, seed);
    assert!(failures.is_empty(), "{}", failures[..failures.len().min(20)].join("\n"));
}
