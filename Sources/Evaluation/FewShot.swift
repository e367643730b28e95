import Model

/// Few-shot contexts: `k` solved examples ("question delimiter answer"), then the
/// question, joined by blank lines (lm-eval's `fewshot_delimiter` "\n\n"). Examples come from
/// a training file when one is given, else from the evaluated documents themselves, never
/// the document being asked. Each document's draw depends only on the seed, its task and
/// its id — not on the order documents are scored in, `--limit`, `--resume` or the
/// servers — so every run of the same settings asks the same questions.
public struct FewShot: Sendable {
    public static let delimiter = "\n\n"
    let pool: [Document]
    let seed: UInt64
    /// The pool is the evaluated set: leave the asked document out.
    let excludeSelf: Bool
    private let poolIds: Set<Int>

    public init(pool: [Document], seed: UInt64, poolIsEvaluated: Bool) {
        self.pool = pool
        self.seed = seed
        excludeSelf = poolIsEvaluated
        poolIds = Set(pool.map(\.docId))
    }

    /// `doc` with `k` examples before its question.
    public func apply(_ k: Int, to doc: Document) throws -> Document {
        guard k > 0 else { return doc }
        let candidates = pool.count - (excludeSelf && poolIds.contains(doc.docId) ? 1 : 0)
        guard candidates >= k else {
            throw EvaluationError.invalidOption("--num-fewshot \(k) needs \(k) examples but \(doc.task.rawValue) has \(candidates) to draw from")
        }
        var rng = SplitMix64(seed: seed ^ (UInt64(doc.docId) &* 0x9E37_79B9_7F4A_7C15) ^ Self.code(doc.task.rawValue))
        var picked: [Int] = [], seen = Set<Int>()
        while picked.count < k {
            let i = Self.uniform(&rng, below: pool.count)
            if seen.contains(i) || (excludeSelf && pool[i].docId == doc.docId) { continue }
            seen.insert(i)
            picked.append(i)
        }
        var out = doc
        out.context = picked.map { pool[$0].example }.joined(separator: Self.delimiter) + Self.delimiter + doc.query
        return out
    }

    /// An unbiased draw from 0..<n (rejection), stable across Swift versions, unlike
    /// `Int.random(in:using:)` whose algorithm is not promised.
    static func uniform(_ rng: inout SplitMix64, below n: Int) -> Int {
        let bound = UInt64(n)
        let limit = UInt64.max - UInt64.max % bound
        while true {
            let x = rng.next()
            if x < limit { return Int(x % bound) }
        }
    }

    /// FNV-1a of the task name, so tasks draw differently from one seed.
    static func code(_ s: String) -> UInt64 {
        s.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
    }
}
