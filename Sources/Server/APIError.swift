import HTTP
import JSON

/// An error answered in the OpenAI envelope:
/// `{"error": {"message", "type", "param", "code"}}`.
public struct APIError: Error, CustomStringConvertible, Sendable {
    public let status: Int
    public let type: String
    public let message: String
    public let param: String?

    public init(status: Int, type: String, message: String, param: String? = nil) {
        self.status = status
        self.type = type
        self.message = message
        self.param = param
    }

    public var description: String { "\(status) \(type): \(message)" }

    public static func badRequest(_ message: String, param: String? = nil) -> APIError {
        APIError(status: 400, type: "invalid_request_error", message: message, param: param)
    }
    public static let unauthorized = APIError(status: 401, type: "authentication_error", message: "invalid or missing API key")
    public static func notFound(_ message: String) -> APIError { APIError(status: 404, type: "not_found_error", message: message) }
    public static func methodNotAllowed(_ method: String, _ path: String) -> APIError {
        APIError(status: 405, type: "invalid_request_error", message: "method \(method) is not allowed on \(path)")
    }
    public static func tooManyRequests(_ message: String) -> APIError { APIError(status: 429, type: "rate_limit_error", message: message) }
    public static func internalError(_ message: String) -> APIError { APIError(status: 500, type: "server_error", message: message) }
    public static func unavailable(_ message: String) -> APIError { APIError(status: 503, type: "service_unavailable", message: message) }

    public var json: JSONValue {
        ["error": ["message": .string(message), "type": .string(type), "param": param.map { .string($0) } ?? .null,
                   "code": .int(status)]]
    }

    public var response: HTTPResponse { jsonResponse(json, status: status) }
}

func jsonResponse(_ value: JSONValue, status: Int = 200) -> HTTPResponse {
    HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: Array(value.serialized().utf8))
}
