//! Random-input fuzzing of every kernel at every SIMD level, on stable Rust (cargo-fuzz needs
//! nightly): random lengths, offsets into the buffers (so every alignment of the vector loads and
//! stores and every tail length), values (any bit pattern, specials, ordinary ranges) and
//! parameters. Each run must not panic and must give, at every level the CPU has, the bits of the
//! scalar level (any NaN matches any NaN). Axis-wise functions (softmax, maxout, prelu's weight
//! gradient, glu's three-operand kernel) go through the same check with random shapes.
//!
//! A module of `tests/kernels.rs` (not an example of its own), so that its kernels are compiled
//! once for both; run by its test `fuzz_every_level_against_scalar`:
//!
//! NONLIN_FUZZ_SECONDS=600 NONLIN_FUZZ_SEED=7 cargo test --release --test kernels fuzz -- --nocapture

use std::time::{Duration, Instant};

use nonlin::activations::glu::{Glu, GluBackwardA, GluBackwardB};
use nonlin::activations::maxout::{maxout, maxout_backward};
use nonlin::activations::relu::{prelu_backward, rrelu_noise};
use nonlin::activations::softmax::{Op, softmax_backward, softmax_forward};
use nonlin::activations::{
    elu::*, gelu::*, hard::*, mish::*, relu::*, sigmoid::*, smooth::*, tanh::*,
};
use nonlin::simd::Level;
use nonlin::strided::{View, elementwise};
use nonlin::{Kernel, Real, apply, apply_inplace, apply2};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// A value of T: any bit pattern, a special, or an ordinary number of random magnitude.
    fn value<T: Real>(&mut self) -> T {
        const SPECIAL: [f64; 14] = [
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            1.0,
            -1.0,
            0.5,
            3.0,
            -3.0,
            6.0,
            20.0,
            -20.0,
            1e-300,
        ];
        match self.below(4) {
            0 => {
                let b = self.next();
                match size_of::<T>() {
                    4 => T::from_f64(f32::from_bits(b as u32) as f64),
                    _ => T::from_f64(f64::from_bits(b)),
                }
            }
            1 => T::from_f64(SPECIAL[self.below(SPECIAL.len())]),
            2 => T::from_f64((self.unit() - 0.5) * 100.0),
            _ => {
                let s = if self.below(2) == 0 { -1.0 } else { 1.0 };
                T::from_f64(s * 10f64.powf(self.unit() * 80.0 - 45.0))
            }
        }
    }
    fn param(&mut self) -> f64 {
        match self.below(4) {
            0 => [0.0, 1.0, -1.0, 0.5, 2.0, 1e-3][self.below(6)],
            _ => (self.unit() - 0.5) * 8.0,
        }
    }
    /// A length: mostly short (every tail), sometimes long enough for several threads.
    fn len(&mut self) -> usize {
        match self.below(10) {
            0 => self.below(200_000),
            1..=3 => self.below(2000),
            _ => self.below(70),
        }
    }
}

fn same<T: Real>(a: &[T], b: &[T]) -> Option<usize> {
    let bits = |v: T| v.to_f64().to_bits(); // f32 -> f64 is exact (and keeps the sign of 0)
    (0..a.len()).find(|&i| !(a[i].is_nan() && b[i].is_nan()) && bits(a[i]) != bits(b[i]))
}

struct Fuzz {
    rng: Rng,
    executions: u64,
    failures: Vec<String>,
}

impl Fuzz {
    fn values<T: Real>(&mut self, n: usize) -> Vec<T> {
        (0..n).map(|_| self.rng.value()).collect()
    }

    /// Runs `run` (which writes its result into the slice) at every level; compares with scalar.
    fn check<T: Real>(&mut self, name: &str, n: usize, run: &dyn Fn(&mut [T])) {
        let mut want = vec![T::from_f64(7.0); n];
        super::at_each_level(|l| {
            self.executions += 1;
            if l == Level::Scalar {
                run(&mut want);
                return;
            }
            let mut got = vec![T::from_f64(7.0); n];
            run(&mut got);
            if let Some(i) = same(&got, &want) {
                self.failures.push(format!(
                    "{name}<{}> n={n} at {}: element {i}: {:?} vs scalar {:?}",
                    T::NAME,
                    l.name(),
                    got[i],
                    want[i]
                ));
            }
        });
    }

