#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import PolyKernels

/// How products are computed, handed to a model (and by it to every `Matrix.apply`), so two
/// models in one process may compute differently and tests never toggle globals.
///
/// OpenBLAS keeps one thread count for the whole process (`BLAS.threads`); the CLI sets it
/// once at startup from `--threads`. `threads` here is what our own kernels split over.
public struct ComputeOptions: Sendable, Equatable {
    /// Threads our kernels split a product over (at least 1).
    public var threads: Int
    /// Multi-token products of bf16 weights with AVX512-BF16 dot products: activations are
    /// rounded to bf16 (as in a bf16 PyTorch run) for about twice the multiply rate. Off by
    /// default (the exact path is f32 math); ignored on CPUs without the instructions. It
    /// replaces the f32 panels only: below `Matrix.panelThreshold` tokens (decode batches)
    /// the exact register-tiled kernel is faster.
    public var bf16DotProducts: Bool

    /// All online cores.
    public static let cores: Int = {
        #if canImport(Glibc)
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        #else
        return max(1, Int(sysconf(_SC_NPROCESSORS_ONLN)))
        #endif
    }()

    public static let cpuHasBF16Dot = pk_has_bf16dot() != 0

    public init(threads: Int = ComputeOptions.cores, bf16DotProducts: Bool = false) {
        self.threads = max(1, threads)
        self.bf16DotProducts = bf16DotProducts
    }

    /// Whether bf16 products of many tokens take the AVX512-BF16 path.
    var usesBF16Dot: Bool { bf16DotProducts && ComputeOptions.cpuHasBF16Dot }
}
