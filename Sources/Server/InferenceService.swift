import Checkpoint
import Engine
import Foundation
import HTTP
import JSON
import Kernels
import Model
import Tokenizer

/// Server settings (the `polycom serve` flags).
public struct ServerOptions: Sendable {
    public var host = "127.0.0.1"
    public var port: UInt16 = 8000
    public var apiKey: String?
    public var servedModelName: String?
    public var maxBodyBytes = 8 << 20
    /// Open connections before idle ones are closed to make room, then 503 (see HTTP's
    /// `ConnectionTable`); /health is served regardless.
    public var maxConnections = 256
    /// Seconds a client has to send a whole request (headers and body), counted from the
    /// connection opening or the previous response: total time, not per byte.
    public var requestTimeoutSeconds: Double = 30
    /// Longest prompt one completion may have, in tokens; nil: the model's context length.
    public var maxPromptTokens: Int?
    /// Most tokens one completion request may generate: prompts × best_of × max_tokens.
    public var maxGeneratedTokens = 65_536
    /// Largest `logprobs` (alternatives per position) a completion may ask for.
    public var maxLogprobs = 20
    /// `.copied` (`--no-mmap`) reads the weights into private memory, immune to the files
    /// changing underneath; `.mapped` refuses requests once a file changed.
    public var weightLoading: WeightLoading = .mapped
    /// Most (context, continuation) pairs in one /v1/loglikelihood body.
    public var maxLoglikelihoodItems = 100_000
    /// One line per finished request on the log: method, path, status, milliseconds.
    public var logRequests = false
    public var engine = EngineOptions()
    /// Threads and product paths of the model.
    public var compute = ComputeOptions()
    /// A PEFT LoRA adapter folder merged into the model at load.
    public var lora: String?
    public init() {}
}

/// The HTTP front of one model: routes, auth, readiness, metrics. The model loads in the
/// background while /health answers 503; a drain (SIGTERM) turns new work away with 503.
public final class InferenceService: @unchecked Sendable {
    public let options: ServerOptions
    public let modelPath: String
    public let modelId: String
    let metrics = Metrics()
    private let lock = NSLock()
    private var engine: Engine?
    private var weights: WeightsWatch?
    private var loadError: String?
    private var draining = false
    private var _tokenizer: Tokenizer?
    private var server: HTTPServer?
    /// Where log lines go (stderr); set before `start()`.
    public var log: @Sendable (String) -> Void = { FileHandle.standardError.write(($0 + "\n").data(using: .utf8)!) }

    public init(modelPath: String, options: ServerOptions) {
        self.options = options
        self.modelPath = modelPath
        modelId = options.servedModelName ?? URL(fileURLWithPath: modelPath).standardizedFileURL.lastPathComponent
    }

    var tokenizer: Tokenizer { lock.withLock { _tokenizer! } }
    var maxModelLength: Int { lock.withLock { engine?.maxModelLength ?? 0 } }

    /// Starts listening at once; returns the bound port.
    @discardableResult
    public func start() throws -> UInt16 {
        var config = HTTPServerConfiguration()
        config.host = options.host
        config.port = options.port
        config.maxBodyBytes = options.maxBodyBytes
        config.maxConnections = options.maxConnections
        config.overflowConnections = max(16, options.maxConnections / 4)
        config.requestTimeoutSeconds = options.requestTimeoutSeconds
        config.alwaysServedPaths = ["/health"]
        config.overloadedResponse = { [maxConnections = options.maxConnections] in
            APIError.unavailable("the server has \(maxConnections) connections open (--max-connections); retry later").response
        }
        config.bodyTooLargeResponse = { limit in
            APIError(status: 413, type: "invalid_request_error", message: "the request body exceeds \(limit) bytes").response
        }
        config.malformedRequestResponse = { APIError.badRequest($0).response }
        let logRequests = options.logRequests, log = self.log
        let server = try HTTPServer(configuration: config, onComplete: { [metrics] completion in
            metrics.record(completion)
            if logRequests {
                let ms = Double(completion.duration.components.seconds) * 1e3 + Double(completion.duration.components.attoseconds) * 1e-15
                log(String(format: "%@ %@ %@ %.1f ms", completion.method, completion.path,
                           completion.status.map(String.init) ?? "-", ms))
            }
        }) { [unowned self] request in
            self.route(request)
        }
        lock.withLock { self.server = server }
        return server.port
    }

    /// Loads tokenizer and model (blocking); /health turns 200 when done. `prepare` sees the
    /// model before its engine starts (the CLI sets OpenBLAS's threads from it).
    public func load(prepare: (DecoderModel) -> Void = { _ in }) throws {
        do {
            let started = Date()
            let folder = try CheckpointFolder(path: modelPath, loading: options.weightLoading)
            let watch = WeightsWatch(folder.files, loading: options.weightLoading, log: log)
            // A file cut while a forward pass reads it: zeros and a counted fault, checked
            // after the pass (the engine's `weightsFault`), instead of the process dying.
            if options.weightLoading == .mapped { try MappedFaultGuard.install() }
            let model = try Architectures.load(folder, options: options.compute, adapter: options.lora)
            prepare(model)
            let tokenizer = try Tokenizer(path: modelPath)
            let stops = stopTokenIds(config: model.config, generationConfig: try GenerationConfig.load(folder: modelPath),
                                     tokenizerEOS: tokenizer.eosTokenId)
            let engine = Engine(model: model, options: options.engine, eosTokenIds: stops,
                                weightsFault: { watch.readFault() })
            engine.observer = metrics
            engine.start()
            let fullContext = engine.maxModelLength * engine.bytesPerPosition
            if engine.kvBudget < fullContext {
                log("warning: the KV-cache budget, \(ByteCount(engine.kvBudget)), holds \(engine.kvBudget / engine.bytesPerPosition) "
                    + "positions, less than one full context of \(engine.maxModelLength) positions (\(ByteCount(fullContext))); "
                    + "requests whose prompt + max_tokens need more are refused (raise --kv-cache-gib)")
            }
            lock.withLock {
                _tokenizer = tokenizer
                weights = watch
                self.engine = engine
            }
            log(String(format: "loaded %@ (%@, %d layers, vocab %d) in %.2f s", modelId, model.config.modelType,
                       model.config.numHiddenLayers, model.config.vocabSize, Date().timeIntervalSince(started)))
        } catch {
            lock.withLock { loadError = "\(error)" }
            throw error
        }
    }

