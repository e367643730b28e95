import PolyKernels

/// Something that keeps the memory behind tensor views alive (a mapped file, an allocation).
public protocol TensorStorage: AnyObject, Sendable {}

/// Owned, aligned bytes for tensors made in memory (converted weights, writer input).
public final class ByteStorage: TensorStorage, @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let count: Int

    /// Zeroed, in huge pages when large (WeightMemory).
    public init(count: Int) {
        self.count = count
        guard let p = WeightMemory.allocate(count) else { fatalError("out of memory allocating \(count) bytes for a tensor") }
        pointer = p
    }

    deinit { WeightMemory.deallocate(pointer, bytes: count) }
}

/// A read-only, row-major, typed view of tensor bytes plus the owner of those bytes.
///
/// Views over a memory-mapped checkpoint cost nothing: weights are never copied at load.
public struct Tensor: @unchecked Sendable {
    public let dtype: DType
    public let shape: [Int]
    public let bytes: UnsafeRawBufferPointer
    public let storage: TensorStorage

    public init(dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer, storage: TensorStorage) {
        precondition(bytes.count == shape.reduce(1, *) * dtype.byteSize, "tensor bytes do not match its shape")
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
        self.storage = storage
    }

    public var count: Int { shape.reduce(1, *) }

    /// The values of an F32 tensor, for kernels (norm scales, PolyCom coefficients).
    public var f32: UnsafePointer<Float> {
        precondition(dtype == .f32, "an F32 tensor is needed here, this one is \(dtype)")
        return bytes.baseAddress!.assumingMemoryBound(to: Float.self)
    }

    /// A tensor that owns a copy of `values` as F32.
    public init(_ values: [Float], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "values do not match shape \(shape)")
        let storage = ByteStorage(count: values.count * 4)
        values.withUnsafeBytes { storage.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        self.init(dtype: .f32, shape: shape,
                  bytes: UnsafeRawBufferPointer(start: storage.pointer, count: values.count * 4),
                  storage: storage)
    }

    /// A tensor that owns a copy of raw bytes of the given dtype.
    public init(dtype: DType, shape: [Int], copying raw: UnsafeRawBufferPointer) {
        let storage = ByteStorage(count: raw.count)
        if raw.count > 0 { storage.pointer.copyMemory(from: raw.baseAddress!, byteCount: raw.count) }
        self.init(dtype: dtype, shape: shape,
                  bytes: UnsafeRawBufferPointer(start: storage.pointer, count: raw.count), storage: storage)
    }

    /// Integer tensors (token ids) as Int.
    public init(ints values: [Int], shape: [Int], dtype: DType = .i64) {
        precondition(dtype == .i64 || dtype == .i32)
        if dtype == .i64 {
            let v = values.map { Int64($0) }
            self = v.withUnsafeBytes { Tensor(dtype: .i64, shape: shape, copying: $0) }
        } else {
            let v = values.map { Int32($0) }
            self = v.withUnsafeBytes { Tensor(dtype: .i32, shape: shape, copying: $0) }
        }
    }

    /// Converts float tensors to F32 into `out` (capacity ≥ count).
    public func copyFloats(into out: UnsafeMutablePointer<Float>) {
        let n = count
        switch dtype {
        case .f32:
            out.update(from: bytes.baseAddress!.assumingMemoryBound(to: Float.self), count: n)
        case .bf16:
            pk_bf16_to_f32(out, bytes.baseAddress!.assumingMemoryBound(to: UInt16.self), n)
        case .f16:
            pk_f16_to_f32(out, bytes.baseAddress!.assumingMemoryBound(to: UInt16.self), n)
        case .f64:
            for i in 0..<n { out[i] = Float(bytes.load(fromByteOffset: i * 8, as: Double.self)) }
        default:
            for (i, v) in ints().enumerated() { out[i] = Float(v) }
        }
    }

    /// The values as Float (any numeric dtype).
    public func floats() -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buf, initialised in
            if count > 0 { copyFloats(into: buf.baseAddress!) }
            initialised = count
        }
    }

    /// The values as Int (integer and bool dtypes; floats are truncated).
    public func ints() -> [Int] {
        let n = count
        switch dtype {
        case .i64: return (0..<n).map { Int(bytes.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        case .u64: return (0..<n).map { Int(truncatingIfNeeded: bytes.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)) }
        case .i32: return (0..<n).map { Int(bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
        case .u32: return (0..<n).map { Int(bytes.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)) }
        case .i16: return (0..<n).map { Int(bytes.loadUnaligned(fromByteOffset: $0 * 2, as: Int16.self)) }
        case .u16: return (0..<n).map { Int(bytes.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self)) }
        case .i8: return (0..<n).map { Int(bytes.load(fromByteOffset: $0, as: Int8.self)) }
        case .u8, .bool, .f8e4m3, .f8e5m2: return (0..<n).map { Int(bytes[$0]) }
        case .f32, .f16, .bf16, .f64: return floats().map { Int($0) }
        }
    }

    /// This tensor stored as `target` (F32, F16 or BF16), rounding to nearest even.
    public func converted(to target: DType) -> Tensor {
        if target == dtype { return self }
        precondition(target == .f32 || target == .bf16 || target == .f16, "cannot convert to \(target)")
        let values = floats()
        if target == .f32 { return Tensor(values, shape: shape) }
        let storage = ByteStorage(count: count * 2)
        let out = storage.pointer.assumingMemoryBound(to: UInt16.self)
        if target == .bf16 { pk_f32_to_bf16(out, values, count) } else { pk_f32_to_f16(out, values, count) }
        return Tensor(dtype: target, shape: shape,
                      bytes: UnsafeRawBufferPointer(start: storage.pointer, count: count * 2), storage: storage)
    }
}