    /// Input at a random offset into a larger buffer, output at another offset, and in place.
    fn unary<T: Real, K: Kernel<T, 1>>(&mut self, name: &str, k: K) {
        let n = self.rng.len();
        let (oi, oo) = (self.rng.below(8), self.rng.below(8));
        let buf = self.values::<T>(n + oi);
        let x = &buf[oi..];
        self.check(name, n, &|out: &mut [T]| {
            let mut o = vec![T::from_f64(7.0); n + oo];
            apply(&k, x, &mut o[oo..]);
            out.copy_from_slice(&o[oo..]);
        });
        self.check(&format!("{name} in place"), n, &|out: &mut [T]| {
            let mut o = buf.clone();
            apply_inplace(&k, &mut o[oi..]);
            out.copy_from_slice(&o[oi..]);
        });
        // strided: every step-th element, forwards or backwards
        let step = 1 + self.rng.below(3) as isize;
        let step = if self.rng.below(2) == 0 { step } else { -step };
        let m = n / step.unsigned_abs();
        let start = if step > 0 {
            0
        } else {
            (m as isize - 1).max(0) * -step
        };
        self.check(&format!("{name} strided"), m, &|out: &mut [T]| unsafe {
            let s = [step];
            let v = View {
                ptr: x.as_ptr().offset(start),
                strides: &s,
            };
            elementwise(&k, &[m], [v], out.as_mut_ptr(), &[1]);
        });
    }

    fn binary<T: Real, K: Kernel<T, 2>>(&mut self, name: &str, k: K) {
        let n = self.rng.len();
        let (oa, ob, oo) = (self.rng.below(8), self.rng.below(8), self.rng.below(8));
        let a = self.values::<T>(n + oa);
        let b = self.values::<T>(n + ob);
        self.check(name, n, &|out: &mut [T]| {
            let mut o = vec![T::from_f64(7.0); n + oo];
            apply2(&k, &a[oa..], &b[ob..], &mut o[oo..]);
            out.copy_from_slice(&o[oo..]);
        });
    }

    fn ternary<T: Real, K: Kernel<T, 3>>(&mut self, name: &str, k: K) {
        let n = self.rng.len();
        let (a, b, c) = (
            self.values::<T>(n),
            self.values::<T>(n),
            self.values::<T>(n),
        );
        self.check(name, n, &|out: &mut [T]| unsafe {
            let s = [1isize];
            let v = |p: &[T]| View {
                ptr: p.as_ptr(),
                strides: &s,
            };
            elementwise(&k, &[n], [v(&a), v(&b), v(&c)], out.as_mut_ptr(), &s);
        });
    }

    /// (outer, len, inner) with a small total, len >= 1.
    fn shape3(&mut self) -> (usize, usize, usize) {
        let len = 1 + match self.rng.below(4) {
            0 => self.rng.below(20_000),
            _ => self.rng.below(40),
        };
        let inner = if self.rng.below(2) == 0 {
            1
        } else {
            1 + self.rng.below(70)
        };
        let outer = self.rng.below(1 + 40_000 / (len * inner));
        (outer, len, inner)
    }

