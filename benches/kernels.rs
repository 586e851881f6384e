//! `cargo bench`: every kernel, float32 and float64, at 1e3, 1e5, 1e6 and 1.6e7 elements.
//! Throughput is reported in elements per second.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nonlin::activations::{
    elu::*, gelu::*, hard::*, maxout, mish::*, relu::*, sigmoid::*, smooth::*, tanh::*,
};
use nonlin::{Kernel, Real, apply, apply2};
use std::time::Duration;

const SIZES: [usize; 4] = [1_000, 100_000, 1_000_000, 16_000_000];

fn data<T: Real>(n: usize, seed: u64) -> Vec<T> {
    // A small LCG: uniform values in [-8, 8), no dependency needed.
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            T::from_f64(((s >> 11) as f64 / (1u64 << 53) as f64) * 16.0 - 8.0)
        })
        .collect()
}

fn unary<T: Real, K: Kernel<T, 1>>(c: &mut Criterion, name: &str, k: &K) {
    let mut g = c.benchmark_group(format!("{name}/{}", T::NAME));
    for n in SIZES {
        let (x, mut y) = (data::<T>(n, 1), vec![T::default(); n]);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| apply(k, &x, &mut y))
        });
    }
}

fn binary<T: Real, K: Kernel<T, 2>>(c: &mut Criterion, name: &str, k: &K) {
    let mut g = c.benchmark_group(format!("{name}/{}", T::NAME));
    for n in SIZES {
        let (gr, x, mut y) = (data::<T>(n, 2), data::<T>(n, 1), vec![T::default(); n]);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| apply2(k, &gr, &x, &mut y))
        });
    }
}

fn shaped<T: Real>(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("prelu_backward/{}", T::NAME));
    let w: Vec<T> = (0..16).map(|i| T::from_f64(0.01 * i as f64)).collect();
    for n in SIZES {
        let n = n / 16 * 16;
        let (gr, x, mut gi) = (data::<T>(n, 2), data::<T>(n, 1), vec![T::default(); n]);
        let inner = (n / 16 / 8).max(1); // shape (8, 16, inner)
        let n = 8 * 16 * inner;
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| prelu_backward(&gr[..n], &x[..n], &w, inner, &mut gi[..n]))
        });
    }
    drop(g);
    for (name, backward) in [("maxout", false), ("maxout_backward", true)] {
        let mut g = c.benchmark_group(format!("{name}/{}", T::NAME));
        for n in SIZES {
            let (x, gr) = (data::<T>(n, 1), data::<T>(n / 4, 2));
            let (mut out, mut gi) = (vec![T::default(); n / 4], vec![T::default(); n]);
            g.throughput(Throughput::Elements(n as u64));
            g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
                b.iter(|| {
                    if backward {
                        maxout::maxout_backward(&gr, &x, n / 4, 4, 1, &mut gi)
                    } else {
                        maxout::maxout(&x, n / 4, 4, 1, &mut out)
                    }
                })
            });
        }
    }
}

/// softmax / log_softmax (and their backward) on rows of 1000 and on one row of n; glu on rows of
/// 1000; rrelu's slopes.
fn axis<T: Real>(c: &mut Criterion) {
    use nonlin::activations::glu::Glu;
    use nonlin::activations::softmax::{Op, softmax_backward, softmax_forward};
    use nonlin::strided::{View, elementwise};
    for (name, op) in [
        ("softmax", Op::Softmax),
        ("log_softmax", Op::LogSoftmax),
        ("softmax_backward", Op::SoftmaxBackward),
        ("log_softmax_backward", Op::LogSoftmaxBackward),
    ] {
        for rows_of in ["rows1000", "row"] {
            let mut g = c.benchmark_group(format!("{name}_{rows_of}/{}", T::NAME));
            for n in SIZES {
                let len = if rows_of == "row" { n } else { 1000 };
                let (x, gr, mut y) = (data::<T>(n, 1), data::<T>(n, 2), vec![T::default(); n]);
                let mut s = vec![T::default(); n];
                softmax_forward(Op::Softmax, &x, len, 1, &mut s);
                g.throughput(Throughput::Elements(n as u64));
                g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
                    b.iter(|| match op {
                        Op::Softmax | Op::LogSoftmax => softmax_forward(op, &x, len, 1, &mut y),
                        _ => softmax_backward(op, &gr, &s, len, 1, &mut y),
                    })
                });
            }
        }
    }
    let mut g = c.benchmark_group(format!("glu/{}", T::NAME));
    for n in SIZES {
        let (x, mut y) = (data::<T>(n, 1), vec![T::default(); n / 2]);
        let shape = [n / 1000, 500];
        let views = [0, 500].map(|o| View {
            ptr: x[o..].as_ptr(),
            strides: &[1000, 1],
        });
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| unsafe { elementwise(&Glu, &shape, views, y.as_mut_ptr(), &[500, 1]) })
        });
    }
    drop(g);
    let mut g = c.benchmark_group(format!("rrelu_noise/{}", T::NAME));
    for n in SIZES {
        let mut r = vec![T::default(); n];
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| rrelu_noise(7, 0.125, 1.0 / 3.0, &mut r))
        });
    }
}

