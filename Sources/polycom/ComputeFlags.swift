import ArgumentParser
import Foundation
import Checkpoint
import Kernels

/// How a loaded model computes: the flags `serve`, `eval` and `bench model` share.
struct ComputeFlags: ParsableArguments {
    @Option(help: "Threads for matrix products (default: all cores; OpenBLAS gets them only where it computes the weight products).")
    var threads: Int?

    @Flag(help: "Prefill and scoring of bf16 weights with AVX512-BF16 dot products: activations rounded to bf16, as in a bf16 PyTorch run or lm-eval's hf backend with dtype=bfloat16, about twice as fast. Default: exact f32 math.")
    var bf16Prefill = false

    @Option(help: WeightFormat.help)
    var weights: WeightFormat = .auto

    @Flag(inversion: .prefixedNo, help: "Map the weight files (instant load, pages shared with other processes) instead of reading them into private memory in 2 MiB pages, which decode reads faster and which is immune to a file truncated or overwritten while serving (a mapped server refuses requests once a file changed). Default: --no-mmap.")
    var mmap = false

    func validate() throws {
        if let threads, threads <= 0 { throw ValidationError("--threads must be positive") }
    }

    /// Whether any of them was given.
    var isSet: Bool { threads != nil || bf16Prefill || weights != .auto || mmap }

    /// How the weight files are brought into memory.
    var loading: WeightLoading { mmap ? .mapped : .copied }

    /// Their options; says on stderr when --bf16-prefill cannot take effect on this CPU.
    func options(kernels: KernelFamily = .best) -> ComputeOptions {
        if bf16Prefill && !ComputeOptions.cpuHasBF16Dot {
            FileHandle.standardError.write(Data("note: this CPU has no AVX512-BF16; --bf16-prefill is ignored\n".utf8))
        }
        return ComputeOptions(threads: threads ?? ComputeOptions.cores, bf16DotProducts: bf16Prefill, kernels: kernels, weights: weights)
    }
}