    fn axis_wise<T: Real>(&mut self) {
        let (outer, len, inner) = self.shape3();
        let n = outer * len * inner;
        let (x, g) = (self.values::<T>(n), self.values::<T>(n));
        for op in [Op::Softmax, Op::LogSoftmax] {
            self.check(&format!("{op:?}"), n, &|out: &mut [T]| {
                softmax_forward(op, &x, len, inner, out)
            });
        }
        for op in [Op::SoftmaxBackward, Op::LogSoftmaxBackward] {
            self.check(&format!("{op:?}"), n, &|out: &mut [T]| {
                softmax_backward(op, &g, &x, len, inner, out)
            });
        }
        // maxout: pieces divides len
        let pieces = (1..=len.min(5)).rev().find(|p| len % p == 0).unwrap();
        let groups = len / pieces;
        self.check("maxout", outer * groups * inner, &|out: &mut [T]| {
            maxout(&x, groups, pieces, inner, out)
        });
        let gm = self.values::<T>(outer * groups * inner);
        self.check("maxout_backward", n, &|out: &mut [T]| {
            maxout_backward(&gm, &x, groups, pieces, inner, out)
        });
        // prelu_backward: one weight per channel (len channels), grad_input and the weight gradient
        let w = self.values::<T>(len);
        self.check("prelu_backward", n + len, &|out: &mut [T]| {
            let (gi, gw) = out.split_at_mut(n);
            let sums = prelu_backward(&g, &x, &w, inner, gi);
            for (o, s) in gw.iter_mut().zip(sums) {
                *o = T::from_f64(s);
            }
        });
        let (seed, lower) = (self.rng.next(), self.rng.unit());
        let upper = lower + self.rng.unit();
        self.check("rrelu_noise", n, &|out: &mut [T]| {
            rrelu_noise(seed, lower, upper, out)
        });
    }

