import Engine
import Tokenizer

/// Per-document scores (1 right, 0 wrong), each the argmax of a normalised log-likelihood
/// with numpy's tie rule (the first maximum wins):
/// - `acc`: the summed log-likelihood;
/// - `acc_norm`: divided by the choice's length in code points, without the delimiter
///   (lm-eval: `len(choice)` of `doc_to_choice`);
/// - `acc_per_token`: divided by the continuation's token count;
/// - `acc_per_byte`: divided by the continuation's UTF-8 bytes, delimiter included
///   (OLMo's `acc_per_byte`: the bytes of the scored string).
public struct DocumentScores: Sendable, Equatable {
    public let acc: Double
    public let accNorm: Double
    public let accPerToken: Double
    public let accPerByte: Double

    public init(acc: Double, accNorm: Double, accPerToken: Double, accPerByte: Double) {
        self.acc = acc
        self.accNorm = accNorm
        self.accPerToken = accPerToken
        self.accPerByte = accPerByte
    }

    public init(document d: Document, results: [ScoredContinuation]) {
        let lls = results.map(\.logprob)
        func hit(_ divisors: [Double]) -> Double {
            Metrics.argmax(zip(lls, divisors).map { $0 / $1 }) == d.label ? 1 : 0
        }
        acc = Metrics.argmax(lls) == d.label ? 1 : 0
        accNorm = hit(d.choices.map { Double(PythonString.length($0)) })
        accPerToken = hit(results.map { Double($0.numTokens) })
        accPerByte = hit(d.continuations.map { Double($0.utf8.count) })
    }

    /// The four scores in results order.
    var values: [Double] { [acc, accNorm, accPerToken, accPerByte] }
}

/// A task's aggregate: the mean of each per-document score with lm-eval's standard error.
public struct TaskScores: Sendable, Equatable {
    public struct Metric: Sendable, Equatable {
        public let mean: Double
        /// nil for fewer than two documents (lm-eval writes "N/A").
        public let stderr: Double?
    }

    public static let names = ["acc", "acc_norm", "acc_per_token", "acc_per_byte"]
    public let metrics: [Metric]
    public let numDocs: Int

    public init(_ docs: [DocumentScores]) {
        numDocs = docs.count
        metrics = (0..<Self.names.count).map { m in
            let xs = docs.map { $0.values[m] }
            return Metric(mean: Metrics.mean(xs), stderr: Metrics.meanStderr(xs))
        }
    }

    public subscript(name: String) -> Metric? { Self.names.firstIndex(of: name).map { metrics[$0] } }
}

enum Metrics {
    /// Index of the first maximum (numpy's argmax); NaN never wins.
    static func argmax(_ xs: [Double]) -> Int {
        var best = 0
        for (i, x) in xs.enumerated() where x > xs[best] || xs[best].isNaN { best = i }
        return best
    }

    /// `sum(xs) / len(xs)`, as Python sums: left to right.
    static func mean(_ xs: [Double]) -> Double {
        xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count)
    }

    /// lm-eval's `mean_stderr`: the sample standard deviation (n − 1) over √n.
    static func meanStderr(_ xs: [Double]) -> Double? {
        guard xs.count > 1 else { return nil }
        let mu = mean(xs)
        let variance = xs.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(xs.count - 1)
        return variance.squareRoot() / Double(xs.count).squareRoot()
    }
}
