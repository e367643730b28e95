/// GPT-2's byte-level alphabet and pre-tokenization regex, shared by the ByteLevel
/// pre-tokenizer, decoder and post-processor.
enum ByteLevel {
    /// GPT-2 `bytes_to_unicode`: printable bytes stand for themselves, the rest are shifted to
    /// U+0100 and up so every byte has a visible, non-space stand-in ("Ġ" for the space byte).
    static let byteToScalar: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable {
                table[b] = UInt32(b)
            } else {
                table[b] = next
                next += 1
            }
        }
        return table
    }()

    /// Inverse of `byteToScalar`, indexed by scalar value (all stand-ins are below U+0144); -1 = none.
    static let scalarToByte: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (b, s) in byteToScalar.enumerated() { table[Int(s)] = Int16(b) }
        return table
    }()

    /// The space stand-in "Ġ"; the ByteLevel post-processor trims it from offsets.
    static let spaceScalar: UInt32 = 0x120

    /// The exact pattern string HF writes for GPT-2 style `Split` pre-tokenizers; recognised so
    /// that such a Split can use the hand-written splitter below.
    static let gpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

    enum CharClass: UInt8 { case letter, number, space, other }

    private static let asciiClass: [CharClass] = (0..<128).map { v in
        let u = UInt32(v)
        if isWhiteSpace(u) { return .space }
        if (u >= 0x41 && u <= 0x5A) || (u >= 0x61 && u <= 0x7A) { return .letter }
        if u >= 0x30 && u <= 0x39 { return .number }
        return .other
    }

    /// `\p{L}` = general category L*, `\p{N}` = N*, `\s` = White_Space — the Oniguruma
    /// semantics of the regex HF compiles.
    @inline(__always)
    static func charClass(_ v: UInt32) -> CharClass {
        if v < 0x80 { return asciiClass[Int(v)] }
        if isWhiteSpace(v) { return .space }
        guard let scalar = Unicode.Scalar(v) else { return .other }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }

    /// Hand-written equivalent of `gpt2Pattern` (leftmost-first alternation, greedy runs, and
    /// the `\s+(?!\S)` lookahead that leaves the last space of a run for the next word).
    static func split(_ s: [UInt32], into out: inout [Range<Int>]) {
        let n = s.count
        var classes = [CharClass](repeating: .other, count: n)
        asciiClass.withUnsafeBufferPointer { ascii in
            for i in 0..<n {
                let v = s[i]
                classes[i] = v < 0x80 ? ascii[Int(v)] : charClass(v)
            }
        }
        var i = 0
        while i < n {
            let c = s[i]
            if c == 0x27, i + 1 < n {  // contractions: 's 't 'm 'd 're 've 'll (lowercase only)
                let a = s[i + 1]
                if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 {
                    out.append(i..<(i + 2)); i += 2; continue
                }
                if i + 2 < n {
                    let b = s[i + 2]
                    if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) {
                        out.append(i..<(i + 3)); i += 3; continue
                    }
                }
            }
            var runStart = i
            if c == 0x20, i + 1 < n, classes[i + 1] != .space { runStart = i + 1 }
            let cls = classes[runStart]
            if cls != .space {
                var j = runStart + 1
                while j < n && classes[j] == cls { j += 1 }
                out.append(i..<j); i = j; continue
            }
            var j = i + 1
            while j < n && classes[j] == .space { j += 1 }
            if j < n && j - i >= 2 { j -= 1 }
            out.append(i..<j); i = j
        }
    }
}

/// Appends the UTF-8 encoding of scalar `v`.
@inline(__always)
func appendUTF8(_ v: UInt32, to bytes: inout [UInt8]) {
    if v < 0x80 {
        bytes.append(UInt8(v))
    } else if v < 0x800 {
        bytes.append(UInt8(0xC0 | (v >> 6))); bytes.append(UInt8(0x80 | (v & 0x3F)))
    } else if v < 0x10000 {
        bytes.append(UInt8(0xE0 | (v >> 12))); bytes.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
        bytes.append(UInt8(0x80 | (v & 0x3F)))
    } else {
        bytes.append(UInt8(0xF0 | (v >> 18))); bytes.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
        bytes.append(UInt8(0x80 | ((v >> 6) & 0x3F))); bytes.append(UInt8(0x80 | (v & 0x3F)))
    }
}
