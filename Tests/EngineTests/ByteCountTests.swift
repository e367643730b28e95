import Engine
import XCTest

final class ByteCountTests: XCTestCase {
    func testExactBytesAndTheLargestUnitAtLeastOne() {
        XCTAssertEqual("\(ByteCount(0))", "0 bytes")
        XCTAssertEqual("\(ByteCount(1))", "1 byte")
        XCTAssertEqual("\(ByteCount(1023))", "1,023 bytes")
        XCTAssertEqual("\(ByteCount(1024))", "1,024 bytes (1.00 KiB)")
        XCTAssertEqual("\(ByteCount(196_608))", "196,608 bytes (192.00 KiB)")
        XCTAssertEqual("\(ByteCount(1_572_864))", "1,572,864 bytes (1.50 MiB)")
        XCTAssertEqual("\(ByteCount(3 << 30))", "3,221,225,472 bytes (3.00 GiB)")
    }
}
