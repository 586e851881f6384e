//! ReLU, Leaky ReLU and Parametric ReLU.
//!
//! PReLU is Leaky ReLU with one slope per channel (axis 1). Its kernels take the slope as an
//! operand, so an N-d call runs through [`crate::strided::elementwise`] with the weight broadcast
//! by stride 0 ([`weight_strides`]); its backward fuses the weight gradient into the same pass.

use super::{c, piecewise};
use crate::parallel::{GRAIN, SendPtr, for_ranges, map_ranges};
use crate::simd::{Job, Kernel, Real, Vector, dispatch, map_reduce_with, map_with};

/// `relu(x) = max(0, x)`: `x` for `x > 0`, `+0` otherwise (so `relu(-0) = +0`); NaN gives NaN.
pub struct Relu;
impl<T: Real> Kernel<T, 1> for Relu {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        V::select(x.le(c(0.0)), c(0.0), x)
    }
}

/// `relu'(x)`: 1 for `x > 0`, 0 for `x <= 0` (0 at 0, as PyTorch and JAX), NaN for NaN.
pub struct ReluDerivative;
impl<T: Real> Kernel<T, 1> for ReluDerivative {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        piecewise(x, c(1.0), c(0.0))
    }
}

/// ATen's `threshold_backward` at 0: `g` for `x > 0`, `0` for `x <= 0` (even where `g` is inf or
/// NaN), NaN where `x` is NaN.
pub struct ReluBackward;
impl<T: Real> Kernel<T, 2> for ReluBackward {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        piecewise(x, g, c(0.0))
    }
}

/// `leaky_relu(x) = x` for `x > 0`, `slope * x` otherwise (`-0` stays `-0` for a positive slope).
pub struct LeakyRelu {
    pub slope: f64,
}
impl<T: Real> Kernel<T, 1> for LeakyRelu {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        Prelu.eval([x, c(self.slope)])
    }
}

/// 1 for `x > 0`, `slope` for `x <= 0`, NaN for NaN.
pub struct LeakyReluDerivative {
    pub slope: f64,
}
impl<T: Real> Kernel<T, 1> for LeakyReluDerivative {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x]: [V; 1]) -> V {
        PreluDerivative.eval([x, c(self.slope)])
    }
}

/// `g` for `x > 0`, `slope * g` for `x <= 0`, NaN for NaN.
pub struct LeakyReluBackward {
    pub slope: f64,
}
impl<T: Real> Kernel<T, 2> for LeakyReluBackward {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        PreluBackward.eval([g, x, c(self.slope)])
    }
}

/// `[x, w] -> x > 0 ? x : w x`.
pub struct Prelu;
impl<T: Real> Kernel<T, 2> for Prelu {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x, w]: [V; 2]) -> V {
        V::select(x.gt(c(0.0)), x, w * x)
    }
}

/// `[x, w] -> x > 0 ? 1 : w` (NaN for NaN).
pub struct PreluDerivative;
impl<T: Real> Kernel<T, 2> for PreluDerivative {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [x, w]: [V; 2]) -> V {
        piecewise(x, c(1.0), w)
    }
}

/// `[g, x, w] -> x > 0 ? g : w g` (NaN for NaN x).
pub struct PreluBackward;
impl<T: Real> Kernel<T, 3> for PreluBackward {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x, w]: [V; 3]) -> V {
        piecewise(x, g, w * g)
    }
}

/// The weight gradient's term `[g, x] -> x > 0 ? 0 : g x` (NaN for NaN x).
struct WeightTerm;
impl<T: Real> Kernel<T, 2> for WeightTerm {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [g, x]: [V; 2]) -> V {
        piecewise(x, c(0.0), g * x)
    }
}

/// `[acc, g, x] -> acc + WeightTerm(g, x)`.
struct WeightAccumulate;
impl<T: Real> Kernel<T, 3> for WeightAccumulate {
    #[inline(always)]
    fn eval<V: Vector<Elem = T>>(&self, [acc, g, x]: [V; 3]) -> V {
        acc + WeightTerm.eval([g, x])
    }
}

/// Strides (in elements) that broadcast a weight of `len` values over an array of `ndim` axes:
/// one value per index of axis 1, or the same value everywhere when `len == 1`.
pub fn weight_strides(ndim: usize, len: usize) -> Vec<isize> {
    (0..ndim).map(|a| isize::from(a == 1 && len > 1)).collect()
}

