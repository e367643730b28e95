import Kernels
import Model

/// OpenBLAS keeps one thread count for the whole process, so the CLI alone sets it, once a
/// model is loaded (and before its engine runs): the model's threads (`--threads`, default all
/// cores) where OpenBLAS computes the weight products, one where our kernels do. OpenBLAS then runs only
/// attention's per-head prefill products, which the model splits over heads on its own
/// workers; threaded, OpenBLAS's helpers spin (sched_yield) after each small call against
/// our kernels' workers — 13% of the CPU samples of 1000 HellaSwag docs on polynorm-kjv
/// (2 cores), while they ran under 1% of the products.
enum BLASThreads {
    static func set(for model: DecoderModel) {
        BLAS.threads = model.weightProductsUseBLAS ? model.options.threads : 1
    }
}