fn all<T: Real>(c: &mut Criterion) {
    axis::<T>(c);
    unary::<T, _>(c, "sigmoid", &Sigmoid);
    unary::<T, _>(c, "sigmoid_derivative", &SigmoidDerivative);
    binary::<T, _>(c, "sigmoid_backward", &SigmoidBackward);
    unary::<T, _>(c, "tanh", &Tanh);
    unary::<T, _>(c, "tanh_derivative", &TanhDerivative);
    binary::<T, _>(c, "tanh_backward", &TanhBackward);
    unary::<T, _>(c, "relu", &Relu);
    binary::<T, _>(c, "relu_backward", &ReluBackward);
    unary::<T, _>(c, "leaky_relu", &LeakyRelu { slope: 0.01 });
    binary::<T, _>(c, "leaky_relu_backward", &LeakyReluBackward { slope: 0.01 });
    unary::<T, _>(c, "elu", &Elu { alpha: 1.0 });
    binary::<T, _>(c, "elu_backward", &EluBackward { alpha: 1.0 });
    binary::<T, _>(
        c,
        "elu_backward_from_output",
        &EluBackwardFromOutput { alpha: 1.0 },
    );
    shaped::<T>(c);
    rest::<T>(c);
}

/// The rest of torch.nn.functional's activations (issue 5): each forward and its backward from
/// `(grad, x)` (or from the saved output, where that is the one ATen has), with PyTorch's
/// default parameters.
fn rest<T: Real>(c: &mut Criterion) {
    unary::<T, _>(c, "gelu", &Gelu);
    binary::<T, _>(c, "gelu_backward", &GeluBackward);
    unary::<T, _>(c, "gelu_tanh", &GeluTanh);
    binary::<T, _>(c, "gelu_tanh_backward", &GeluTanhBackward);
    unary::<T, _>(c, "silu", &Silu);
    binary::<T, _>(c, "silu_backward", &SiluBackward);
    unary::<T, _>(c, "mish", &Mish);
    binary::<T, _>(c, "mish_backward", &MishBackward);
    let (beta, threshold) = (1.0, 20.0);
    unary::<T, _>(c, "softplus", &Softplus { beta, threshold });
    binary::<T, _>(
        c,
        "softplus_backward",
        &SoftplusBackward { beta, threshold },
    );
    unary::<T, _>(c, "logsigmoid", &Logsigmoid);
    binary::<T, _>(c, "logsigmoid_backward", &LogsigmoidBackward);
    unary::<T, _>(c, "softsign", &Softsign);
    binary::<T, _>(c, "softsign_backward", &SoftsignBackward);
    unary::<T, _>(c, "tanhshrink", &Tanhshrink);
    binary::<T, _>(c, "tanhshrink_backward", &TanhshrinkBackward);
    unary::<T, _>(c, "selu", &Selu);
    binary::<T, _>(c, "selu_backward", &SeluBackward);
    unary::<T, _>(c, "celu", &Celu { alpha: 1.0 });
    binary::<T, _>(c, "celu_backward", &CeluBackward { alpha: 1.0 });
    let (min_val, max_val) = (-1.0, 1.0);
    unary::<T, _>(c, "hardtanh", &Hardtanh { min_val, max_val });
    binary::<T, _>(
        c,
        "hardtanh_backward",
        &HardtanhBackward { min_val, max_val },
    );
    unary::<T, _>(c, "hardsigmoid", &Hardsigmoid);
    binary::<T, _>(c, "hardsigmoid_backward", &HardsigmoidBackward);
    unary::<T, _>(c, "hardswish", &Hardswish);
    binary::<T, _>(c, "hardswish_backward", &HardswishBackward);
    let lambd = 0.5;
    unary::<T, _>(c, "softshrink", &Softshrink { lambd });
    unary::<T, _>(c, "hardshrink", &Hardshrink { lambd });
    binary::<T, _>(c, "shrink_backward", &ShrinkBackward { lambd });
    unary::<T, _>(
        c,
        "threshold",
        &Threshold {
            threshold: 0.1,
            value: 20.0,
        },
    );
    binary::<T, _>(
        c,
        "threshold_backward",
        &ThresholdBackward { threshold: 0.1 },
    );
    unary::<T, _>(c, "two_relu", &TwoRelu);
    binary::<T, _>(c, "two_relu_backward", &TwoReluBackward);
}

fn benches(c: &mut Criterion) {
    all::<f32>(c);
    all::<f64>(c);
}

criterion_group! {
    name = group;
    config = Criterion::default().sample_size(10).warm_up_time(Duration::from_millis(200)).measurement_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(group);
