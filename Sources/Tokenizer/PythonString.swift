/// Python's `str` operations that benchmark code (lm-evaluation-harness, OLMo) applies to
/// text before tokenizing, with Python's semantics: lengths count code points, whitespace
/// is `str.isspace()`'s set. Swift's own `String.count` counts grapheme clusters and its
/// whitespace set lacks U+001C...U+001F, so both would change results.
public enum PythonString {
    /// `str.isspace()` for one code point (Unicode White_Space plus the four separators
    /// U+001C...U+001F Python adds).
    public static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// `len(text)`: code points.
    public static func length(_ text: String) -> Int { text.unicodeScalars.count }

    /// `text.rstrip()`.
    public static func rstrip(_ text: String) -> String {
        let scalars = text.unicodeScalars
        var end = scalars.endIndex
        while end > scalars.startIndex, isWhitespace(scalars[scalars.index(before: end)]) { end = scalars.index(before: end) }
        return String(scalars[scalars.startIndex..<end])
    }

    /// `text.lstrip()`.
    public static func lstrip(_ text: String) -> String {
        let scalars = text.unicodeScalars
        let start = scalars.firstIndex { !isWhitespace($0) } ?? scalars.endIndex
        return String(scalars[start...])
    }

    /// `text.strip()`.
    public static func strip(_ text: String) -> String { rstrip(lstrip(text)) }

    /// `text.capitalize()` (Python ≥ 3.8): the first code point title-cased, the rest
    /// lower-cased, with Python's final-sigma rule (Σ ending a word becomes ς).
    public static func capitalize(_ text: String) -> String {
        let scalars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        for (i, s) in scalars.enumerated() {
            if i == 0 {
                out.append(contentsOf: s.properties.titlecaseMapping.unicodeScalars)
            } else if s == "\u{03A3}" {
                out.append(isFinalSigma(scalars, at: i) ? "\u{03C2}" : "\u{03C3}")
            } else {
                out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return String(out)
    }

    /// CPython's `handle_capital_sigma`: a cased letter before (skipping case-ignorable
    /// ones) and none after.
    private static func isFinalSigma(_ s: [Unicode.Scalar], at i: Int) -> Bool {
        var j = i - 1
        while j >= 0 && s[j].properties.isCaseIgnorable { j -= 1 }
        guard j >= 0 && s[j].properties.isCased else { return false }
        var k = i + 1
        while k < s.count && s[k].properties.isCaseIgnorable { k += 1 }
        return !(k < s.count && s[k].properties.isCased)
    }
}
