import Foundation
import CMicroHTTPD

/// Turns an `HTTPResponse` into an MHD response and queues it on a connection.
enum MHDResponse {
    /// Queues `response`; on success records what was queued in `context`.
    static func queue(_ response: HTTPResponse, on connection: OpaquePointer,
                      context: RequestContext, core: ServerCore, closeAfter: Bool) throws {
        guard (100...999).contains(response.status) else {
            throw HTTPServerError.mhdCallFailed("status \(response.status) is not a 3-digit HTTP status")
        }
        var source: StreamSource?
        let handle: OpaquePointer
        switch response.body {
        case .bytes(let bytes):
            // MUST_COPY: MHD keeps its own copy, so no Swift buffer has to outlive this call.
            handle = try bytes.withUnsafeBytes { raw in
                try mhdCheck(MHD_create_response_from_buffer(
                    raw.count, UnsafeMutableRawPointer(mutating: raw.baseAddress), .RESPMEM_MUST_COPY),
                             "MHD_create_response_from_buffer")
            }
        case .stream(let stream):
            let bridge = StreamSource(stream: stream, connection: connection, core: core)
            // The retain belongs to MHD until `streamFreeThunk`.
            let cls = Unmanaged.passRetained(bridge).toOpaque()
            guard let created = MHD_create_response_from_callback(
                UInt64.max /* MHD_SIZE_UNKNOWN: chunked */, 4096, streamReaderThunk, cls, streamFreeThunk)
            else {
                Unmanaged<StreamSource>.fromOpaque(cls).release()
                throw HTTPServerError.mhdCallFailed("MHD_create_response_from_callback")
            }
            handle = created
            source = bridge
        }
        // Our reference is dropped whatever happens; a queued response holds MHD's own.
        defer { MHD_destroy_response(handle) }

        for field in response.headers where !isFraming(field) {
            try mhdCheck(MHD_add_response_header(handle, field.name, field.value),
                         "MHD_add_response_header(\(field.name))")
        }
        if closeAfter {
            try mhdCheck(MHD_add_response_header(handle, "Connection", "close"),
                         "MHD_add_response_header(Connection)")
        }
        try mhdCheck(MHD_queue_response(connection, UInt32(response.status), handle), "MHD_queue_response")
        if source != nil, !core.parksStreams {
            // A blocked stream reader looks idle to MHD, which would cut a stream off during
            // a long pause between tokens; the reader watches the socket itself instead.
            // (Parked connections are exempt from timeouts anyway.)
            _ = polycom_mhd_set_connection_timeout(connection, 0)
        }

        context.status = response.status
        context.streamSource = source
        context.onComplete = response.onComplete
        if case .bytes(let bytes) = response.body { context.bytesBodyCount = bytes.count }
    }

    /// Message framing belongs to MHD: it sets Content-Length or chunking from the body and
    /// refuses most hand-set values (which would turn a good response into a 500).
    /// `Connection: close` is the one framing header a handler may ask for.
    private static func isFraming(_ field: HTTPHeaders.Field) -> Bool {
        if HTTPHeaders.same(field.name, "Content-Length") || HTTPHeaders.same(field.name, "Transfer-Encoding") {
            return true
        }
        if HTTPHeaders.same(field.name, "Connection") {
            return !HTTPHeaders.same(field.value.trimmingCharacters(in: .whitespaces), "close")
        }
        return false
    }
}

extension HTTPResponse {
    static func plain(_ status: Int, _ text: String) -> HTTPResponse {
        HTTPResponse(status: status, text: text + "\n")
    }
}
