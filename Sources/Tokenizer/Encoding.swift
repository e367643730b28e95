/// The result of encoding one text.
///
/// Offsets are half-open ranges in **unicode scalars** of the input string (Swift's
/// `String.unicodeScalars` indices, Python `str` indices), matching HF `encoding.offsets`;
/// they are not UTF-8 byte offsets. Special tokens added by the post-processor have (0, 0).
public struct Encoding: Equatable, Sendable {
    public var ids: [Int]
    public var offsets: [TokenOffset]

    public init(ids: [Int], offsets: [TokenOffset]) {
        self.ids = ids
        self.offsets = offsets
    }
}

public struct TokenOffset: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var start: Int
    public var end: Int

    public init(start: Int, end: Int) {
        self.start = start
        self.end = end
    }

    public var description: String { "(\(start), \(end))" }
}
