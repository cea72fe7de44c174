//! SIMD distance kernels: AVX2+FMA on x86-64 and NEON on aarch64, chosen at run time,
//! with the portable versions in `distance.rs` as the fallback and the reference in tests.

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    #[inline]
    unsafe fn hsum(v: __m256) -> f32 {
        // SAFETY: plain register arithmetic; the caller guarantees AVX is available.
        unsafe {
            let hi = _mm256_extractf128_ps(v, 1);
            let lo = _mm256_castps256_ps128(v);
            let s = _mm_add_ps(hi, lo);
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
            _mm_cvtss_f32(s)
        }
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA; `a` and `b` must have the same length.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        // SAFETY: every load reads 8 floats at i < n - 7, inside both slices.
        unsafe {
            let (mut s0, mut s1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
            let mut i = 0;
            while i + 16 <= n {
                s0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), s0);
                s1 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(pa.add(i + 8)),
                    _mm256_loadu_ps(pb.add(i + 8)),
                    s1,
                );
                i += 16;
            }
            while i + 8 <= n {
                s0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), s0);
                i += 8;
            }
            let mut sum = hsum(_mm256_add_ps(s0, s1));
            while i < n {
                sum += *pa.add(i) * *pb.add(i);
                i += 1;
            }
            sum
        }
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        // SAFETY: loads stay below n as in `dot`.
        unsafe {
            let mut s = _mm256_setzero_ps();
            let mut i = 0;
            while i + 8 <= n {
                let d = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
                s = _mm256_fmadd_ps(d, d, s);
                i += 8;
            }
            let mut sum = hsum(s);
            while i < n {
                let d = *pa.add(i) - *pb.add(i);
                sum += d * d;
                i += 1;
            }
            sum
        }
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn l1(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        // SAFETY: loads stay below n as in `dot`.
        unsafe {
            let mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
            let mut s = _mm256_setzero_ps();
            let mut i = 0;
            while i + 8 <= n {
                let d = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
                s = _mm256_add_ps(s, _mm256_and_ps(d, mask));
                i += 8;
            }
            let mut sum = hsum(s);
            while i < n {
                sum += (*pa.add(i) - *pb.add(i)).abs();
                i += 1;
            }
            sum
        }
    }

    /// MaxSim by dot product in one call (so `dot` is inlined, not dispatched per pair):
    /// minus the sum over `q`'s sub-vectors of their largest dot with one of `doc`'s.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `dim` > 0.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn max_sim_dot(q: &[f32], doc: &[f32], dim: usize) -> f32 {
        let mut total = 0.0;
        for qi in q.chunks_exact(dim) {
            let mut best = f32::NEG_INFINITY;
            let mut quads = doc.chunks_exact(4 * dim);
            for d4 in quads.by_ref() {
                // SAFETY: same features as this function; four sub-vectors of `dim`.
                let four = unsafe { dot4(qi, d4, dim) };
                best = four.iter().fold(best, |b, &x| b.max(x));
            }
            for dj in quads.remainder().chunks_exact(dim) {
                // SAFETY: same features as this function; equal lengths.
                best = best.max(unsafe { dot(qi, dj) });
            }
            total -= best;
        }
        total
    }

    /// Dot products of `q` with the four sub-vectors of `d4` (each `q.len()` long): the
    /// loads of `q` are shared and the four sums run side by side.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `d4.len() == 4 * dim`, `q.len() == dim`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot4(q: &[f32], d4: &[f32], dim: usize) -> [f32; 4] {
        let (pq, pd) = (q.as_ptr(), d4.as_ptr());
        // SAFETY: loads read 8 floats at i < dim - 7 of q and of each sub-vector of d4.
        unsafe {
            let mut s = [_mm256_setzero_ps(); 4];
            let mut i = 0;
            while i + 8 <= dim {
                let x = _mm256_loadu_ps(pq.add(i));
                for (j, sj) in s.iter_mut().enumerate() {
                    *sj = _mm256_fmadd_ps(x, _mm256_loadu_ps(pd.add(j * dim + i)), *sj);
                }
                i += 8;
            }
            let mut out = [hsum(s[0]), hsum(s[1]), hsum(s[2]), hsum(s[3])];
            while i < dim {
                for (j, o) in out.iter_mut().enumerate() {
                    *o += *pq.add(i) * *pd.add(j * dim + i);
                }
                i += 1;
            }
            out
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use std::arch::aarch64::*;

    /// # Safety
    /// NEON is part of every aarch64 CPU; slices must have equal length.
    pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        // SAFETY: loads read 4 floats at i < n - 3.
        unsafe {
            let mut s = vdupq_n_f32(0.0);
            let mut i = 0;
            while i + 4 <= n {
                s = vfmaq_f32(s, vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i)));
                i += 4;
            }
            let mut sum = vaddvq_f32(s);
            while i < n {
                sum += *pa.add(i) * *pb.add(i);
                i += 1;
            }
            sum
        }
    }

    /// # Safety
    /// As `dot`.
    pub unsafe fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        // SAFETY: as in `dot`.
        unsafe {
            let mut s = vdupq_n_f32(0.0);
            let mut i = 0;
            while i + 4 <= n {
                let d = vsubq_f32(vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i)));
                s = vfmaq_f32(s, d, d);
                i += 4;
            }
            let mut sum = vaddvq_f32(s);
            while i < n {
                let d = *pa.add(i) - *pb.add(i);
                sum += d * d;
                i += 1;
            }
            sum
        }
    }

    /// # Safety
    /// As `dot`.
    pub unsafe fn l1(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        // SAFETY: as in `dot`.
        unsafe {
            let mut s = vdupq_n_f32(0.0);
            let mut i = 0;
            while i + 4 <= n {
                s = vaddq_f32(s, vabdq_f32(vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i))));
                i += 4;
            }
            let mut sum = vaddvq_f32(s);
            while i < n {
                sum += (*pa.add(i) - *pb.add(i)).abs();
                i += 1;
            }
            sum
        }
    }
}

