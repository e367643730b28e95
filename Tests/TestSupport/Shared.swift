import Foundation

/// A value shared between test threads.
public final class Shared<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var _value: Value
    public init(_ value: Value) { _value = value }
    public var value: Value { lock.withLock { _value } }
    public func update(_ change: (inout Value) -> Void) { lock.withLock { change(&_value) } }
}
