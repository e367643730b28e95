/// One multiple-choice question as the model sees it: the context, the choices to score
/// after it, and which choice is right.
public struct Document: Sendable, Equatable {
    public let task: EvalTask
    /// 0-based line of the row in its input file (OLMo request files: their `doc_id`).
    public let docId: Int
    /// The rendered question without few-shot examples (lm-eval's `doc_to_text`).
    public let query: String
    /// What the choices are scored after: few-shot examples, then `query`.
    public var context: String
    /// The choices without the delimiter (lm-eval's `doc_to_choice`).
    public let choices: [String]
    public let label: Int
    /// Put between context and choice (lm-eval's `target_delimiter`).
    public let delimiter: String

    public init(task: EvalTask, docId: Int, query: String, choices: [String], label: Int, delimiter: String = " ") {
        self.task = task
        self.docId = docId
        self.query = query
        context = query
        self.choices = choices
        self.label = label
        self.delimiter = delimiter
    }

    /// The strings scored after the context.
    public var continuations: [String] { choices.map { delimiter + $0 } }

    /// This document as a solved few-shot example: question, delimiter, right answer.
    var example: String { query + delimiter + choices[label] }
}

/// The text of a task's row rendered as lm-evaluation-harness renders it.
struct RenderedRow {
    let query: String
    let choices: [String]
    let label: Int
}
