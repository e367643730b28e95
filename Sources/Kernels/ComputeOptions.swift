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
/// once a model is loaded (polycom's BLASThreads: `--threads` where OpenBLAS computes the
/// weight products, else one). `threads` here is what our own kernels split over.
public struct ComputeOptions: Sendable, Equatable {
    /// Threads our kernels split a product over (at least 1).
    public var threads: Int
    /// Multi-token products of bf16 weights with AVX512-BF16 dot products: activations are
    /// rounded to bf16 (as in a bf16 PyTorch run) for about twice the multiply rate. Off by
    /// default (the exact path is f32 math); ignored on CPUs without the instructions. It
    /// replaces the exact prefill GEMM only: below `Matrix.panelThreshold` tokens (decode
    /// batches) the exact register-tiled kernel is faster.
    public var bf16DotProducts: Bool
    /// The family of our decode kernels and bf16 prefill GEMM; the best the CPU has unless forced lower (tests
    /// run the AVX2 and portable kernels this way on any CPU). A family the CPU lacks is
    /// lowered to the best it has.
    public var kernels: KernelFamily
    /// How weight matrices are held, chosen at load (`--weights`): as stored, or converted
    /// once to f32, bf16 or q8. Norm scales and PolyCom coefficients are always f32.
    public var weights: WeightFormat

    /// All online cores.
    public static let cores: Int = {
        #if canImport(Glibc)
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        #else
        return max(1, Int(sysconf(_SC_NPROCESSORS_ONLN)))
        #endif
    }()

    public static let cpuHasBF16Dot = pk_has_bf16dot() != 0

    public init(threads: Int = ComputeOptions.cores, bf16DotProducts: Bool = false, kernels: KernelFamily = .best,
                weights: WeightFormat = .auto) {
        self.threads = max(1, threads)
        self.bf16DotProducts = bf16DotProducts
        self.kernels = kernels
        self.weights = weights
    }

    /// Whether bf16 products of many tokens take the AVX512-BF16 path.
    public var usesBF16Dot: Bool { bf16DotProducts && ComputeOptions.cpuHasBF16Dot }
}

/// Our kernels' instruction-set families, chosen at run time (pk_isa_best).
public enum KernelFamily: Int32, Sendable, CaseIterable {
    case portable = 0 // PK_ISA_PORTABLE: C the compiler vectorises
    case avx2 = 2     // PK_ISA_AVX2: AVX2 + FMA + F16C intrinsics
    case avx512 = 3   // PK_ISA_AVX512

    /// The best family this CPU runs.
    public static let best = KernelFamily(rawValue: pk_isa_best()) ?? .portable

    public init?(name: String) {
        switch name.lowercased() {
        case "portable": self = .portable
        case "avx2": self = .avx2
        case "avx512": self = .avx512
        case "auto", "best": self = .best
        default: return nil
        }
    }
}

/// How a model holds its weight matrices (`--weights`).
public enum WeightFormat: String, Sendable, CaseIterable {
    /// As the checkpoint stores them (a q8 folder stays q8).
    case auto
    case f32, bf16
    /// Blocks of 32 int8 values with one f16 scale each (Matrix+Q8.swift).
    case q8

    public static let names = allCases.map(\.rawValue).joined(separator: ", ")
}
