import Dispatch
import PolyKernels

/// This machine's limits, measured in the run that reports against them: read bandwidth
/// with the widest loads the CPU has on every thread (what decode can at best reach), the
/// FMA rate of registers alone, and OpenBLAS's sgemm rate on a square product (what a
/// well-tuned f32 prefill reaches). FMA and sgemm are the median of `repeats` timings; the
/// read bandwidth is the best of `readSamples` (its spread kept), see `readBandwidth`.
public struct Roofline: Sendable {
    /// The best read sample: the limit decode is held to.
    public var readGBPerS: Double
    /// The read samples' median and worst, to tell a steady machine from a shared, noisy one.
    public var readMedianGBPerS: Double
    public var readWorstGBPerS: Double
    public var fmaGFLOPPerS: Double
    public var sgemmGFLOPPerS: Double

    /// Timed reads `measure` takes the best of.
    public static let readSamples = 30

    public static func measure(threads: Int, readBytes: Int = 512 << 20, readSamples: Int = Roofline.readSamples, gemmSize: Int = 1024,
                               repeats: Int = 5) -> Roofline {
        let read = readBandwidth(threads: threads, bytes: readBytes, samples: readSamples).map { $0 / 1e9 }
        return Roofline(readGBPerS: read.max() ?? .nan, readMedianGBPerS: median(read), readWorstGBPerS: read.min() ?? .nan,
                        fmaGFLOPPerS: fmaRate(threads: threads, repeats: repeats) / 1e9,
                        sgemmGFLOPPerS: sgemmRate(n: gemmSize, repeats: repeats) / 1e9)
    }

    /// Bytes per second of `samples` timed reads, each `passes` passes over the buffer by
    /// `threads` threads started together (pk_probe_read_parallel). The buffer is touched
    /// once before timing so page faults are not counted (an empty result when it cannot be
    /// allocated), and should be far larger than
    /// the last-level cache (512 MiB against this VM's 32 MiB L3), so every pass reads
    /// memory. The best sample is the limit — the most this machine read in this run —
    /// because on a shared machine every slower one is time lost to other processes. A
    /// sample reads about what one decode step of the bench's 4-layer PolyNorm_1B-shaped
    /// checkpoint reads (512 MiB against 0.54 GB; ~15 ms at 35 GB/s), so the best sample and
    /// the bench's fastest decode step are the same kind of measurement: with 2 passes (1 GiB)
    /// per sample, the fastest decode steps read faster than the best of 10 samples whenever
    /// other processes were running.
    public static func readBandwidth(threads: Int, bytes: Int, samples: Int, passes: Int = 1) -> [Double] {
        // In 2 MiB pages like the weights (WeightMemory): on 4 KiB pages the same loop read
        // 20–40% less, so it measured the pages rather than the machine.
        guard let raw = WeightMemory.allocate(bytes) else { return [] }
        defer { WeightMemory.deallocate(raw, bytes: bytes) }
        raw.initializeMemory(as: UInt8.self, repeating: 1, count: bytes)
        let read = Double(bytes / threads / 64 * 64 * threads * passes)
        return (0..<samples).compactMap { _ in
            let seconds = pk_probe_read_parallel(raw, bytes, Int32(threads), Int32(passes))
            return seconds > 0 ? read / seconds : nil
        }
    }

    /// Flops per second of independent FMAs on every thread.
    public static func fmaRate(threads: Int, steps: Int = 20_000_000, repeats: Int) -> Double {
        median((0..<repeats).map { _ in
            let t0 = DispatchTime.now().uptimeNanoseconds
            let flops = UnsafeMutablePointer<Double>.allocate(capacity: threads)
            defer { flops.deallocate() }
            let out = UnsafeMutableSendablePointer(flops)
            DispatchQueue.concurrentPerform(iterations: threads) { part in
                var sink: Float = 0
                out.pointer[part] = pk_probe_fma(steps, &sink)
            }
            return (0..<threads).reduce(0.0) { $0 + flops[$1] } / seconds(since: t0)
        })
    }

    /// Flops per second of an n×n×n sgemm (OpenBLAS, its own thread count).
    public static func sgemmRate(n: Int, repeats: Int) -> Double {
        let a = FloatBuffer(count: n * n), c = FloatBuffer(count: n * n)
        a.fill(0.5)
        return median((0..<repeats).map { _ in
            let t0 = DispatchTime.now().uptimeNanoseconds
            BLAS.sgemm(transB: true, m: n, n: n, k: n, a: a.pointer, lda: n, b: a.pointer, ldb: n, c: c.pointer, ldc: n)
            return 2 * Double(n * n * n) / seconds(since: t0)
        })
    }

    static func seconds(since t0: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
}

/// The middle value (the mean of the two middle ones for an even count).
public func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    guard !s.isEmpty else { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
