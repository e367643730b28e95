import Foundation

/// NFC / NFKC / NFD / NFKD with alignment tracking.
///
/// Foundation does the normalization itself; what it cannot give us is the alignment. Text is
/// cut into chunks that normalize independently (a chunk starts at a scalar that can neither
/// combine with what precedes it nor be reordered), and only chunks containing a scalar that
/// the form could change are handed to Foundation. The alignment of a changed chunk is
/// rebuilt by `alignmentSources`, which replays HF's change bookkeeping.
struct UnicodeNormalizer: Normalizer {
    enum Form { case nfc, nfkc, nfd, nfkd }
    let form: Form
    /// Which lone scalars the form leaves alone, learnt per 256-scalar block on first use, so
    /// CJK or emoji text (one chunk per character) does not call Foundation per character.
    private let stable: StableScalars

    init(form: Form) {
        self.form = form
        stable = StableScalars(form: form)
    }

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
            if chunk.allSatisfy({ $0 < limit }) || (chunk.count == 1 && stable.contains(chunk.first!)) {
                scalars.append(contentsOf: chunk)
                align.append(contentsOf: text.align[i..<j])
            } else {
                let normalized = apply(String(scalarValues: chunk)).scalarValues
                if normalized.elementsEqual(chunk) {
                    scalars.append(contentsOf: chunk)
                    align.append(contentsOf: text.align[i..<j])
                } else {
                    let sources = alignmentSources(chunk: Array(chunk), expected: normalized)
                    for (k, v) in normalized.enumerated() {
                        scalars.append(v)
                        align.append(text.align[i + sources[k]])
                    }
                }
            }
            i = j
        }
        text = NormalizedText(scalars: scalars, align: align)
    }

    /// For each output scalar of a changed chunk, the chunk index whose alignment it takes.
    ///
    /// This replays what HF's alignment-tracking normalizer does: every input scalar is
    /// decomposed on its own (its first scalar "replaces" it, the rest are insertions), marks
    /// are put in canonical order carrying those changes, composition folds a mark into its
    /// starter (one fewer scalar), and the resulting change list is applied position by
    /// position — so a composed "ẹ" from "e\u{301}\u{302}\u{323}" swallows the next input
    /// scalar, not the mark it actually absorbed. (Checked against HF on random mixes of
    /// accents, Hangul jamo, Indic and Tibetan vowel signs.) Falls back to position order if the replay
    /// does not reproduce Foundation's result.
    private func alignmentSources(chunk: [UInt32], expected: [UInt32]) -> [Int] {
        let compatibility = form == .nfkc || form == .nfkd
        var items: [(scalar: UInt32, change: Int)] = []
        for v in chunk {
            let single = String(scalarValues: [v])
            let parts = (compatibility ? single.decomposedStringWithCompatibilityMapping
                                       : single.decomposedStringWithCanonicalMapping).scalarValues
            for (k, p) in parts.enumerated() { items.append((p, k == 0 ? 0 : 1)) }
        }
        // Canonical ordering: stable sort of each run of non-starters by combining class,
        // each scalar carrying its change.
        var start = 0
        while start < items.count {
            if Self.ccc(items[start].scalar) == 0 { start += 1; continue }
            var end = start
            while end < items.count && Self.ccc(items[end].scalar) != 0 { end += 1 }
            let sorted = items[start..<end].enumerated().sorted {
                (Self.ccc($0.element.scalar), $0.offset) < (Self.ccc($1.element.scalar), $1.offset)
            }.map(\.element)
            items.replaceSubrange(start..<end, with: sorted)
            start = end
        }
        if form == .nfc || form == .nfkc { items = Self.compose(items) }

        // HF's transform: a scalar with change <= 0 takes the next input scalar's alignment and
        // consumes 1 - change of them; an inserted one (change > 0) takes the alignment of the
        // input scalar just before the cursor.
        var sources: [Int] = []
        var cursor = 0
        for item in items {
            if item.change > 0 {
                sources.append(min(max(cursor - 1, 0), chunk.count - 1))
            } else {
                sources.append(min(cursor, chunk.count - 1))
                cursor += 1 - item.change
            }
        }
        guard items.map(\.scalar) == expected else {
            return expected.indices.map { min($0, chunk.count - 1) }
        }
        return sources
    }

    /// Canonical composition (UAX #15) over (scalar, change) items; a scalar folded into its
    /// starter adds its change minus one to the starter's.
    private static func compose(_ items: [(scalar: UInt32, change: Int)]) -> [(scalar: UInt32, change: Int)] {
        var out: [(scalar: UInt32, change: Int)] = []
        var starter: Int? = nil
        var lastClass: UInt8? = nil  // class of the last scalar kept after the starter; nil = adjacent
        for item in items {
            let cls = ccc(item.scalar)
            if let s = starter {
                let blocked = lastClass.map { $0 == 0 || $0 >= cls } ?? false
                if !blocked, let composite = composePair(out[s].scalar, item.scalar) {
                    out[s].scalar = composite
                    out[s].change += item.change - 1
                    continue
                }
            }
            out.append(item)
            if cls == 0 {
                starter = out.count - 1
                lastClass = nil
            } else {
                lastClass = cls
            }
        }
        return out
    }

    /// The primary composite of two scalars, if any (Foundation's NFC of the pair is one scalar).
    /// Hangul is done arithmetically: Foundation on Linux does not compose LV + T.
    private static func composePair(_ a: UInt32, _ b: UInt32) -> UInt32? {
        let sBase: UInt32 = 0xAC00, lBase: UInt32 = 0x1100, vBase: UInt32 = 0x1161, tBase: UInt32 = 0x11A7
        if a >= lBase && a < lBase + 19 && b >= vBase && b < vBase + 21 {
            return sBase + ((a - lBase) * 21 + (b - vBase)) * 28
        }
        if a >= sBase && a < sBase + 11172 && (a - sBase) % 28 == 0 && b > tBase && b < tBase + 28 {
            return a + (b - tBase)
        }
        let composed = String(scalarValues: [a, b]).precomposedStringWithCanonicalMapping.scalarValues
        return composed.count == 1 ? composed[0] : nil
    }

    private static func ccc(_ v: UInt32) -> UInt8 {
        Unicode.Scalar(v)?.properties.canonicalCombiningClass.rawValue ?? 0
    }

    private func apply(_ string: String) -> String {
        Self.apply(form, string)
    }

    fileprivate static func apply(_ form: Form, _ string: String) -> String {
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

/// Per-block bitmaps of scalars that a normalization form maps to themselves when alone.
private final class StableScalars: @unchecked Sendable {
    private let form: UnicodeNormalizer.Form
    private var blocks: [UInt32: [UInt64]] = [:]
    private let lock = NSLock()

    init(form: UnicodeNormalizer.Form) { self.form = form }

    func contains(_ v: UInt32) -> Bool {
        let block = v >> 8
        lock.lock(); defer { lock.unlock() }
        if blocks[block] == nil {
            var bits = [UInt64](repeating: 0, count: 4)
            for low in 0..<UInt32(256) {
                let scalar = block << 8 | low
                guard Unicode.Scalar(scalar) != nil else { continue }
                let single = String(scalarValues: [scalar])
                if UnicodeNormalizer.apply(form, single).unicodeScalars.elementsEqual(single.unicodeScalars) {
                    bits[Int(low >> 6)] |= 1 << UInt64(low & 63)
                }
            }
            blocks[block] = bits
        }
        return blocks[block]![Int((v & 0xFF) >> 6)] & (1 << UInt64(v & 63)) != 0
    }
}
