/// lm-evaluation-harness's `arc_easy` / `arc_challenge`: "Question: …\nAnswer:", the choice
/// texts, gold `choices.label.index(answerKey)`.
enum ARC {
    static func render(_ row: Row) throws -> RenderedRow {
        let question = try row.string("question")
        let choices = try row.row("choices")
        let texts = try choices.strings("text"), labels = try choices.strings("label")
        guard texts.count == labels.count else {
            throw RowProblem("choices has \(texts.count) texts but \(labels.count) labels")
        }
        let key = try row.string("answerKey")
        guard let gold = labels.firstIndex(of: key) else {
            throw RowProblem("label '\(key)' (answerKey) is not one of the choice labels \(labels)")
        }
        return try validated(query: "Question: " + question + "\nAnswer:", choices: texts, label: gold)
    }
}
