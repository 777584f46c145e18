//! C math and memory functions for Hermit applications.
//!
//! The recipe renames every symbol of the kernel archive private except the kernel's ABI,
//! so the application no longer finds the kernel's `memcpy` and friends. This crate brings
//! them back in one object appended to the archive:
//! - `memcpy`, `memmove`, `memset`, `memcmp`, `bcmp` and `strlen` come from compiler-builtins,
//!   built with its `mem` feature (`.cargo/config.toml`);
//! - the C math library comes from the `libm` crate, exported below under the C names.
//!
//! `exports.txt` lists the symbols the recipe keeps global; keep it in step with this file.

#![no_std]

/// Exports `libm` functions that take and return plain values under their C names.
macro_rules! by_value {
    ($(fn $name:ident($($arg:ident: $ty:ty),+) -> $ret:ty;)+) => {$(
        #[unsafe(no_mangle)]
        pub extern "C" fn $name($($arg: $ty),+) -> $ret {
            libm::$name($($arg),+)
        }
    )+};
}

/// Exports `libm` functions that return a pair: `-> (R, *mut O)` makes the C function
/// return the first part and write the second through a trailing out-pointer.
macro_rules! with_out_param {
    ($(fn $name:ident($($arg:ident: $ty:ty),+) -> ($ret:ty, *mut $out:ty);)+) => {$(
        /// # Safety
        /// `out` must be valid for a write.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name($($arg: $ty),+, out: *mut $out) -> $ret {
            let (value, second) = libm::$name($($arg),+);
            unsafe { out.write(second) };
            value
        }
    )+};
}

by_value! {
    fn acos(x: f64) -> f64;
    fn acosh(x: f64) -> f64;
    fn asin(x: f64) -> f64;
    fn asinh(x: f64) -> f64;
    fn atan(x: f64) -> f64;
    fn atan2(y: f64, x: f64) -> f64;
    fn atanh(x: f64) -> f64;
    fn cbrt(x: f64) -> f64;
    fn ceil(x: f64) -> f64;
    fn copysign(x: f64, y: f64) -> f64;
    fn cos(x: f64) -> f64;
    fn cosh(x: f64) -> f64;
    fn erf(x: f64) -> f64;
    fn erfc(x: f64) -> f64;
    fn exp(x: f64) -> f64;
    fn exp10(x: f64) -> f64;
    fn exp2(x: f64) -> f64;
    fn expm1(x: f64) -> f64;
    fn fabs(x: f64) -> f64;
    fn fdim(x: f64, y: f64) -> f64;
    fn floor(x: f64) -> f64;
    fn fma(x: f64, y: f64, z: f64) -> f64;
    fn fmax(x: f64, y: f64) -> f64;
    fn fmin(x: f64, y: f64) -> f64;
    fn fmod(x: f64, y: f64) -> f64;
    fn hypot(x: f64, y: f64) -> f64;
    fn ilogb(x: f64) -> i32;
    fn j0(x: f64) -> f64;
    fn j1(x: f64) -> f64;
    fn jn(n: i32, x: f64) -> f64;
    fn ldexp(x: f64, n: i32) -> f64;
    fn lgamma(x: f64) -> f64;
    fn log(x: f64) -> f64;
    fn log10(x: f64) -> f64;
    fn log1p(x: f64) -> f64;
    fn log2(x: f64) -> f64;
    fn nextafter(x: f64, y: f64) -> f64;
    fn pow(x: f64, y: f64) -> f64;
    fn remainder(x: f64, y: f64) -> f64;
    fn rint(x: f64) -> f64;
    fn round(x: f64) -> f64;
    fn scalbn(x: f64, n: i32) -> f64;
    fn sin(x: f64) -> f64;
    fn sinh(x: f64) -> f64;
    fn sqrt(x: f64) -> f64;
    fn tan(x: f64) -> f64;
    fn tanh(x: f64) -> f64;
    fn tgamma(x: f64) -> f64;
    fn trunc(x: f64) -> f64;
    fn y0(x: f64) -> f64;
    fn y1(x: f64) -> f64;
    fn yn(n: i32, x: f64) -> f64;

    fn acosf(x: f32) -> f32;
    fn acoshf(x: f32) -> f32;
    fn asinf(x: f32) -> f32;
    fn asinhf(x: f32) -> f32;
    fn atanf(x: f32) -> f32;
    fn atan2f(y: f32, x: f32) -> f32;
    fn atanhf(x: f32) -> f32;
    fn cbrtf(x: f32) -> f32;
    fn ceilf(x: f32) -> f32;
    fn copysignf(x: f32, y: f32) -> f32;
    fn cosf(x: f32) -> f32;
    fn coshf(x: f32) -> f32;
    fn erff(x: f32) -> f32;
    fn erfcf(x: f32) -> f32;
    fn expf(x: f32) -> f32;
    fn exp10f(x: f32) -> f32;
    fn exp2f(x: f32) -> f32;
    fn expm1f(x: f32) -> f32;
    fn fabsf(x: f32) -> f32;
    fn fdimf(x: f32, y: f32) -> f32;
    fn floorf(x: f32) -> f32;
    fn fmaf(x: f32, y: f32, z: f32) -> f32;
    fn fmaxf(x: f32, y: f32) -> f32;
    fn fminf(x: f32, y: f32) -> f32;
    fn fmodf(x: f32, y: f32) -> f32;
    fn hypotf(x: f32, y: f32) -> f32;
    fn ilogbf(x: f32) -> i32;
    fn j0f(x: f32) -> f32;
    fn j1f(x: f32) -> f32;
    fn jnf(n: i32, x: f32) -> f32;
    fn ldexpf(x: f32, n: i32) -> f32;
    fn lgammaf(x: f32) -> f32;
    fn logf(x: f32) -> f32;
    fn log10f(x: f32) -> f32;
    fn log1pf(x: f32) -> f32;
    fn log2f(x: f32) -> f32;
    fn nextafterf(x: f32, y: f32) -> f32;
    fn powf(x: f32, y: f32) -> f32;
    fn remainderf(x: f32, y: f32) -> f32;
    fn rintf(x: f32) -> f32;
    fn roundf(x: f32) -> f32;
    fn scalbnf(x: f32, n: i32) -> f32;
    fn sinf(x: f32) -> f32;
    fn sinhf(x: f32) -> f32;
    fn sqrtf(x: f32) -> f32;
    fn tanf(x: f32) -> f32;
    fn tanhf(x: f32) -> f32;
    fn tgammaf(x: f32) -> f32;
    fn truncf(x: f32) -> f32;
    fn y0f(x: f32) -> f32;
    fn y1f(x: f32) -> f32;
    fn ynf(n: i32, x: f32) -> f32;
}

with_out_param! {
    fn frexp(x: f64) -> (f64, *mut i32);
    fn lgamma_r(x: f64) -> (f64, *mut i32);
    fn modf(x: f64) -> (f64, *mut f64);
    fn remquo(x: f64, y: f64) -> (f64, *mut i32);

    fn frexpf(x: f32) -> (f32, *mut i32);
    fn lgammaf_r(x: f32) -> (f32, *mut i32);
    fn modff(x: f32) -> (f32, *mut f32);
    fn remquof(x: f32, y: f32) -> (f32, *mut i32);
}

/// `libm` does not panic; this handler only completes the `no_std` staticlib. The recipe
/// makes its symbol local, so the application's own handler stays the only global one.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
