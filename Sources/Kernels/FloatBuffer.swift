/// An owned, fixed-size, zero-initialised array of Float with a stable address.
///
/// Activations and caches live in these so kernels can take plain pointers without
/// nesting `withUnsafe…` closures; the buffer frees its memory when released.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    /// `zeroed: false` leaves the memory untouched until written, so a large buffer costs
    /// nothing up front (a KV cache sized for the whole context).
    public init(count: Int, zeroed: Bool = true) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        if zeroed { pointer.initialize(repeating: 0, count: max(count, 1)) }
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { pointer.deallocate() }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    public func fill(_ value: Float) { pointer.update(repeating: value, count: count) }

    /// Pointer to row `r` of a row-major matrix with `width` columns.
    public func row(_ r: Int, width: Int) -> UnsafeMutablePointer<Float> { pointer + r * width }
}
