//! Integration tests of the kernels against independent float64 formulas (std math only).
//!
//! The elementwise kernels are listed once, in `visit_all`, each with its reference formula;
//! every elementwise test is a `Visit` implementation run over that list for f32 and f64.

use nonlin::activations::elu::{Elu, EluBackward, EluBackwardFromOutput, EluDerivative};
use nonlin::activations::maxout::{maxout, maxout_backward};
use nonlin::activations::relu::*;
use nonlin::activations::sigmoid::{Sigmoid, SigmoidBackward, SigmoidDerivative};
use nonlin::activations::tanh::{Tanh, TanhBackward, TanhDerivative};
use nonlin::strided::{View, elementwise};
use nonlin::simd::{Level, set_level};
use nonlin::{Kernel, Real, apply, apply_inplace, apply2};

// ---------------------------------------------------------------- helpers

/// Bit pattern of a T (NaN payloads and signs of zero included).
fn bits<T: Real>(v: T) -> u64 {
    match size_of::<T>() {
        4 => unsafe { std::mem::transmute_copy::<T, u32>(&v) as u64 },
        _ => unsafe { std::mem::transmute_copy::<T, u64>(&v) },
    }
}

fn same_bits<T: Real>(a: &[T], b: &[T]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| bits(*x) == bits(*y))
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
        if i % 5 == 0 {
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
    fn check<T: Real>(&mut self, name: &str, args: &[f64], got: T, want: f64) {
        let (e, r, key) = (
            ulps(got, want),
            T::from_f64(want),
            format!("{name}<{}>", T::NAME),
        );
        match self.worst.iter_mut().find(|w| w.0 == key) {
            Some(w) => w.1 = w.1.max(e),
            None => self.worst.push((key.clone(), e)),
        }
        // Zeros must have the sign of the reference (which rounding to T keeps).
        let zero_sign_ok = got.to_f64() != 0.0 || r.to_f64() != 0.0 || bits(got) == bits(r);
        if e > 4.0 || !zero_sign_ok {
            self.failures.push(format!(
                "{key}{args:?}: got {got:?}, want {want:e} ({e} ulp)"
            ));
        }
    }
}

impl<T: Real> Visit<T> for Accuracy {
    fn unary<K: Kernel<T, 1>>(&mut self, name: &str, k: K, want: F1) {
        let x = inputs::<T>();
        let mut out = vec![T::default(); x.len()];
        apply(&k, &x, &mut out);
        for (&x, &y) in x.iter().zip(&out) {
            self.check(name, &[x.to_f64()], y, want(x.to_f64()));
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
        for i in 0..a.len() {
            let (a, b) = (a[i].to_f64(), b[i].to_f64());
            self.check(name, &[a, b], out[i], want(a, b));
        }
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
        let levels: Vec<Level> = Level::all()
            .iter()
            .copied()
            .filter(|&l| l <= Level::detect())
            .collect();
        let before = nonlin::level();
        let n = inputs::<T>().len().max(pairs::<T>().len());
        let mut want = vec![T::default(); n];
        set_level(Level::Scalar);
        run(&mut want);
        for &l in &levels[1..] {
            set_level(l);
            let mut got = vec![T::default(); n];
            run(&mut got);
            // Any NaN matches any NaN (payloads and signs of NaN are not specified).
            let differ = |i: usize| bits(got[i]) != bits(want[i]) && !(got[i].is_nan() && want[i].is_nan());
            if let Some(i) = (0..n).find(|&i| differ(i)) {
                self.failures.push(format!(
                    "{name}<{}> at {}: element {i}: {:?} vs scalar {:?}",
                    T::NAME,
                    l.name(),
                    got[i],
                    want[i]
                ));
            }
        }
        set_level(before);
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
        self.compare(name, &|out: &mut [T]| apply2(&k, &a, &b, &mut out[..a.len()]));
    }
}

/// Every elementwise kernel gives the same bits at every SIMD level as at the scalar level
/// (other tests may run meanwhile at whatever level is set: all levels agree).
#[test]
fn every_level_matches_scalar_bit_for_bit() {
    let mut v = Levels { failures: vec![] };
    for (slope, alpha) in [(0.01, 1.0), (0.2, 1.3)] {
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
    for (slope, alpha) in [(0.01, 1.0), (0.2, 1.3)] {
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
    let (s3, s2, s1) = ([6, 37, 11], [40, 57], [8, 1, 300]);
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
    nonlin::parallel::set_num_threads(threads);
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

use nonlin::activations::glu::{Glu, GluBackwardA, GluBackwardB};
use nonlin::activations::relu::rrelu_noise;
use nonlin::activations::softmax::{CHUNK, Op, softmax_backward, softmax_forward};

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

#[test]
fn softmax_against_naive() {
    for (len, inner, outer) in [
        (1, 1, 5),
        (7, 1, 3),
        (300, 1, 4),
        (17, 5, 3),
        (40, 33, 2),
        (CHUNK * 2 + 5, 1, 2),
    ] {
        check_softmax::<f32>(len, inner, outer);
        check_softmax::<f64>(len, inner, outer);
    }
}

#[test]
fn softmax_rows_of_infinities_and_nan() {
    let inf = f64::INFINITY;
    let rows: [(&[f64], &[f64]); 4] = [
        (&[-inf, 0.0, -inf], &[0.0, 1.0, 0.0]),
        (&[inf, 0.0], &[f64::NAN, f64::NAN]),
        (&[-inf, -inf], &[f64::NAN, f64::NAN]),
        (&[f64::NAN, 1.0], &[f64::NAN, f64::NAN]),
    ];
    for (x, want) in rows {
        let mut y = vec![0.0; x.len()];
        softmax_forward(Op::Softmax, x, x.len(), 1, &mut y);
        assert!(
            y.iter()
                .zip(want)
                .all(|(a, b)| a == b || (a.is_nan() && b.is_nan())),
            "{x:?} -> {y:?}"
        );
    }
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