    #[rustfmt::skip]
    fn round<T: Real>(&mut self) {
        let p = |f: &mut Self| f.rng.param();
        let (a, b, c) = (p(self), p(self), p(self));
        let (lo, hi) = (a.min(b), a.max(b));
        let nonzero = if a == 0.0 { 1.0 } else { a };
        self.unary::<T, _>("sigmoid", Sigmoid);
        self.unary::<T, _>("sigmoid_derivative", SigmoidDerivative);
        self.unary::<T, _>("tanh", Tanh);
        self.unary::<T, _>("tanh_derivative", TanhDerivative);
        self.unary::<T, _>("relu", Relu);
        self.unary::<T, _>("relu_derivative", ReluDerivative);
        self.unary::<T, _>("leaky_relu", LeakyRelu { slope: a });
        self.unary::<T, _>("leaky_relu_derivative", LeakyReluDerivative { slope: a });
        self.unary::<T, _>("elu", Elu { alpha: a });
        self.unary::<T, _>("elu_derivative", EluDerivative { alpha: a });
        self.unary::<T, _>("selu", Selu);
        self.unary::<T, _>("selu_derivative", SeluDerivative);
        self.unary::<T, _>("celu", Celu { alpha: nonzero });
        self.unary::<T, _>("celu_derivative", CeluDerivative { alpha: nonzero });
        self.unary::<T, _>("gelu", Gelu);
        self.unary::<T, _>("gelu_derivative", GeluDerivative);
        self.unary::<T, _>("gelu_tanh", GeluTanh);
        self.unary::<T, _>("gelu_tanh_derivative", GeluTanhDerivative);
        self.unary::<T, _>("silu", Silu);
        self.unary::<T, _>("silu_derivative", SiluDerivative);
        self.unary::<T, _>("mish", Mish);
        self.unary::<T, _>("mish_derivative", MishDerivative);
        self.unary::<T, _>("softplus", Softplus { beta: nonzero, threshold: c });
        self.unary::<T, _>("softplus_derivative", SoftplusDerivative { beta: nonzero, threshold: c });
        self.unary::<T, _>("logsigmoid", Logsigmoid);
        self.unary::<T, _>("logsigmoid_derivative", LogsigmoidDerivative);
        self.unary::<T, _>("softsign", Softsign);
        self.unary::<T, _>("softsign_derivative", SoftsignDerivative);
        self.unary::<T, _>("tanhshrink", Tanhshrink);
        self.unary::<T, _>("tanhshrink_derivative", TanhshrinkDerivative);
        self.unary::<T, _>("hardtanh", Hardtanh { min_val: lo, max_val: hi });
        self.unary::<T, _>("hardtanh_derivative", HardtanhDerivative { min_val: lo, max_val: hi });
        self.unary::<T, _>("hardsigmoid", Hardsigmoid);
        self.unary::<T, _>("hardsigmoid_derivative", HardsigmoidDerivative);
        self.unary::<T, _>("hardswish", Hardswish);
        self.unary::<T, _>("hardswish_derivative", HardswishDerivative);
        self.unary::<T, _>("softshrink", Softshrink { lambd: a.abs() });
        self.unary::<T, _>("shrink_derivative", ShrinkDerivative { lambd: a.abs() });
        self.unary::<T, _>("hardshrink", Hardshrink { lambd: a });
        self.unary::<T, _>("threshold", Threshold { threshold: a, value: b });
        self.unary::<T, _>("threshold_derivative", ThresholdDerivative { threshold: a });
        self.unary::<T, _>("two_relu", TwoRelu);
        self.unary::<T, _>("two_relu_derivative", TwoReluDerivative);

        self.binary::<T, _>("sigmoid_backward", SigmoidBackward);
        self.binary::<T, _>("tanh_backward", TanhBackward);
        self.binary::<T, _>("relu_backward", ReluBackward);
        self.binary::<T, _>("leaky_relu_backward", LeakyReluBackward { slope: a });
        self.binary::<T, _>("prelu", Prelu);
        self.binary::<T, _>("prelu_derivative", PreluDerivative);
        self.binary::<T, _>("elu_backward", EluBackward { alpha: a });
        self.binary::<T, _>("elu_backward_from_output", EluBackwardFromOutput { alpha: a });
        self.binary::<T, _>("selu_backward", SeluBackward);
        self.binary::<T, _>("selu_backward_from_output", SeluBackwardFromOutput);
        self.binary::<T, _>("celu_backward", CeluBackward { alpha: nonzero });
        self.binary::<T, _>("celu_backward_from_output", CeluBackwardFromOutput { alpha: nonzero });
        self.binary::<T, _>("gelu_backward", GeluBackward);
        self.binary::<T, _>("gelu_tanh_backward", GeluTanhBackward);
        self.binary::<T, _>("silu_backward", SiluBackward);
        self.binary::<T, _>("mish_backward", MishBackward);
        self.binary::<T, _>("softplus_backward", SoftplusBackward { beta: nonzero, threshold: c });
        self.binary::<T, _>("logsigmoid_backward", LogsigmoidBackward);
        self.binary::<T, _>("softsign_backward", SoftsignBackward);
        self.binary::<T, _>("tanhshrink_backward", TanhshrinkBackward);
        self.binary::<T, _>("hardtanh_backward", HardtanhBackward { min_val: lo, max_val: hi });
        self.binary::<T, _>("hardsigmoid_backward", HardsigmoidBackward);
        self.binary::<T, _>("hardswish_backward", HardswishBackward);
        self.binary::<T, _>("shrink_backward", ShrinkBackward { lambd: a.abs() });
        self.binary::<T, _>("threshold_backward", ThresholdBackward { threshold: a });
        self.binary::<T, _>("two_relu_backward", TwoReluBackward);
        self.binary::<T, _>("glu", Glu);
        self.binary::<T, _>("glu_backward_a", GluBackwardA);
        self.ternary::<T, _>("glu_backward_b", GluBackwardB);
        self.ternary::<T, _>("prelu_backward_kernel", PreluBackward);

        self.axis_wise::<T>();
    }
}

/// Fuzzes for `seconds`, from `seed`; prints the number of rounds and executions (one execution
/// = one kernel call at one level) and returns the failures (it stops at the first round that
/// has any).
pub fn run(seconds: f64, seed: u64) -> Vec<String> {
    let names: Vec<&str> = (Level::all().iter())
        .filter(|&&l| l <= Level::detect())
        .map(|l| l.name())
        .collect();
    println!("fuzz: levels {names:?}, seed {seed}, {seconds} s");
    let mut f = Fuzz {
        rng: Rng(seed),
        executions: 0,
        failures: vec![],
    };
    let (start, mut rounds) = (Instant::now(), 0u64);
    while start.elapsed() < Duration::from_secs_f64(seconds) {
        f.round::<f32>();
        f.round::<f64>();
        rounds += 1;
        if !f.failures.is_empty() {
            break;
        }
    }
    println!(
        "fuzz: {rounds} rounds, {} executions in {:.1} s, {} failures",
        f.executions,
        start.elapsed().as_secs_f64(),
        f.failures.len()
    );
    f.failures
}
