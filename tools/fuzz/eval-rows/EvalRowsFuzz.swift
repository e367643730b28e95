import FuzzSupport
@testable import Evaluation

/// libFuzzer entry point: any bytes as a task's data file (raw HellaSwag / ARC / SciQ rows,
/// an OLMo request file, either gzip-compressed), read as `polycom eval` reads it for every
/// task. Refused with an `EvaluationError`, or documents the scorer can use: choices
/// present and non-empty, the label one of them.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEvalRows(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    writeScratch(bytes(data, size))
    for task in EvalTask.allCases {
        let file: TaskData
        do {
            file = try TaskData(task: task, path: scratchPath)
        } catch is EvaluationError {
            continue
        } catch {
            preconditionFailure("\(task): not an EvaluationError: \(error)")
        }
        for d in file.documents {
            precondition(!d.choices.isEmpty && d.choices.allSatisfy { !$0.isEmpty } && d.choices.indices.contains(d.label),
                         "\(task) document \(d.docId): \(d.choices.count) choices, label \(d.label)")
        }
    }
    return 0
}

@_cdecl("fuzz_eval_rows_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { fuzzEvalRows($0, $1) }
}
