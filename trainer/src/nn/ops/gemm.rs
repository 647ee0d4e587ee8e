//! Strided f32 matrix product through the `gemm` crate (the kernel dfdx itself uses), writing
//! into caller buffers so the convolution can avoid dfdx's per-call allocations.

/// A matrix view: element (i, j) is `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> View<'a> {
    /// A row-major matrix.
    pub fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        View { data, rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// The transpose of this view (no copy).
    pub fn t(self) -> Self {
        View {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride
                < self.data.len()
    }
}

/// `dst[m, n] = a[m, k] · b[k, n]` (or `+=` when `accumulate`), `dst` row-major, on the
/// calling thread only: for callers that parallelise over independent products themselves.
pub(crate) fn matmul_serial(dst: &mut [f32], accumulate: bool, a: View<'_>, b: View<'_>) {
    let (m, n) = (a.rows, b.cols);
    assert!(dst.len() >= m * n, "gemm bounds");
    // SAFETY: `dst` holds m * n initialised values.
    unsafe { gemm_raw(dst.as_mut_ptr(), accumulate, a, b, false) }
}

/// `a[m, k] · b[k, n]` into a new row-major vector. The vector is not zero-filled first:
/// gemm writes every element of its destination before it reads any (with `read_dst` off its
/// first pass over the inner dimension stores, later passes add), so the fill would be a wasted
/// pass over a buffer that is often several megabytes.
pub(crate) fn matmul_new(a: View<'_>, b: View<'_>) -> Vec<f32> {
    let len = a.rows * b.cols;
    if a.cols == 0 {
        return vec![0.0; len];
    }
    let mut dst: Vec<f32> = Vec::with_capacity(len);
    // SAFETY: the capacity is m * n; gemm (k > 0, read_dst false) stores all m * n elements
    // through the raw pointer before the length is set, and never reads them first.
    unsafe {
        gemm_raw(dst.as_mut_ptr(), false, a, b, true);
        dst.set_len(len);
    }
    dst
}

/// [`matmul_serial`] (`accumulate` off) into an unfilled destination of `m * n` elements,
/// which it initialises (see [`matmul_new`] for why gemm never reads it first).
pub(crate) fn matmul_serial_uninit(dst: &mut [std::mem::MaybeUninit<f32>], a: View<'_>, b: View<'_>) {
    let (m, n) = (a.rows, b.cols);
    assert!(dst.len() == m * n, "gemm bounds");
    if a.cols == 0 {
        dst.iter_mut().for_each(|d| {
            d.write(0.0);
        });
        return;
    }
    // SAFETY: `dst` has room for m * n values; gemm (k > 0, read_dst false) stores every one
    // before reading any.
    unsafe { gemm_raw(dst.as_mut_ptr().cast(), false, a, b, false) }
}

/// `dst[m, n] = a · b` or `+=`; `dst` points to `m * n` writable f32, row-major, which must be
/// initialised when `accumulate` is set.
unsafe fn gemm_raw(dst: *mut f32, accumulate: bool, a: View<'_>, b: View<'_>, parallel: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert!(b.rows == k && a.fits() && b.fits(), "gemm bounds");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m * n {
                *dst.add(i) = 0.0;
            }
        }
        return;
    }
    let threads = if parallel { rayon::current_num_threads() } else { 1 };
    let parallelism =
        if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    // The asserts above keep every strided access of a and b inside its slice; the caller
    // guarantees dst.
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        n as isize,
        accumulate,
        a.data.as_ptr(),
        a.col_stride as isize,
        a.row_stride as isize,
        b.data.as_ptr(),
        b.col_stride as isize,
        b.row_stride as isize,
        1.0,
        1.0,
        false,
        false,
        false,
        parallelism,
    );
}
