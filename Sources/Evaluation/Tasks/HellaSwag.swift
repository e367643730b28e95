import Tokenizer

/// lm-evaluation-harness's `hellaswag` (its `utils.py`): activity label, both context
/// halves (the second capitalized as Python does), endings cleaned of WikiHow markup.
enum HellaSwag {
    static func render(_ row: Row) throws -> RenderedRow {
        let context = try row.string("ctx_a") + " " + PythonString.capitalize(try row.string("ctx_b"))
        let query = preprocess(try row.string("activity_label") + ": " + context)
        let endings = try row.strings("endings").map(preprocess)
        return try validated(query: query, choices: endings, label: try row.integer("label"))
    }

    /// strip; " [title]" → ". "; drop `\[.*?\]`; "  " → " " — on code points, as Python.
    static func preprocess(_ text: String) -> String {
        var s = Array(PythonString.strip(text).unicodeScalars)
        s = replace(s, Array(" [title]".unicodeScalars), with: Array(". ".unicodeScalars))
        s = removeBracketed(s)
        s = replace(s, [" ", " "], with: [" "])
        var out = String.UnicodeScalarView()
        out.append(contentsOf: s)
        return String(out)
    }

    /// `str.replace`: every non-overlapping occurrence, left to right, one pass.
    static func replace(_ s: [Unicode.Scalar], _ pattern: [Unicode.Scalar], with replacement: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            if i + pattern.count <= s.count && s[i..<(i + pattern.count)].elementsEqual(pattern) {
                out += replacement
                i += pattern.count
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return out
    }

    /// `re.sub(r"\[.*?\]", "", s)`: from each `[` to the nearest `]`; `.` does not match a
    /// newline, so a `[` with a newline before its `]` stays.
    static func removeBracketed(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        var i = 0
        scan: while i < s.count {
            if s[i] == "[" {
                var j = i + 1
                while j < s.count && s[j] != "\n" {
                    if s[j] == "]" { i = j + 1; continue scan }
                    j += 1
                }
            }
            out.append(s[i])
            i += 1
        }
        return out
    }
}
