//! aarch64 vectors: NEON (128-bit), for f32 and f64. NEON is part of every aarch64 CPU, so
//! these types need no run-time check.

use std::arch::aarch64::*;
use std::ops::{Add, Div, Mul, Neg, Sub};

use super::Vector;

#[inline(always)]
unsafe fn not_u64(m: uint64x2_t) -> uint64x2_t {
    unsafe { vreinterpretq_u64_u32(vmvnq_u32(vreinterpretq_u32_u64(m))) }
}

#[inline(always)]
unsafe fn same_u32(m: uint32x4_t) -> uint32x4_t {
    m
}

/// One NEON vector type: `$v($reg)` with masks `$mask`, the intrinsics named per element type.
macro_rules! neon {
    ($v:ident, $t:ty, $reg:ty, $mask:ty, $lanes:expr, [$dup:ident, $ld:ident, $st:ident, $add:ident,
     $sub:ident, $mul:ident, $div:ident, $neg:ident, $fma:ident, $abs:ident, $bsl:ident, $gt:ident, $ge:ident,
     $lt:ident, $le:ident, $eq:ident, $and:ident, $or:ident, $dupu:ident, $to_bits:ident, $from_bits:ident,
     $iadd:ident, $shl:ident, $ushr:ident, $isub:ident, $to_signed:ident, $cvt:ident], $bias:expr, $mant:expr,
     $magic:expr, $mant_mask:expr, $one_bits:expr, $sign:expr, $not:path, $f64:ty, $widen:path,
     $narrow:path, $to_u32:path) => {
        #[derive(Clone, Copy)]
        pub struct $v($reg);

        impl Vector for $v {
            type Elem = $t;
            type Mask = $mask;
            const LANES: usize = $lanes;
            type F64 = $f64;
            #[inline(always)]
            fn widen(self) -> ($f64, $f64) {
                $widen(self)
            }
            #[inline(always)]
            fn narrow(lo: $f64, hi: $f64) -> Self {
                $narrow(lo, hi)
            }
            #[inline(always)]
            fn splat(v: $t) -> Self {
                $v(unsafe { $dup(v) })
            }
            #[inline(always)]
            unsafe fn load(p: *const $t) -> Self {
                $v(unsafe { $ld(p) })
            }
            #[inline(always)]
            unsafe fn store(self, p: *mut $t) {
                unsafe { $st(p, self.0) }
            }
            #[inline(always)]
            fn mul_add(self, b: Self, c: Self) -> Self {
                // vfma(c, a, b) = c + a b, rounded once
                $v(unsafe { $fma(c.0, self.0, b.0) })
            }
            #[inline(always)]
            fn abs(self) -> Self {
                $v(unsafe { $abs(self.0) })
            }
            #[inline(always)]
            fn copysign(self, sign: Self) -> Self {
                $v(unsafe { $bsl($dupu($sign), sign.0, self.0) })
            }
            #[inline(always)]
            fn pow2i(self) -> Self {
                // The low bits of `k + 1.5 * 2^(mant)` hold k; shift k + bias into the exponent.
                unsafe {
                    let i = $to_bits((self + Self::splat($magic)).0);
                    $v($from_bits($shl::<$mant>($iadd(i, $dupu($bias)))))
                }
            }
            #[inline(always)]
            fn frexp(self) -> (Self, Self) {
                unsafe {
                    let b = $to_bits(self.0);
                    let m = $or($and(b, $dupu($mant_mask)), $dupu($one_bits));
                    let e = $isub($to_signed($ushr::<$mant>(b)), $to_signed($dupu($bias)));
                    ($v($from_bits(m)), $v($cvt(e)))
                }
            }
            #[inline(always)]
            fn gt(self, b: Self) -> $mask {
                unsafe { $gt(self.0, b.0) }
            }
            #[inline(always)]
            fn ge(self, b: Self) -> $mask {
                unsafe { $ge(self.0, b.0) }
            }
            #[inline(always)]
            fn lt(self, b: Self) -> $mask {
                unsafe { $lt(self.0, b.0) }
            }
            #[inline(always)]
            fn le(self, b: Self) -> $mask {
                unsafe { $le(self.0, b.0) }
            }
            #[inline(always)]
            fn is_nan(self) -> $mask {
                // NaN is the only value unequal to itself: not(x == x).
                unsafe { $not($eq(self.0, self.0)) }
            }
            #[inline(always)]
            fn and(a: $mask, b: $mask) -> $mask {
                unsafe { $and(a, b) }
            }
            #[inline(always)]
            fn or(a: $mask, b: $mask) -> $mask {
                unsafe { $or(a, b) }
            }
            #[inline(always)]
            fn select(m: $mask, a: Self, b: Self) -> Self {
                $v(unsafe { $bsl(m, a.0, b.0) })
            }
            #[inline(always)]
            fn any(m: $mask) -> bool {
                unsafe { vmaxvq_u32($to_u32(m)) != 0 }
            }
        }

        impl Add for $v {
            type Output = Self;
            #[inline(always)]
            fn add(self, b: Self) -> Self {
                $v(unsafe { $add(self.0, b.0) })
            }
        }
        impl Sub for $v {
            type Output = Self;
            #[inline(always)]
            fn sub(self, b: Self) -> Self {
                $v(unsafe { $sub(self.0, b.0) })
            }
        }
        impl Mul for $v {
            type Output = Self;
            #[inline(always)]
            fn mul(self, b: Self) -> Self {
                $v(unsafe { $mul(self.0, b.0) })
            }
        }
        impl Div for $v {
            type Output = Self;
            #[inline(always)]
            fn div(self, b: Self) -> Self {
                $v(unsafe { $div(self.0, b.0) })
            }
        }
        impl Neg for $v {
            type Output = Self;
            #[inline(always)]
            fn neg(self) -> Self {
                $v(unsafe { $neg(self.0) })
            }
        }
    };
}

