/// Where one normalized scalar came from in the input, as a half-open range of unicode-scalar
/// indices into the original text. Offsets reported to callers are built from these, which is
/// how Hugging Face reports `encoding.offsets` (char offsets, not UTF-8 bytes).
struct Alignment: Equatable {
    var start: Int32
    var end: Int32
}

/// A piece of text as it moves through normalizers and pre-tokenizers: scalar values plus,
/// per scalar, the original range it stands for (HF's NormalizedString, minus the bookkeeping
/// we do not need).
struct NormalizedText {
    var scalars: [UInt32]
    var align: [Alignment]

    init(scalars: [UInt32], align: [Alignment]) {
        self.scalars = scalars
        self.align = align
    }

    /// Identity alignment for `original[range]`.
    init(original: [UInt32], range: Range<Int>) {
        scalars = Array(original[range])
        align = range.map { Alignment(start: Int32($0), end: Int32($0 + 1)) }
    }

    var isEmpty: Bool { scalars.isEmpty }
    var count: Int { scalars.count }

    func slice(_ range: Range<Int>) -> NormalizedText {
        NormalizedText(scalars: Array(scalars[range]), align: Array(align[range]))
    }

    /// Original start offset of the piece; HF's Metaspace "first" scheme keys off it.
    var originalStart: Int32 { align.first?.start ?? 0 }

    /// Inserts scalars at the front, aligned to the first scalar (as HF's `prepend` does).
    mutating func prepend(_ prefix: [UInt32]) {
        guard let first = align.first else { return }
        scalars.insert(contentsOf: prefix, at: 0)
        align.insert(contentsOf: repeatElement(first, count: prefix.count), at: 0)
    }

    /// Original range covered by normalized scalars `range` (non-empty).
    func originalRange(_ range: Range<Int>) -> Alignment {
        Alignment(start: align[range.lowerBound].start, end: align[range.upperBound - 1].end)
    }
}
