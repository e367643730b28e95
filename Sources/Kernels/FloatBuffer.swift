#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An owned, fixed-size, zero-initialised array of Float with a stable address.
///
/// Activations and caches live in these so kernels can take plain pointers without
/// nesting `withUnsafe…` closures; the buffer frees its memory when released.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    /// `zeroed: false` leaves the memory untouched until written, so a large buffer costs
    /// nothing up front (a KV cache sized for the whole context).
    /// Zeroed buffers come from calloc, whose large blocks are fresh zero pages that cost
    /// memory only once written: a training run's gradients and moments are not resident
    /// while the checkpoint they are loaded beside is still mapped.
    public init(count: Int, zeroed: Bool = true) {
        self.count = count
        let n = max(count, 1)
        guard let raw = zeroed ? calloc(n, MemoryLayout<Float>.stride) : malloc(n * MemoryLayout<Float>.stride) else {
            fatalError("out of memory allocating \(n) floats")
        }
        pointer = raw.bindMemory(to: Float.self, capacity: n)
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { free(pointer) }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    public func fill(_ value: Float) { pointer.update(repeating: value, count: count) }

    /// Pointer to row `r` of a row-major matrix with `width` columns.
    public func row(_ r: Int, width: Int) -> UnsafeMutablePointer<Float> { pointer + r * width }
}