/// PReLU's backward over a C-contiguous array of shape `(outer, w.len(), inner)`, in one pass:
/// writes `grad_input` and returns the weight gradient, `sum over x <= 0 of g x` per channel
/// (summed in float64 in a fixed order: identical for any thread count).
///
/// # Safety
/// `g`, `x` and `grad_input` are valid for `outer * w.len() * inner` elements; `grad_input` may
/// equal `g` or `x` but must not otherwise overlap them.
pub unsafe fn prelu_backward_raw<T: Real>(
    g: *const T,
    x: *const T,
    w: &[T],
    outer: usize,
    inner: usize,
    grad_input: *mut T,
) -> Vec<f64> {
    let channels = w.len();
    let (g, x, gi) = (
        SendPtr(g as *mut T),
        SendPtr(x as *mut T),
        SendPtr(grad_input),
    );
    // One task: channels `ch` of outer indices `o`, starting `at` elements into the arrays.
    let job = |at: usize, o: (usize, usize), ch: (usize, usize), inner: usize| unsafe {
        let (g, x, gi) = (
            SendPtr(g.get().add(at)),
            SendPtr(x.get().add(at)),
            SendPtr(gi.get().add(at)),
        );
        dispatch(PreluBackwardJob {
            g,
            x,
            gi,
            w,
            outer: o,
            ch,
            inner,
        })
    };
    // The first part as the total: its sums start at +0.0, as a fresh total would.
    let add_in_order = |parts: Vec<Vec<f64>>| {
        let mut parts = parts.into_iter();
        let mut total = parts.next().unwrap_or_else(|| vec![0.0; channels]);
        for p in parts {
            total.iter_mut().zip(p).for_each(|(t, v)| *t += v);
        }
        total
    };
    let per_outer = channels * inner;
    if channels == 1 {
        // One weight: flat ranges of the whole array (one range: no list of parts to allocate).
        let n = outer * inner;
        if n <= GRAIN {
            return job(0, (0, 1), (0, 1), n);
        }
        add_in_order(map_ranges(n, GRAIN, 1, |a, b| {
            job(a, (0, 1), (0, 1), b - a)
        }))
    } else if per_outer >= GRAIN || outer == 1 {
        // Tasks over channel ranges, each covering every outer index.
        let grain = (GRAIN / (outer * inner).max(1)).max(1);
        map_ranges(channels, grain, outer * inner, |c0, c1| {
            job(0, (0, outer), (c0, c1), inner)
        })
        .concat()
    } else {
        // Tasks over outer ranges, each giving partial sums for every channel.
        add_in_order(map_ranges(
            outer,
            GRAIN / per_outer.max(1),
            per_outer,
            |o0, o1| job(0, (o0, o1), (0, channels), inner),
        ))
    }
}

/// Safe form of [`prelu_backward_raw`] on slices.
pub fn prelu_backward<T: Real>(
    g: &[T],
    x: &[T],
    w: &[T],
    inner: usize,
    grad_input: &mut [T],
) -> Vec<f64> {
    let n = x.len();
    assert!(
        g.len() == n && grad_input.len() == n,
        "prelu_backward: length mismatch"
    );
    assert!(
        !w.is_empty() && inner > 0 && n.is_multiple_of(w.len() * inner),
        "prelu_backward: bad shape"
    );
    unsafe {
        prelu_backward_raw(
            g.as_ptr(),
            x.as_ptr(),
            w,
            n / (w.len() * inner),
            inner,
            grad_input.as_mut_ptr(),
        )
    }
}

struct PreluBackwardJob<'a, T> {
    g: SendPtr<T>,
    x: SendPtr<T>,
    gi: SendPtr<T>,
    w: &'a [T],
    outer: (usize, usize),
    ch: (usize, usize),
    inner: usize,
}

