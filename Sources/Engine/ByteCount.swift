import Foundation

/// A memory size for messages: exact bytes and the largest binary unit that keeps the
/// number at least 1, so that a small budget reads "196,608 bytes (192.00 KiB)" rather
/// than rounding to "0 MiB".
public struct ByteCount: CustomStringConvertible, Sendable {
    public let bytes: Int
    public init(_ bytes: Int) { self.bytes = bytes }

    public var description: String {
        var value = Double(bytes), unit = ""
        for u in ["KiB", "MiB", "GiB", "TiB"] where value >= 1024 {
            value /= 1024
            unit = u
        }
        let exact = Self.grouped(bytes) + (bytes == 1 ? " byte" : " bytes")
        return unit.isEmpty ? exact : exact + String(format: " (%.2f ", value) + unit + ")"
    }

    /// 1234567 → "1,234,567".
    static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return n < 0 ? "-" + out : out
    }
}
