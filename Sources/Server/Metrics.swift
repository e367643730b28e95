import Engine
import Foundation
import HTTP
import Kernels

/// Prometheus metrics of the server and its engine, rendered in the text format.
final class Metrics: EngineObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var requestsByStatus: [String: Int] = [:]
    private var promptTokens = 0
    private var reusedPromptTokens = 0
    private var generatedTokens = 0
    private var finished: [String: Int] = [:]
    private var ttft = Histogram(bounds: [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30])
    private var perToken = Histogram(bounds: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5])
    private var latency = Histogram(bounds: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60])

    struct Histogram {
        let bounds: [Double]
        var counts: [Int]
        var sum = 0.0
        var count = 0
        init(bounds: [Double]) {
            self.bounds = bounds
            counts = Array(repeating: 0, count: bounds.count)
        }
        mutating func observe(_ v: Double) {
            for (i, b) in bounds.enumerated() where v <= b { counts[i] += 1 }
            sum += v
            count += 1
        }
        func render(_ name: String, help: String) -> String {
            var s = "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
            for (i, b) in bounds.enumerated() { s += "\(name)_bucket{le=\"\(b)\"} \(counts[i])\n" }
            s += "\(name)_bucket{le=\"+Inf\"} \(count)\n\(name)_sum \(sum)\n\(name)_count \(count)\n"
            return s
        }
    }

    func record(_ completion: HTTPCompletion) {
        let status = completion.status.map(String.init) ?? "none"
        let seconds = Double(completion.duration.components.seconds) + Double(completion.duration.components.attoseconds) * 1e-18
        lock.withLock {
            requestsByStatus[status, default: 0] += 1
            latency.observe(seconds)
        }
    }

    func sequenceStarted(promptTokens: Int, reusedTokens: Int, computedTokens: Int) {
        lock.withLock {
            self.promptTokens += promptTokens
            reusedPromptTokens += reusedTokens
        }
    }

    func tokenGenerated(interTokenSeconds: Double?, timeToFirstTokenSeconds: Double?) {
        lock.withLock {
            generatedTokens += 1
            if let t = interTokenSeconds { perToken.observe(t) }
            if let t = timeToFirstTokenSeconds { ttft.observe(t) }
        }
    }

    func sequenceFinished(_ reason: FinishReason) {
        lock.withLock { finished[reason.rawValue, default: 0] += 1 }
    }

    func render(engine: Engine?) -> String {
        // The engine's state first, outside our lock: the engine thread calls the observer
        // methods above (our lock) while it holds its own, so taking its lock inside ours
        // could deadlock a /metrics request with a running batch.
        let snapshot = engine?.snapshot()
        let routing = engine?.model.routerStats?.snapshot()
        lock.lock()
        defer { lock.unlock() }
        var s = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: Int)]) {
            s += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, value) in samples { s += "\(name)\(labels) \(value)\n" }
        }
        family("polycom_blas_info", "gauge", "The OpenBLAS kernel family matrix products run on (always 1).",
               [("{core=\"\(BLASCore.name)\"}", 1)])
        family("polycom_requests_total", "counter", "HTTP requests by status code.",
               requestsByStatus.sorted { $0.key < $1.key }.map { ("{status=\"\($0.key)\"}", $0.value) })
        family("polycom_prompt_tokens_total", "counter", "Prompt tokens of sequences started.", [("", promptTokens)])
        family("polycom_prompt_tokens_cached_total", "counter", "Prompt tokens taken from the prefix cache.",
               [("", reusedPromptTokens)])
        family("polycom_generation_tokens_total", "counter", "Tokens generated.", [("", generatedTokens)])
        family("polycom_sequences_finished_total", "counter", "Sequences finished by reason.",
               finished.sorted { $0.key < $1.key }.map { ("{reason=\"\($0.key)\"}", $0.value) })
        if let snap = snapshot {
            family("polycom_sequences_running", "gauge", "Sequences in the running batch.", [("", snap.running)])
            family("polycom_sequences_waiting", "gauge", "Sequences queued.", [("", snap.waiting)])
            family("polycom_kv_cache_bytes", "gauge", "KV-cache memory held (running sequences and prefix cache).",
                   [("", snap.kvCacheBytes)])
            family("polycom_prefix_cache_hits_total", "counter", "Sequences that reused a cached prefix.", [("", snap.prefixHits)])
        }
        if let routing {
            var samples: [(String, Int)] = []
            for (layer, counts) in routing.tokensPerExpert.enumerated() {
                for (expert, n) in counts.enumerated() { samples.append(("{layer=\"\(layer)\",expert=\"\(expert)\"}", n)) }
            }
            family("polycom_moe_expert_tokens_total", "counter", "Tokens routed to each expert of each MoE layer (the last layer routes only tokens whose logits are needed).", samples)
        }
        s += ttft.render("polycom_time_to_first_token_seconds", help: "Time from arrival to the first generated token.")
        s += perToken.render("polycom_time_per_output_token_seconds", help: "Time between consecutive generated tokens.")
        s += latency.render("polycom_request_duration_seconds", help: "HTTP request duration.")
        return s
    }
}