neon!(
    NeonF32,
    f32,
    float32x4_t,
    uint32x4_t,
    4,
    [
        vdupq_n_f32,
        vld1q_f32,
        vst1q_f32,
        vaddq_f32,
        vsubq_f32,
        vmulq_f32,
        vdivq_f32,
        vnegq_f32,
        vfmaq_f32,
        vabsq_f32,
        vbslq_f32,
        vcgtq_f32,
        vcgeq_f32,
        vcltq_f32,
        vcleq_f32,
        vceqq_f32,
        vandq_u32,
        vorrq_u32,
        vdupq_n_u32,
        vreinterpretq_u32_f32,
        vreinterpretq_f32_u32,
        vaddq_u32,
        vshlq_n_u32,
        vshrq_n_u32,
        vsubq_s32,
        vreinterpretq_s32_u32,
        vcvtq_f32_s32
    ],
    127,
    23,
    12582912.0,
    0x007f_ffff,
    0x3f80_0000,
    0x8000_0000,
    vmvnq_u32,
    NeonF64,
    widen_neon,
    narrow_neon,
    same_u32
);

neon!(
    NeonF64,
    f64,
    float64x2_t,
    uint64x2_t,
    2,
    [
        vdupq_n_f64,
        vld1q_f64,
        vst1q_f64,
        vaddq_f64,
        vsubq_f64,
        vmulq_f64,
        vdivq_f64,
        vnegq_f64,
        vfmaq_f64,
        vabsq_f64,
        vbslq_f64,
        vcgtq_f64,
        vcgeq_f64,
        vcltq_f64,
        vcleq_f64,
        vceqq_f64,
        vandq_u64,
        vorrq_u64,
        vdupq_n_u64,
        vreinterpretq_u64_f64,
        vreinterpretq_f64_u64,
        vaddq_u64,
        vshlq_n_u64,
        vshrq_n_u64,
        vsubq_s64,
        vreinterpretq_s64_u64,
        vcvtq_f64_s64
    ],
    1023,
    52,
    6755399441055744.0,
    0x000f_ffff_ffff_ffff,
    0x3ff0_0000_0000_0000,
    0x8000_0000_0000_0000,
    not_u64,
    NeonF64,
    super::same,
    super::first,
    vreinterpretq_u32_u64
);

// widen / narrow: float32 lanes to float64 (exact) and back (rounded to nearest).

#[inline(always)]
fn widen_neon(x: NeonF32) -> (NeonF64, NeonF64) {
    unsafe {
        (
            NeonF64(vcvt_f64_f32(vget_low_f32(x.0))),
            NeonF64(vcvt_high_f64_f32(x.0)),
        )
    }
}

#[inline(always)]
fn narrow_neon(lo: NeonF64, hi: NeonF64) -> NeonF32 {
    unsafe { NeonF32(vcvt_high_f32_f64(vcvt_f32_f64(lo.0), hi.0)) }
}
