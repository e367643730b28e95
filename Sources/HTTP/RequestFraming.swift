/// Follows a client's byte stream request by request (keep-alive and pipelining) to find
/// each request head, so that a `Content-Length` MHD would refuse with its own HTML page
/// never reaches MHD. A pure state machine: `FramingRelay` feeds it what the client sent
/// and forwards what it returns.
///
/// Per head (held back until it is complete, which costs nothing: MHD cannot act on half
/// a head either):
/// - a client-sent `marker` field is always removed, so only this code can set it;
/// - a `Content-Length` that is not a plain decimal fitting 64 bits, or several that
///   differ, is removed, `Content-Length: 0` and the marker naming the fault are added,
///   and everything the client sends after that head is dropped: where its body ends is
///   unknowable, so nothing after it can be trusted to be a request;
/// - a valid length is forwarded as one canonical field, then that many body bytes;
/// - `Transfer-Encoding: chunked` bodies are followed chunk by chunk to the trailers' end.
/// Whatever this does not understand (a head past `maxHeaderBytes`, broken chunk framing,
/// another transfer coding) is forwarded unchanged from there on, and MHD judges it.
struct RequestFraming {
    /// The field the relay adds to a refused head; ServerCore answers such a request itself.
    static let marker = "X-Polycom-Framing-Fault"

    /// Why a head was refused: the marker's value.
    enum Fault: String, Error, Equatable {
        /// Not a plain decimal (`-1`, `+5`, `12abc`, empty) or past 2^64 - 1.
        case malformedLength = "malformed-length"
        /// Several `Content-Length` fields with different values.
        case conflictingLengths = "conflicting-lengths"
    }

    private enum State: Equatable {
        case head
        case body(remaining: UInt64)
        /// In a chunk-size line: its value so far, whether a digit came, and whether an
        /// extension (`;name=value`) or whitespace ended the digits.
        case chunkSize(value: UInt64, digits: Bool, ended: Bool)
        case chunkData(remaining: UInt64)
        /// After a chunk's data: its CRLF (the CR optional, as MHD allows).
        case chunkDataEnd(sawCR: Bool)
        /// Trailer fields after the last chunk, until an empty line.
        case trailers(lineIsEmpty: Bool)
        case passthrough
        case refused
    }

    private let maxHeaderBytes: Int
    private var state = State.head
    /// The head so far, not yet forwarded.
    private var held: [UInt8] = []
    /// How far `held` has been searched for the head's end, and where its current line
    /// began: each byte is looked at once however the head trickles in.
    private var scanned = 0
    private var lineStart = 0
    /// Whether a non-empty line (the request line) came: empty lines before it are skipped.
    private var sawRequestLine = false

    init(maxHeaderBytes: Int) {
        self.maxHeaderBytes = maxHeaderBytes
    }

    /// True once a head was refused: the client's later bytes are dropped.
    var isRefused: Bool { state == .refused }

