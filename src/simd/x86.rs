//! x86-64 vectors: AVX2+FMA (256-bit) and AVX-512F (512-bit), for f32 and f64.
//!
//! Values of these types are only created inside [`super::dispatch`] after the CPU has been
//! checked for the level, so the intrinsics they call are always available. Every method is
//! `#[inline(always)]`, so it compiles into the caller's target features.

use std::arch::x86_64::*;
use std::ops::{Add, Div, Mul, Neg, Sub};

use super::Vector;

macro_rules! ops {
    ($v:ident, $add:ident, $sub:ident, $mul:ident, $div:ident) => {
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
                self.xor(Self::splat(-0.0))
            }
        }
    };
}

/// AVX2 vectors; masks are vectors of all-ones/all-zeros lanes.
macro_rules! avx2 {
    ($v:ident, $t:ty, $reg:ty, $lanes:expr, [$add:ident, $sub:ident, $mul:ident, $div:ident, $set1:ident, $loadu:ident,
     $storeu:ident, $fmadd:ident, $and:ident, $or:ident, $andnot:ident, $xor:ident, $cmp:ident, $blendv:ident,
     $to_int:ident, $from_int:ident, $int_add:ident, $int_shl:ident, $set1i:ident], $bias:expr, $mant:expr, $magic:expr,
     $frexp:path, $f64:ty, $widen:path, $narrow:path, [$maskload:ident, $maskstore:ident, $below:path],
     [$movemask:ident, $index4:path, $lookup4:path, $stream:ident]) => {
        #[derive(Clone, Copy)]
        pub struct $v($reg);

        impl $v {
            #[inline(always)]
            fn xor(self, b: Self) -> Self {
                $v(unsafe { $xor(self.0, b.0) })
            }
            #[inline(always)]
            fn cmp<const P: i32>(self, b: Self) -> $reg {
                unsafe { $cmp::<P>(self.0, b.0) }
            }
        }

        impl Vector for $v {
            type Elem = $t;
            type Mask = $reg;
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
                $v(unsafe { $set1(v) })
            }
            #[inline(always)]
            unsafe fn load(p: *const $t) -> Self {
                $v(unsafe { $loadu(p) })
            }
            #[inline(always)]
            unsafe fn store(self, p: *mut $t) {
                unsafe { $storeu(p, self.0) }
            }
            #[inline(always)]
            unsafe fn store_stream(self, p: *mut $t) {
                unsafe { $stream(p, self.0) }
            }
            #[inline(always)]
            fn fence() {
                unsafe { _mm_sfence() }
            }
            #[inline(always)]
            fn prefetch(p: *const $t) {
                unsafe { _mm_prefetch::<_MM_HINT_T0>(p as *const i8) }
            }
            #[inline(always)]
            unsafe fn load_partial(p: *const $t, n: usize, pad: $t) -> Self {
                let m = $below(n);
                $v(unsafe { $blendv(Self::splat(pad).0, $maskload(p, m), $from_int(m)) })
            }
            #[inline(always)]
            unsafe fn store_partial(self, p: *mut $t, n: usize) {
                unsafe { $maskstore(p, $below(n), self.0) }
            }
            #[inline(always)]
            fn mul_add(self, b: Self, c: Self) -> Self {
                $v(unsafe { $fmadd(self.0, b.0, c.0) })
            }
            #[inline(always)]
            fn abs(self) -> Self {
                $v(unsafe { $andnot(Self::splat(-0.0).0, self.0) })
            }
            #[inline(always)]
            fn copysign(self, sign: Self) -> Self {
                let m = Self::splat(-0.0).0;
                unsafe { $v($or($andnot(m, self.0), $and(m, sign.0))) }
            }
            #[inline(always)]
            fn pow2i(self) -> Self {
                // The low bits of `k + 1.5 * 2^(mant)` hold k; shift k + bias into the exponent.
                unsafe {
                    let t = (self + Self::splat($magic)).0;
                    let i = $to_int(t);
                    let e = $int_shl::<$mant>($int_add(i, $set1i($bias)));
                    $v($from_int(e))
                }
            }
            #[inline(always)]
            fn frexp(self) -> (Self, Self) {
                $frexp(self)
            }
            #[inline(always)]
            fn gt(self, b: Self) -> $reg {
                self.cmp::<_CMP_GT_OQ>(b)
            }
            #[inline(always)]
            fn ge(self, b: Self) -> $reg {
                self.cmp::<_CMP_GE_OQ>(b)
            }
            #[inline(always)]
            fn lt(self, b: Self) -> $reg {
                self.cmp::<_CMP_LT_OQ>(b)
            }
            #[inline(always)]
            fn le(self, b: Self) -> $reg {
                self.cmp::<_CMP_LE_OQ>(b)
            }
            #[inline(always)]
            fn is_nan(self) -> $reg {
                self.cmp::<_CMP_UNORD_Q>(self)
            }
            #[inline(always)]
            fn and(a: $reg, b: $reg) -> $reg {
                unsafe { $and(a, b) }
            }
            #[inline(always)]
            fn or(a: $reg, b: $reg) -> $reg {
                unsafe { $or(a, b) }
            }
            #[inline(always)]
            fn select(m: $reg, a: Self, b: Self) -> Self {
                $v(unsafe { $blendv(b.0, a.0, m) })
            }
            #[inline(always)]
            fn any(m: $reg) -> bool {
                unsafe { $movemask(m) != 0 }
            }
            #[inline(always)]
            fn index4(i: Self) -> Self {
                $index4(i)
            }
            #[inline(always)]
            fn lookup4(i: Self, table: [f64; 4]) -> Self {
                $lookup4(i, table)
            }
        }
        ops!($v, $add, $sub, $mul, $div);
    };
}

