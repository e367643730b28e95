/// Errors of the trainer, each with the context a user needs to fix the input.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case invalidData(String)
    case invalidArgument(String)
    case invalidModel(String)
    case outOfMemory(String)
    case io(String)

    public var description: String {
        switch self {
        case .invalidData(let m), .invalidArgument(let m), .invalidModel(let m), .outOfMemory(let m), .io(let m): return m
        }
    }
}