macro_rules! dispatch {
    ($name:ident) => {
        #[inline]
        pub fn $name(a: &[f32], b: &[f32]) -> f32 {
            #[cfg(target_arch = "x86_64")]
            {
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the features were just detected.
                    return unsafe { x86::$name(a, b) };
                }
            }
            #[cfg(target_arch = "aarch64")]
            {
                // SAFETY: NEON is mandatory on aarch64.
                return unsafe { neon::$name(a, b) };
            }
            #[allow(unreachable_code)]
            super::distance::scalar::$name(a, b)
        }
    };
}

/// Asks the CPU to start loading `s` into cache (a hint; nothing on other targets).
#[inline]
pub fn prefetch<T>(s: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        let p = s.as_ptr() as *const i8;
        let bytes = std::mem::size_of_val(s);
        for off in (0..bytes).step_by(64) {
            // SAFETY: a prefetch never faults; the address is inside `s`.
            unsafe { std::arch::x86_64::_mm_prefetch(p.add(off), std::arch::x86_64::_MM_HINT_T0) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = s;
}

dispatch!(dot);
dispatch!(l2_squared);
dispatch!(l1);

/// MaxSim of prepared vectors compared by dot product (Dot, normalised Cosine), as an order:
/// minus the sum over `q`'s sub-vectors of their best dot with one of `doc`'s.
pub fn max_sim_dot(q: &[f32], doc: &[f32], dim: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the features were just detected; the caller's dim is > 0.
            return unsafe { x86::max_sim_dot(q, doc, dim) };
        }
    }
    q.chunks_exact(dim)
        .map(|qi| {
            doc.chunks_exact(dim)
                .map(|dj| dot(qi, dj))
                .fold(f32::NEG_INFINITY, f32::max)
        })
        .map(|best| -best)
        .sum()
}
