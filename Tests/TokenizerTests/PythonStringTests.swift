import Tokenizer
import XCTest

/// Expected values are what CPython 3.11 returns for the same calls.
final class PythonStringTests: XCTestCase {
    func testCapitalizeMatchesPython() {
        let cases: [(String, String)] = [
            ("he", "He"), ("HELLO wORLD", "Hello world"), ("ǆemal", "ǅemal"),
            ("ΟΔΟΣ ΟΔΟΣ.", "Οδος οδος."), ("ßtraße", "Sstraße"), ("ﬁsh", "Fish"), ("İstanbul", "İstanbul"),
            ("", ""), ("1abc", "1abc"), ("ΣΑ", "Σα"), ("AΣ\u{301}b", "Aσ\u{301}b"), ("AΣ\u{301}", "Aς\u{301}"),
        ]
        for (input, expected) in cases {
            XCTAssertEqual(Array(PythonString.capitalize(input).unicodeScalars), Array(expected.unicodeScalars), input)
        }
    }

    /// `str.isspace()` over all of Unicode is exactly these code points.
    func testWhitespaceIsPythonsSet() {
        let python: Set<UInt32> = [0x9, 0xA, 0xB, 0xC, 0xD, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680,
                                   0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009,
                                   0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
        let ours = Set((0..<0x110000).compactMap(Unicode.Scalar.init).filter(PythonString.isWhitespace).map(\.value))
        XCTAssertEqual(ours, python)
    }

    func testStripsAndLengthCountCodePoints() {
        XCTAssertEqual(PythonString.strip("\u{1C} a \u{3000}\n"), "a")
        XCTAssertEqual(PythonString.lstrip(" \u{85}x\u{A0}"), "x\u{A0}")
        XCTAssertEqual(PythonString.rstrip("x\u{200B} "), "x\u{200B}")  // zero-width space is not whitespace
        XCTAssertEqual(PythonString.rstrip("  "), "")
        XCTAssertEqual(PythonString.length("e\u{301}😀"), 3)  // 2 graphemes, 3 code points
    }
}
