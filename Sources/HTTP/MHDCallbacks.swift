import CMicroHTTPD
import Foundation

// The C entry points MHD calls. Each one recovers its Swift object from the `cls` pointer
// and forwards; no logic lives here, so these are the only places that see MHD's raw
// callback pointers.

/// Called on headers, once per upload chunk, and once more when the request is complete.
let accessHandlerThunk: MHD_AccessHandlerCallback = {
    cls, connection, url, method, version, uploadData, uploadDataSize, requestSlot in
    guard let cls, let connection, let uploadDataSize, let requestSlot else { return .NO }
    let core = Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue()
    return core.access(connection: connection, url: url, method: method, version: version,
                       uploadData: uploadData, uploadDataSize: uploadDataSize,
                       requestSlot: requestSlot)
}

let requestCompletedThunk: MHD_RequestCompletedCallback = { cls, connection, requestSlot, code in
    guard let cls, let requestSlot, let raw = requestSlot.pointee else { return }
    requestSlot.pointee = nil
    let core = Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue()
    if let connection { core.connections.requestFinished(connection) }
    // Balances the passRetained in `ServerCore.access`.
    let context = Unmanaged<RequestContext>.fromOpaque(raw).takeRetainedValue()
    core.completed(context, code: code)
}

let notifyConnectionThunk: MHD_NotifyConnectionCallback = { cls, connection, _, code in
    guard let cls, let connection else { return }
    let core = Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue()
    switch code {
    case .CONNECTION_NOTIFY_STARTED:
        // MHD's socket is the relay's socketpair end; the relay set TCP_NODELAY on the client's.
        core.connections.opened(connection, fd: polycom_mhd_connection_fd(connection))
    case .CONNECTION_NOTIFY_CLOSED:
        core.connections.closed(connection)
    @unknown default:
        break
    }
}

let loggerThunk: MHD_LogCallback = { cls, format, arguments in
    guard let cls, let format, let arguments else { return }
    let core = Unmanaged<ServerCore>.fromOpaque(cls).takeUnretainedValue()
    var buffer = [CChar](repeating: 0, count: 1024)
    _ = vsnprintf(&buffer, buffer.count, format, arguments)
    let line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    guard !FramingRelay.isSocketOptionNoise(line) else { return }
    core.configuration.log?(line.trimmingCharacters(in: .whitespacesAndNewlines))
}

let streamReaderThunk: MHD_ContentReaderCallback = { cls, _, buffer, max in
    guard let cls, let buffer else { return -2 }
    let source = Unmanaged<StreamSource>.fromOpaque(cls).takeUnretainedValue()
    return source.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: max))
}

/// MHD drops its response, and with it our retain of the stream source.
let streamFreeThunk: MHD_ContentReaderFreeCallback = { cls in
    guard let cls else { return }
    Unmanaged<StreamSource>.fromOpaque(cls).release()
}

/// Gathers MHD's key/value pairs (headers or query arguments) using the length-aware
/// iterator, so values with embedded NULs (`%00`) are kept whole.
final class PairCollector {
    var pairs: [(name: String, value: String?)] = []

    static func collect(_ connection: OpaquePointer, kind: MHD_ValueKind) -> [(name: String, value: String?)] {
        let collector = PairCollector()
        withExtendedLifetime(collector) {
            _ = MHD_get_connection_values_n(connection, kind, pairThunk,
                                            Unmanaged.passUnretained(collector).toOpaque())
        }
        return collector.pairs
    }
}

private func decode(_ pointer: UnsafePointer<CChar>?, _ count: Int) -> String? {
    guard let pointer else { return nil }
    return String(decoding: UnsafeRawBufferPointer(start: pointer, count: count), as: UTF8.self)
}

private let pairThunk: MHD_KeyValueIteratorN = { cls, _, key, keySize, value, valueSize in
    guard let cls else { return .NO }
    let collector = Unmanaged<PairCollector>.fromOpaque(cls).takeUnretainedValue()
    collector.pairs.append((decode(key, keySize) ?? "", decode(value, valueSize)))
    return .YES
}