/// AVX-512F vectors; masks are bit masks. Bitwise float operations go through the integer
/// domain (the float forms need AVX-512DQ).
macro_rules! avx512 {
    ($v:ident, $t:ty, $reg:ty, $mask:ty, $lanes:expr, [$add:ident, $sub:ident, $mul:ident, $div:ident, $set1:ident,
     $loadu:ident, $storeu:ident, $fmadd:ident, $cmp:ident, $blend:ident, $to_int:ident, $from_int:ident, $iadd:ident,
     $ishl:ident, $iset1:ident], $bias:expr, $mant:expr, $magic:expr, $frexp:path, $f64:ty, $widen:path,
     $narrow:path, [$maskload:ident, $maskstore:ident, $stream:ident]) => {
        #[derive(Clone, Copy)]
        pub struct $v($reg);

        impl $v {
            #[inline(always)]
            fn bits(self) -> __m512i {
                unsafe { $to_int(self.0) }
            }
            #[inline(always)]
            fn from_bits(i: __m512i) -> Self {
                $v(unsafe { $from_int(i) })
            }
            #[inline(always)]
            fn xor(self, b: Self) -> Self {
                Self::from_bits(unsafe { _mm512_xor_si512(self.bits(), b.bits()) })
            }
            #[inline(always)]
            fn cmp<const P: i32>(self, b: Self) -> $mask {
                unsafe { $cmp::<P>(self.0, b.0) }
            }
        }

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
                $v(unsafe { $set1(v) })
            }
            #[inline(always)]
            unsafe fn load(p: *const $t) -> Self {
                $v(unsafe { $loadu(p) })
            }
            #[inline(always)]
            unsafe fn store(self, p: *mut $t) {
                unsafe { $storeu(p, self.0) }
            }
            #[inline(always)]
            unsafe fn store_stream(self, p: *mut $t) {
                unsafe { $stream(p, self.0) }
            }
            #[inline(always)]
            fn fence() {
                unsafe { _mm_sfence() }
            }
            #[inline(always)]
            fn prefetch(p: *const $t) {
                unsafe { _mm_prefetch::<_MM_HINT_T0>(p as *const i8) }
            }
            #[inline(always)]
            unsafe fn load_partial(p: *const $t, n: usize, pad: $t) -> Self {
                let m = ((1u32 << n) - 1) as $mask;
                $v(unsafe { $maskload(Self::splat(pad).0, m, p) })
            }
            #[inline(always)]
            unsafe fn store_partial(self, p: *mut $t, n: usize) {
                unsafe { $maskstore(p, ((1u32 << n) - 1) as $mask, self.0) }
            }
            #[inline(always)]
            fn mul_add(self, b: Self, c: Self) -> Self {
                $v(unsafe { $fmadd(self.0, b.0, c.0) })
            }
            #[inline(always)]
            fn abs(self) -> Self {
                Self::from_bits(unsafe {
                    _mm512_andnot_si512(Self::splat(-0.0).bits(), self.bits())
                })
            }
            #[inline(always)]
            fn copysign(self, sign: Self) -> Self {
                let m = Self::splat(-0.0).bits();
                unsafe {
                    Self::from_bits(_mm512_or_si512(
                        _mm512_andnot_si512(m, self.bits()),
                        _mm512_and_si512(m, sign.bits()),
                    ))
                }
            }
            #[inline(always)]
            fn pow2i(self) -> Self {
                unsafe {
                    let i = (self + Self::splat($magic)).bits();
                    let e = $ishl::<$mant>($iadd(i, $iset1($bias)));
                    Self::from_bits(e)
                }
            }
            #[inline(always)]
            fn frexp(self) -> (Self, Self) {
                $frexp(self)
            }
            #[inline(always)]
            fn gt(self, b: Self) -> $mask {
                self.cmp::<_CMP_GT_OQ>(b)
            }
            #[inline(always)]
            fn ge(self, b: Self) -> $mask {
                self.cmp::<_CMP_GE_OQ>(b)
            }
            #[inline(always)]
            fn lt(self, b: Self) -> $mask {
                self.cmp::<_CMP_LT_OQ>(b)
            }
            #[inline(always)]
            fn le(self, b: Self) -> $mask {
                self.cmp::<_CMP_LE_OQ>(b)
            }
            #[inline(always)]
            fn is_nan(self) -> $mask {
                self.cmp::<_CMP_UNORD_Q>(self)
            }
            #[inline(always)]
            fn and(a: $mask, b: $mask) -> $mask {
                a & b
            }
            #[inline(always)]
            fn or(a: $mask, b: $mask) -> $mask {
                a | b
            }
            #[inline(always)]
            fn select(m: $mask, a: Self, b: Self) -> Self {
                $v(unsafe { $blend(m, b.0, a.0) })
            }
            #[inline(always)]
            fn any(m: $mask) -> bool {
                m != 0
            }
        }
        ops!($v, $add, $sub, $mul, $div);
    };
}