    /// Appends to `output` the bytes to forward for `input`.
    mutating func consume(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) {
        var position = 0
        while position < input.count {
            switch state {
            case .refused:
                return
            case .passthrough:
                output.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[position...]))
                return
            case .body(let remaining):
                let take = Int(min(remaining, UInt64(input.count - position)))
                output.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[position..<position + take]))
                position += take
                state = remaining == UInt64(take) ? .head : .body(remaining: remaining - UInt64(take))
            case .chunkData(let remaining):
                let take = Int(min(remaining, UInt64(input.count - position)))
                output.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[position..<position + take]))
                position += take
                state = remaining == UInt64(take) ? .chunkDataEnd(sawCR: false) : .chunkData(remaining: remaining - UInt64(take))
            case .chunkSize, .chunkDataEnd, .trailers:
                let byte = input[position]
                output.append(byte)
                position += 1
                state = Self.chunkFraming(after: state, byte)
            case .head:
                let before = held.count
                held.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[position...]))
                let end = headEnd()
                guard let end, end <= maxHeaderBytes else {
                    if end != nil || held.count > maxHeaderBytes {
                        // MHD answers an oversized head itself (431 / 414), as it did before.
                        output.append(contentsOf: held)
                        held = []
                        state = .passthrough
                    }
                    return
                }
                // Bytes past the head's end go round the loop again as body or next request.
                position += end - before
                let head = Array(held[0..<end])
                held = []
                scanned = 0
                lineStart = 0
                sawRequestLine = false
                forward(head: head, into: &output)
            }
        }
    }

    /// The client closed its side: a partial head goes to MHD as it is, to judge.
    mutating func finish(into output: inout [UInt8]) {
        guard state == .head, !held.isEmpty else { return }
        output.append(contentsOf: held)
        held = []
        state = .passthrough
    }

    // MARK: - Heads

    /// The offset just past the empty line that ends the head in `held`, if it has come.
    /// Lines end with CRLF, LF or a lone CR, as MHD 0.9.75 splits them; a CR at the very
    /// end waits for the next byte to tell which.
    private mutating func headEnd() -> Int? {
        var start = lineStart
        var i = scanned
        while i < held.count {
            let byte = held[i]
            guard byte == 0x0D || byte == 0x0A else {
                i += 1
                continue
            }
            var next = i + 1
            if byte == 0x0D {
                guard next < held.count else { break }
                if held[next] == 0x0A { next += 1 }
            }
            if i == start {
                if sawRequestLine { return next }
            } else {
                sawRequestLine = true
            }
            start = next
            i = next
        }
        lineStart = start
        scanned = i
        return nil
    }

    /// One header field: where its lines lie in the head (continuation lines included),
    /// its lower-cased name and its value with leading whitespace removed.
    private struct Field {
        var lines: Range<Int>
        var name: String
        var value: [UInt8]
    }

    private mutating func forward(head: [UInt8], into output: inout [UInt8]) {
        let lines = Self.lines(of: head)
        // The request line is the first non-empty one; the head ends with an empty line.
        guard let requestLine = lines.firstIndex(where: { !$0.content.isEmpty }) else {
            output.append(contentsOf: head)
            return
        }
        var fields: [Field] = []
        for index in (requestLine + 1)..<(lines.count - 1) {
            let content = head[lines[index].content]
            if let first = content.first, first == 0x20 || first == 0x09 {
                // An obsolete folded line continues the previous field's value.
                if !fields.isEmpty {
                    fields[fields.count - 1].lines = fields[fields.count - 1].lines.lowerBound..<(index + 1)
                    fields[fields.count - 1].value += [0x20] + Self.trimmedLeading(content)
                }
                continue
            }
            // A line without a colon is no field; MHD answers it.
            guard let colon = content.firstIndex(of: 0x3A) else { continue }
            let name = String(decoding: head[content.startIndex..<colon], as: UTF8.self).lowercased()
            fields.append(Field(lines: index..<(index + 1), name: name,
                                value: Self.trimmedLeading(head[(colon + 1)..<content.endIndex])))
        }

        let marker = Self.marker.lowercased()
        var dropped = fields.filter { $0.name == marker }.map(\.lines)
        var added: [String] = []
        var next = State.head
        let lengths = fields.filter { $0.name == "content-length" }
        if let coding = fields.first(where: { $0.name == "transfer-encoding" }) {
            // MHD reads the first Transfer-Encoding and then ignores Content-Length.
            next = Self.isChunked(coding.value) ? .chunkSize(value: 0, digits: false, ended: false) : .passthrough
        } else if !lengths.isEmpty {
            switch Self.judge(lengths.map(\.value)) {
            case .success(let length):
                // Canonical: one field, digits only (MHD refuses "5 " and is unclear on repeats).
                if lengths.count > 1 || lengths[0].value != Array(String(length).utf8) {
                    dropped += lengths.map(\.lines)
                    added.append("Content-Length: \(length)")
                }
                if length > 0 { next = .body(remaining: length) }
            case .failure(let fault):
                dropped += lengths.map(\.lines)
                added += ["Content-Length: 0", "\(Self.marker): \(fault.rawValue)"]
                next = .refused
            }
        }

        if dropped.isEmpty && added.isEmpty {
            output.append(contentsOf: head)
        } else {
            for (index, line) in lines.enumerated().dropLast() where !dropped.contains(where: { $0.contains(index) }) {
                output.append(contentsOf: head[line.whole])
            }
            for field in added { output.append(contentsOf: Array((field + "\r\n").utf8)) }
            output.append(contentsOf: head[lines[lines.count - 1].whole])
        }
        state = next
    }

    /// What `headEnd` found, line by line: each line's content and its extent with its end.
    private static func lines(of head: [UInt8]) -> [(content: Range<Int>, whole: Range<Int>)] {
        var result: [(content: Range<Int>, whole: Range<Int>)] = []
        var start = 0
        var i = 0
        while i < head.count {
            let byte = head[i]
            guard byte == 0x0D || byte == 0x0A else {
                i += 1
                continue
            }
            var next = i + 1
            if byte == 0x0D, next < head.count, head[next] == 0x0A { next += 1 }
            result.append((start..<i, start..<next))
            start = next
            i = next
        }
        return result
    }

    private static func trimmedLeading(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        Array(bytes.drop { $0 == 0x20 || $0 == 0x09 })
    }

    private static func trimmed(_ bytes: [UInt8]) -> ArraySlice<UInt8> {
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }),
              let last = bytes.lastIndex(where: { !isSpace($0) }) else { return [] }
        return bytes[first...last]
    }

    private static func isChunked(_ value: [UInt8]) -> Bool {
        String(decoding: trimmed(value), as: UTF8.self).lowercased() == "chunked"
    }

    /// The one length all `values` agree on, or why they are refused.
    static func judge(_ values: [[UInt8]]) -> Result<UInt64, Fault> {
        var agreed: UInt64?
        var differ = false
        for value in values {
            let digits = trimmed(value)
            guard !digits.isEmpty, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let length = UInt64(String(decoding: digits, as: UTF8.self)) else {
                return .failure(.malformedLength)
            }
            if let agreed, agreed != length { differ = true }
            agreed = agreed ?? length
        }
        if differ { return .failure(.conflictingLengths) }
        guard let agreed else { return .failure(.malformedLength) }
        return .success(agreed)
    }

    // MARK: - Chunked bodies

    /// The state after one byte of chunk framing; anything unexpected hands the rest of
    /// the connection to MHD unchanged.
    private static func chunkFraming(after state: State, _ byte: UInt8) -> State {
        switch state {
        case .chunkSize(let value, let digits, let ended):
            switch byte {
            case 0x0A:
                guard digits else { return .passthrough }
                return value == 0 ? .trailers(lineIsEmpty: true) : .chunkData(remaining: value)
            case 0x0D:
                return .chunkSize(value: value, digits: digits, ended: true)
            case _ where ended:
                // Extensions and whitespace after the size are MHD's to judge, not ours to frame.
                return .chunkSize(value: value, digits: digits, ended: true)
            case 0x3B, 0x20, 0x09:
                return digits ? .chunkSize(value: value, digits: true, ended: true) : .passthrough
            default:
                guard let digit = hexValue(byte), value <= (UInt64.max >> 4) else { return .passthrough }
                return .chunkSize(value: value << 4 | UInt64(digit), digits: true, ended: false)
            }
        case .chunkDataEnd(let sawCR):
            if byte == 0x0A { return .chunkSize(value: 0, digits: false, ended: false) }
            return byte == 0x0D && !sawCR ? .chunkDataEnd(sawCR: true) : .passthrough
        case .trailers(let lineIsEmpty):
            if byte == 0x0A { return lineIsEmpty ? .head : .trailers(lineIsEmpty: true) }
            return byte == 0x0D ? .trailers(lineIsEmpty: lineIsEmpty) : .trailers(lineIsEmpty: false)
        default:
            return state
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }
}
