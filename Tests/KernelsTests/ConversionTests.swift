import Kernels
import XCTest

final class ConversionTests: XCTestCase {
    /// Bit patterns from the IEEE / bfloat16 definitions, not from our own code.
    func testBF16KnownValues() {
        let bits: [UInt16] = [0x3F80, 0xC000, 0x0000, 0x8000, 0x7F80, 0xFF80, 0x3EAA, 0x4049]
        let expected: [Float] = [1, -2, 0, -0.0, .infinity, -.infinity, 0.33203125, 3.140625]
        let t = bits.withUnsafeBytes { Tensor(dtype: .bf16, shape: [bits.count], copying: $0) }
        XCTAssertEqual(t.floats(), expected)
    }

    func testF16KnownValues() {
        let bits: [UInt16] = [0x3C00, 0xC000, 0x7BFF, 0x0001, 0x3555, 0x7C00]
        let expected: [Float] = [1, -2, 65504, 5.9604645e-08, 0.33325195, .infinity]
        let t = bits.withUnsafeBytes { Tensor(dtype: .f16, shape: [bits.count], copying: $0) }
        XCTAssertEqual(t.floats(), expected)
    }

    /// f32 → bf16 rounds to nearest, ties to even (as torch).
    func testBF16RoundingTiesToEven() {
        // 1 + 2^-8 is exactly halfway between bf16 1.0 and 1.0078125: ties to even → 1.0.
        // 1 + 3·2^-8 is halfway between 1.0078125 and 1.015625: ties to even → 1.015625.
        let values: [Float] = [1 + 1.0 / 256, 1 + 3.0 / 256, 1 + 1.0 / 256 + 1.0 / 65536]
        let rounded = Tensor(values, shape: [3]).converted(to: .bf16).floats()
        XCTAssertEqual(rounded, [1.0, 1.015625, 1.0078125])
    }

    func testF16RoundTripOfRepresentableValues() {
        let values: [Float] = [0, 1, -1, 0.5, 1024, -0.000061035156, 65504, 3.140625]
        XCTAssertEqual(Tensor(values, shape: [values.count]).converted(to: .f16).floats(), values)
    }
}