avx2!(
    Avx2F32,
    f32,
    __m256,
    8,
    [
        _mm256_add_ps,
        _mm256_sub_ps,
        _mm256_mul_ps,
        _mm256_div_ps,
        _mm256_set1_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_fmadd_ps,
        _mm256_and_ps,
        _mm256_or_ps,
        _mm256_andnot_ps,
        _mm256_xor_ps,
        _mm256_cmp_ps,
        _mm256_blendv_ps,
        _mm256_castps_si256,
        _mm256_castsi256_ps,
        _mm256_add_epi32,
        _mm256_slli_epi32,
        _mm256_set1_epi32
    ],
    127,
    23,
    12582912.0,
    frexp_avx2_f32,
    Avx2F64,
    widen_avx2,
    narrow_avx2,
    [_mm256_maskload_ps, _mm256_maskstore_ps, below_avx2_f32],
    [
        _mm256_movemask_ps,
        index4_avx2_f32,
        lookup4_avx2_f32,
        _mm256_stream_ps
    ]
);
avx2!(
    Avx2F64,
    f64,
    __m256d,
    4,
    [
        _mm256_add_pd,
        _mm256_sub_pd,
        _mm256_mul_pd,
        _mm256_div_pd,
        _mm256_set1_pd,
        _mm256_loadu_pd,
        _mm256_storeu_pd,
        _mm256_fmadd_pd,
        _mm256_and_pd,
        _mm256_or_pd,
        _mm256_andnot_pd,
        _mm256_xor_pd,
        _mm256_cmp_pd,
        _mm256_blendv_pd,
        _mm256_castpd_si256,
        _mm256_castsi256_pd,
        _mm256_add_epi64,
        _mm256_slli_epi64,
        _mm256_set1_epi64x
    ],
    1023,
    52,
    6755399441055744.0,
    frexp_avx2_f64,
    Avx2F64,
    super::same,
    super::first,
    [_mm256_maskload_pd, _mm256_maskstore_pd, below_avx2_f64],
    [
        _mm256_movemask_pd,
        index4_avx2_f64,
        lookup4_avx2_f64,
        _mm256_stream_pd
    ]
);
avx512!(
    Avx512F32,
    f32,
    __m512,
    __mmask16,
    16,
    [
        _mm512_add_ps,
        _mm512_sub_ps,
        _mm512_mul_ps,
        _mm512_div_ps,
        _mm512_set1_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_fmadd_ps,
        _mm512_cmp_ps_mask,
        _mm512_mask_blend_ps,
        _mm512_castps_si512,
        _mm512_castsi512_ps,
        _mm512_add_epi32,
        _mm512_slli_epi32,
        _mm512_set1_epi32
    ],
    127,
    23,
    12582912.0,
    frexp_avx512_f32,
    Avx512F64,
    widen_avx512,
    narrow_avx512,
    [
        _mm512_mask_loadu_ps,
        _mm512_mask_storeu_ps,
        _mm512_stream_ps
    ]
);
avx512!(
    Avx512F64,
    f64,
    __m512d,
    __mmask8,
    8,
    [
        _mm512_add_pd,
        _mm512_sub_pd,
        _mm512_mul_pd,
        _mm512_div_pd,
        _mm512_set1_pd,
        _mm512_loadu_pd,
        _mm512_storeu_pd,
        _mm512_fmadd_pd,
        _mm512_cmp_pd_mask,
        _mm512_mask_blend_pd,
        _mm512_castpd_si512,
        _mm512_castsi512_pd,
        _mm512_add_epi64,
        _mm512_slli_epi64,
        _mm512_set1_epi64
    ],
    1023,
    52,
    6755399441055744.0,
    frexp_avx512_f64,
    Avx512F64,
    super::same,
    super::first,
    [
        _mm512_mask_loadu_pd,
        _mm512_mask_storeu_pd,
        _mm512_stream_pd
    ]
);

