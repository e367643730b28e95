import CBLAS

/// The one place polycom calls cblas. Row-major single-precision only.
public enum BLAS {
    /// c[m, n] = alpha · op(a) · op(b) + beta · c, with op = transpose when the flag is set.
    @inlinable
    public static func sgemm(transA: Bool = false, transB: Bool = false,
                             m: Int, n: Int, k: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y[m] = alpha · a[m, n] · x + beta · y   (or aᵀ · x when `trans`).
    @inlinable
    public static func sgemv(trans: Bool = false, m: Int, n: Int, alpha: Float = 1,
                             a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>,
                             beta: Float = 0, y: UnsafeMutablePointer<Float>) {
        cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), alpha,
                    a, Int32(lda), x, 1, beta, y, 1)
    }

    /// The number of threads OpenBLAS uses. One count for the whole process (OpenBLAS keeps
    /// it in the library): the CLI sets it once at startup; our own kernels take theirs from
    /// `ComputeOptions`.
    public static var threads: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(newValue)) }
    }
}