impl<T: Real> Job<T> for PreluBackwardJob<'_, T> {
    type Output = Vec<f64>;
    #[inline(always)]
    fn run<V: Vector<Elem = T>>(self) -> Vec<f64> {
        let (c0, c1) = self.ch;
        let channels = self.w.len();
        // Up to STACK channels, the sums and the accumulators are on the stack, the sums copied
        // out at the end: new zero-filled vectors here were allocated by calloc, which skips
        // glibc's per-thread cache (a fifth of a one-element call in perf).
        const STACK: usize = 64;
        let (mut sums_s, mut acc_s) = ([0.0f64; STACK], [T::default(); STACK]);
        let (mut sums_h, mut acc_h) = (Vec::new(), Vec::new());
        let sums: &mut [f64] = match c1 - c0 {
            w if w <= STACK => &mut sums_s[..w],
            w => {
                sums_h.resize(w, 0.0);
                &mut sums_h
            }
        };
        unsafe {
            if self.inner == 1 {
                // Rows of channels: accumulate lane-wise in T, flushed to f64 every FLUSH rows.
                const FLUSH: usize = 256;
                let acc: &mut [T] = match c1 - c0 {
                    w if w <= STACK => &mut acc_s[..w],
                    w => {
                        acc_h.resize(w, T::default());
                        &mut acc_h
                    }
                };
                for (i, o) in (self.outer.0..self.outer.1).enumerate() {
                    let off = o * channels + c0;
                    let (g, x) = (self.g.0.add(off) as *const T, self.x.0.add(off) as *const T);
                    let a = acc.as_mut_ptr();
                    map_with::<T, V, _, 3>(&WeightAccumulate, [a, g, x], a, c1 - c0);
                    map_with::<T, V, _, 3>(
                        &PreluBackward,
                        [g, x, self.w[c0..].as_ptr()],
                        self.gi.0.add(off),
                        c1 - c0,
                    );
                    if (i + 1) % FLUSH == 0 || o + 1 == self.outer.1 {
                        for (s, a) in sums.iter_mut().zip(acc.iter_mut()) {
                            *s += a.to_f64();
                            *a = T::default();
                        }
                    }
                }
            } else {
                for o in self.outer.0..self.outer.1 {
                    for ch in c0..c1 {
                        let off = (o * channels + ch) * self.inner;
                        let (g, x) = (self.g.0.add(off) as *const T, self.x.0.add(off) as *const T);
                        // grad_input and the weight term in one pass over the row.
                        let k = LeakyReluBackward {
                            slope: self.w[ch].to_f64(),
                        };
                        let dst = self.gi.0.add(off);
                        sums[ch - c0] += map_reduce_with::<T, V, _, _, 2>(
                            &k,
                            &WeightTerm,
                            [g, x],
                            dst,
                            self.inner,
                        );
                    }
                }
            }
        }
        sums.to_vec()
    }
}

/// RReLU's slopes (Xu et al. 2015, `torch.nn.functional.rrelu` in training): one slope per
/// element, uniform in `[lower, upper]`, from a counter-based generator. Slope `i` (the element's
/// index in C order) is a hash of `(seed, i)`, so it does not depend on threads, SIMD level or the
/// array's strides, and any part of the stream can be computed on its own:
///
/// - `k = splitmix64(splitmix64(seed) ^ (i >> 32))`, `k1` and `k2` its low and high halves;
/// - `h1 = mix32((i mod 2^32) ^ k1)`, `h2 = mix32(h1 ^ k2)` (`mix32`: C. Wellons' lowbias32);
/// - `u = (h1 >> 5) 2^-27 + (h2 >> 6) 2^-53`, uniform on the multiples of `2^-53` in `[0, 1)`;
/// - slope = `min(lower + (upper - lower) u, upper)` in float64, then rounded to T.
///
/// With the slopes as PReLU's weight operand, rrelu is [`Prelu`], its derivative
/// [`PreluDerivative`] and its backward [`PreluBackward`].
pub fn rrelu_noise<T: Real>(seed: u64, lower: f64, upper: f64, out: &mut [T]) {
    let p = SendPtr(out.as_mut_ptr());
    let n = out.len();
    for_ranges(n, GRAIN, 2, |a, b| {
        dispatch(NoiseJob {
            seed,
            lower,
            upper,
            out: p,
            range: (a, b),
        })
    });
}

/// `splitmix64`'s output function (Steele, Lea and Flood 2014) applied to `z + golden`.
pub fn splitmix64(z: u64) -> u64 {
    let mut z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// lowbias32 (C. Wellons): a bijective 32-bit hash with low bias.
#[inline(always)]
fn mix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

struct NoiseJob<T> {
    seed: u64,
    lower: f64,
    upper: f64,
    out: SendPtr<T>,
    range: (usize, usize),
}

impl<T: Real> Job<T> for NoiseJob<T> {
    type Output = ();
    /// Plain scalar code, compiled inside the level's target features, where it vectorizes.
    #[inline(always)]
    fn run<V: Vector<Elem = T>>(self) {
        let (lower, width) = (self.lower, self.upper - self.lower);
        let (s, upper) = (splitmix64(self.seed), self.upper);
        let mut i = self.range.0;
        while i < self.range.1 {
            // Indices with the same high half.
            let hi = (i as u64) >> 32;
            let end = self
                .range
                .1
                .min((((hi + 1) << 32).min(usize::MAX as u64)) as usize);
            let k = splitmix64(s ^ hi);
            let (k1, k2) = (k as u32, (k >> 32) as u32);
            let out = unsafe { std::slice::from_raw_parts_mut(self.out.0.add(i), end - i) };
            let mut l = i as u32;
            for o in out.iter_mut() {
                let h1 = mix32(l ^ k1);
                let h2 = mix32(h1 ^ k2);
                let u = ((h1 >> 5) as i32 as f64) * (1.0 / (1u64 << 27) as f64)
                    + ((h2 >> 6) as i32 as f64) * (1.0 / (1u64 << 53) as f64);
                *o = T::from_f64((lower + width * u).min(upper));
                l = l.wrapping_add(1);
            }
            i = end;
        }
    }
}