/// All-ones in the lanes below `n`, for the masked loads and stores of a tail.
#[inline(always)]
fn below_avx2_f32(n: usize) -> __m256i {
    unsafe {
        _mm256_cmpgt_epi32(
            _mm256_set1_epi32(n as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    }
}

#[inline(always)]
fn below_avx2_f64(n: usize) -> __m256i {
    unsafe { _mm256_cmpgt_epi64(_mm256_set1_epi64x(n as i64), _mm256_setr_epi64x(0, 1, 2, 3)) }
}

// index4 / lookup4: `vpermps` picks each lane's entry of a 4-entry table held in one register. Its
// index is the low 3 bits of each 32-bit lane, which `i + 1.5 * 2^23` holds for float32. A
// float64 lane needs the two halves `2i` and `2i + 1`: the low 32 bits of `2i + (1.5 * 2^52 +
// 2^32)` hold `2i`, and its high 32 bits plus `2i` end in `2i + 1`.

#[inline(always)]
fn index4_avx2_f32(i: Avx2F32) -> Avx2F32 {
    i + Avx2F32::splat(12582912.0)
}

#[inline(always)]
fn lookup4_avx2_f32(i: Avx2F32, t: [f64; 4]) -> Avx2F32 {
    let [a, b, c, d] = [t[0] as f32, t[1] as f32, t[2] as f32, t[3] as f32];
    unsafe {
        let table = _mm256_setr_ps(a, b, c, d, a, b, c, d);
        Avx2F32(_mm256_permutevar8x32_ps(table, _mm256_castps_si256(i.0)))
    }
}

#[inline(always)]
fn index4_avx2_f64(i: Avx2F64) -> Avx2F64 {
    unsafe {
        let t = _mm256_castpd_si256((i + i + Avx2F64::splat(6755399441055744.0 + 4294967296.0)).0);
        Avx2F64(_mm256_castsi256_pd(_mm256_add_epi64(
            t,
            _mm256_slli_epi64::<32>(t),
        )))
    }
}

#[inline(always)]
fn lookup4_avx2_f64(i: Avx2F64, t: [f64; 4]) -> Avx2F64 {
    unsafe {
        let table = _mm256_castpd_ps(_mm256_setr_pd(t[0], t[1], t[2], t[3]));
        let v = _mm256_permutevar8x32_ps(table, _mm256_castpd_si256(i.0));
        Avx2F64(_mm256_castps_pd(v))
    }
}

// frexp: the mantissa by replacing the exponent field with the bias; the exponent field as an
// integer, converted to float (f64 through the 2^52 trick: AVX2 and AVX-512F have no i64 -> f64).

#[inline(always)]
fn frexp_avx2_f32(x: Avx2F32) -> (Avx2F32, Avx2F32) {
    unsafe {
        let b = _mm256_castps_si256(x.0);
        let m = _mm256_or_si256(
            _mm256_and_si256(b, _mm256_set1_epi32(0x007f_ffff)),
            _mm256_set1_epi32(0x3f80_0000),
        );
        let e = _mm256_sub_epi32(_mm256_srli_epi32::<23>(b), _mm256_set1_epi32(127));
        (
            Avx2F32(_mm256_castsi256_ps(m)),
            Avx2F32(_mm256_cvtepi32_ps(e)),
        )
    }
}

#[inline(always)]
fn frexp_avx2_f64(x: Avx2F64) -> (Avx2F64, Avx2F64) {
    unsafe {
        let b = _mm256_castpd_si256(x.0);
        let m = _mm256_or_si256(
            _mm256_and_si256(b, _mm256_set1_epi64x(0x000f_ffff_ffff_ffff)),
            _mm256_set1_epi64x(0x3ff0_0000_0000_0000),
        );
        let field = _mm256_or_si256(
            _mm256_srli_epi64::<52>(b),
            _mm256_set1_epi64x(0x4330_0000_0000_0000),
        );
        let e = _mm256_sub_pd(
            _mm256_castsi256_pd(field),
            _mm256_set1_pd(4503599627370496.0 + 1023.0),
        );
        (Avx2F64(_mm256_castsi256_pd(m)), Avx2F64(e))
    }
}

#[inline(always)]
fn frexp_avx512_f32(x: Avx512F32) -> (Avx512F32, Avx512F32) {
    unsafe {
        let b = _mm512_castps_si512(x.0);
        let m = _mm512_or_si512(
            _mm512_and_si512(b, _mm512_set1_epi32(0x007f_ffff)),
            _mm512_set1_epi32(0x3f80_0000),
        );
        let e = _mm512_sub_epi32(_mm512_srli_epi32::<23>(b), _mm512_set1_epi32(127));
        (
            Avx512F32(_mm512_castsi512_ps(m)),
            Avx512F32(_mm512_cvtepi32_ps(e)),
        )
    }
}

#[inline(always)]
fn frexp_avx512_f64(x: Avx512F64) -> (Avx512F64, Avx512F64) {
    unsafe {
        let b = _mm512_castpd_si512(x.0);
        let m = _mm512_or_si512(
            _mm512_and_si512(b, _mm512_set1_epi64(0x000f_ffff_ffff_ffff)),
            _mm512_set1_epi64(0x3ff0_0000_0000_0000),
        );
        let field = _mm512_or_si512(
            _mm512_srli_epi64::<52>(b),
            _mm512_set1_epi64(0x4330_0000_0000_0000),
        );
        let e = _mm512_sub_pd(
            _mm512_castsi512_pd(field),
            _mm512_set1_pd(4503599627370496.0 + 1023.0),
        );
        (Avx512F64(_mm512_castsi512_pd(m)), Avx512F64(e))
    }
}

// widen / narrow: float32 lanes to float64 (exact) and back (rounded to nearest, as MXCSR is).

#[inline(always)]
fn widen_avx2(x: Avx2F32) -> (Avx2F64, Avx2F64) {
    unsafe {
        let lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x.0));
        let hi = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x.0));
        (Avx2F64(lo), Avx2F64(hi))
    }
}

#[inline(always)]
fn narrow_avx2(lo: Avx2F64, hi: Avx2F64) -> Avx2F32 {
    unsafe {
        Avx2F32(_mm256_set_m128(
            _mm256_cvtpd_ps(hi.0),
            _mm256_cvtpd_ps(lo.0),
        ))
    }
}

#[inline(always)]
fn widen_avx512(x: Avx512F32) -> (Avx512F64, Avx512F64) {
    unsafe {
        let lo = _mm512_cvtps_pd(_mm512_castps512_ps256(x.0));
        let hi = _mm512_extractf64x4_pd::<1>(_mm512_castps_pd(x.0));
        (
            Avx512F64(lo),
            Avx512F64(_mm512_cvtps_pd(_mm256_castpd_ps(hi))),
        )
    }
}

#[inline(always)]
fn narrow_avx512(lo: Avx512F64, hi: Avx512F64) -> Avx512F32 {
    unsafe {
        let lo = _mm512_castps_pd(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo.0)));
        let hi = _mm256_castps_pd(_mm512_cvtpd_ps(hi.0));
        Avx512F32(_mm512_castpd_ps(_mm512_insertf64x4::<1>(lo, hi)))
    }
}
