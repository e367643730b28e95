import Foundation

/// NFC / NFKC / NFD / NFKD with alignment tracking.
///
/// Foundation does the normalization itself; what it cannot give us is the alignment. Text is
/// cut into chunks that normalize independently (a chunk starts at a scalar that can neither
/// combine with what precedes it nor be reordered), and only chunks containing a scalar that
/// the form could change are handed to Foundation. Inside a changed chunk, output scalar k is
/// aligned to input scalar k (the last one when the output is longer), which is what HF's
/// alignment-tracking normalizer does for the common cases: a composed "é" from "e\u{301}"
/// maps to the "e", an expanded "ﬁ" -> "fi" maps both letters to the ligature.
struct UnicodeNormalizer: Normalizer {
    enum Form { case nfc, nfkc, nfd, nfkd }
    let form: Form

    /// Every scalar below this value is unchanged by the form and never combines with a
    /// neighbour, so ASCII-heavy text skips Foundation entirely.
    private var stableBelow: UInt32 {
        switch form {
        case .nfc: return 0x300
        case .nfd: return 0xC0
        case .nfkc, .nfkd: return 0xA0
        }
    }

    func normalize(_ text: inout NormalizedText) {
        let limit = stableBelow
        let s = text.scalars
        guard s.contains(where: { $0 >= limit }) else { return }

        var scalars: [UInt32] = []
        var align: [Alignment] = []
        scalars.reserveCapacity(s.count)
        align.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            var j = i + 1
            while j < s.count && !Self.isChunkStart(s[j]) { j += 1 }
            let chunk = s[i..<j]
            if chunk.allSatisfy({ $0 < limit }) {
                scalars.append(contentsOf: chunk)
                align.append(contentsOf: text.align[i..<j])
            } else {
                let normalized = apply(String(scalarValues: chunk)).scalarValues
                if normalized.elementsEqual(chunk) {
                    scalars.append(contentsOf: chunk)
                    align.append(contentsOf: text.align[i..<j])
                } else {
                    // HF's alignment-tracking normalizer charges every scalar a chunk gains or
                    // loses to the chunk's starter (the one that composed or decomposed); the
                    // rest of the chunk stays aligned position by position.
                    let extra = normalized.count - chunk.count
                    for (k, v) in normalized.enumerated() {
                        let source: Int
                        if extra >= 0 {
                            source = k <= extra ? 0 : k - extra
                        } else {
                            source = k == 0 ? 0 : k - extra
                        }
                        scalars.append(v)
                        align.append(text.align[i + min(source, chunk.count - 1)])
                    }
                }
            }
            i = j
        }
        text = NormalizedText(scalars: scalars, align: align)
    }

    private func apply(_ string: String) -> String {
        switch form {
        // Decomposing first works around Foundation on Linux not composing a Hangul LV
        // syllable with a trailing jamo (U+AC00 U+11A8 must become U+AC01).
        case .nfc: return string.decomposedStringWithCanonicalMapping.precomposedStringWithCanonicalMapping
        case .nfkc: return string.decomposedStringWithCompatibilityMapping.precomposedStringWithCanonicalMapping
        case .nfd: return string.decomposedStringWithCanonicalMapping
        case .nfkd: return string.decomposedStringWithCompatibilityMapping
        }
    }

    /// A safe place to cut: a scalar with combining class 0 that is never the second half of
    /// a canonical composition (i.e. not NFC_Quick_Check=Maybe). The composing starter then
    /// begins its chunk, which is where HF charges the scalars a composition removes.
    private static func isChunkStart(_ v: UInt32) -> Bool {
        if v < 0x300 { return true }
        if composesWithPrevious.contains(v) { return false }
        guard let scalar = Unicode.Scalar(v) else { return true }
        return scalar.properties.canonicalCombiningClass.rawValue == 0
    }

    /// NFC_Quick_Check=Maybe scalars with combining class 0 (DerivedNormalizationProps.txt);
    /// the ones with a non-zero class are excluded by the class test anyway.
    private static let composesWithPrevious: Set<UInt32> = {
        var set: Set<UInt32> = [0x09BE, 0x09D7, 0x0B3E, 0x0B56, 0x0B57, 0x0BBE, 0x0BD7, 0x0C56, 0x0CC2, 0x0CD5,
                                0x0CD6, 0x0D3E, 0x0D57, 0x0DCF, 0x0DDF, 0x102E, 0x1B35, 0x110BA, 0x11127,
                                0x1133E, 0x11357, 0x114B0, 0x114BA, 0x114BD, 0x115AF, 0x11930,
                                // Class 0, but they decompose to a leading non-starter that can
                                // reorder with the marks before them.
                                0x0F73, 0x0F75, 0x0F81]
        for v in UInt32(0x1161)...0x1175 { set.insert(v) }
        for v in UInt32(0x11A8)...0x11C2 { set.insert(v) }
        return set
    }()
}
