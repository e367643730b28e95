import Tokenizer

/// lm-evaluation-harness's `sciq`: the support passage (left-stripped), "\nQuestion: …
/// \nAnswer:", choices [distractor1, distractor2, distractor3, correct_answer], gold 3.
enum SciQ {
    static func render(_ row: Row) throws -> RenderedRow {
        let query = PythonString.lstrip(try row.string("support")) + "\nQuestion: " + (try row.string("question")) + "\nAnswer:"
        let choices = try ["distractor1", "distractor2", "distractor3", "correct_answer"].map { try row.string($0) }
        return try validated(query: query, choices: choices, label: 3)
    }
}