    public var port: UInt16? { lock.withLock { server?.port } }

    /// Graceful stop: refuse new work, let in-flight requests finish, stop the engine.
    public func drainAndStop(grace: Double = 30) {
        let (server, engine) = lock.withLock { () -> (HTTPServer?, Engine?) in
            draining = true
            return (self.server, self.engine)
        }
        // Plain completions and scoring wait for the engine inside their handlers, and the
        // stop joins the threads they hold: at the grace the engine stops, cancelling their
        // sequences, and they get half a second more to answer before connections close.
        if let engine { DispatchQueue.global().asyncAfter(deadline: .now() + grace) { engine.shutdown() } }
        server?.stop(grace: grace + 0.5)
        engine?.shutdown()
    }

    func readyEngine() throws -> Engine {
        let (ready, watch) = try lock.withLock { () throws -> (Engine, WeightsWatch?) in
            if draining { throw APIError.unavailable("the server is shutting down") }
            if let loadError { throw APIError.unavailable("the model failed to load: \(loadError)") }
            guard let engine else { throw APIError.unavailable("the model is still loading") }
            return (engine, weights)
        }
        if let refusal = watch?.refusal() { throw refusal }
        return ready
    }

    func apiError(_ error: Error) -> APIError {
        switch error {
        case let e as APIError: return e
        case EngineError.queueFull(let n): return .tooManyRequests("too many requests waiting (\(n)); retry later")
        case EngineError.stopped: return .unavailable("the server is shutting down")
        case let e as EngineError: return .badRequest(e.description)
        default: return .internalError("\(error)")
        }
    }

    // MARK: routing

    typealias Handler = (HTTPRequest) throws -> HTTPResponse

    /// Path → (method → handler). Tokenizer routes answer at `/` and under `/v1`.
    private lazy var routes: [String: [String: Handler]] = {
        let completions = CompletionsEndpoint(service: self), scoring = LoglikelihoodEndpoint(service: self)
        let tok = TokenizerEndpoints(service: self)
        var r: [String: [String: Handler]] = [
            "/v1/completions": ["POST": completions.handle],
            "/v1/loglikelihood": ["POST": scoring.handle],
            "/v1/models": ["GET": { [unowned self] _ in try self.models() }],
            "/health": ["GET": { [unowned self] _ in try self.health() }],
            "/": ["GET": { _ in Playground.response }],
            "/playground": ["GET": { _ in Playground.response }],
            "/metrics": ["GET": { [unowned self] _ in
                HTTPResponse(headers: ["Content-Type": "text/plain; version=0.0.4"],
                             text: self.metrics.render(engine: self.lock.withLock { self.engine }))
            }],
        ]
        for prefix in ["", "/v1"] {
            r[prefix + "/tokenize"] = ["POST": { [unowned self] in _ = try self.readyEngine(); return try tok.tokenize($0) }]
            r[prefix + "/detokenize"] = ["POST": { [unowned self] in _ = try self.readyEngine(); return try tok.detokenize($0) }]
            r[prefix + "/tokenizer_info"] = ["GET": { [unowned self] in _ = try self.readyEngine(); return try tok.info($0) }]
        }
        return r
    }()

    /// Open without the API key: probes, and the playground page (it asks for the key).
    private static let open: Set<String> = ["/health", "/metrics", "/", "/playground"]

    func route(_ request: HTTPRequest) -> HTTPResponse {
        let path = request.path.count > 1 && request.path.hasSuffix("/") ? String(request.path.dropLast()) : request.path
        do {
            guard let methods = lock.withLock({ routes[path] }) else { throw APIError.notFound("no route for \(request.method) \(path)") }
            if let key = options.apiKey, !Self.open.contains(path) {
                guard request.headers["Authorization"] == "Bearer \(key)" else { throw APIError.unauthorized }
            }
            let method = request.method == "HEAD" ? "GET" : request.method
            guard let handler = methods[method] else { throw APIError.methodNotAllowed(request.method, path) }
            return try handler(request)
        } catch {
            return apiError(error).response
        }
    }

    /// 200 while requests are served; a change of copied weights on disk is reported in it.
    private func health() throws -> HTTPResponse {
        _ = try readyEngine()
        guard let change = lock.withLock({ weights })?.change() else { return jsonResponse(["status": "ok"]) }
        return jsonResponse(["status": "ok", "weights": .string("changed on disk since loaded (\(change)); serving the copy loaded at start")])
    }

    private func models() throws -> HTTPResponse {
        let engine = try readyEngine()
        let model: JSONValue = ["id": .string(modelId), "object": "model", "created": .int(Int(Date().timeIntervalSince1970)),
                                "owned_by": "polycom", "root": .string(modelPath), "parent": .null,
                                "max_model_len": .int(engine.maxModelLength)]
        return jsonResponse(["object": "list", "data": [model]])
    }
}
