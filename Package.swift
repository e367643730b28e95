// swift-tools-version:5.9
import PackageDescription

// Kernels are compiled optimised even in debug builds: tests run real forward passes.
let kernelFlags: [CSetting] = [.unsafeFlags(["-O3"])]

let package = Package(
    name: "polycom",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "polycom", targets: ["polycom"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries, each reached through one thin Swift wrapper.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd",
                       providers: [.apt(["libmicrohttpd-dev"])]),
        .systemLibrary(name: "CJansson", pkgConfig: "jansson",
                       providers: [.apt(["libjansson-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),

        // Hand-written kernels BLAS lacks (bf16 weights, fused elementwise ops).
        .target(name: "PolyKernels", cSettings: kernelFlags),
        // The SIGBUS handler that turns reads of a truncated mapped file into counted faults.
        .target(name: "MappedFaults"),

        // Layers, bottom to top: Kernels → Checkpoint → Model → (Engine, Server, CLI).
        .target(name: "Kernels", dependencies: ["CBLAS", "PolyKernels"]),
        .target(name: "JSON", dependencies: ["CJansson"]),
        .target(name: "HTTP", dependencies: ["CMicroHTTPD"]),
        .target(name: "Checkpoint", dependencies: ["Kernels", "JSON", "MappedFaults"]),
        .target(name: "Tokenizer", dependencies: ["JSON"]),
        .target(name: "Model", dependencies: ["Kernels", "PolyKernels", "Checkpoint"]),
        .target(name: "Engine", dependencies: ["Model", "Tokenizer", "PolyKernels"]),
        .target(name: "Training", dependencies: ["Model", "Checkpoint", "Kernels", "PolyKernels", "Tokenizer", "JSON"]),
        .target(name: "Server", dependencies: ["Engine", "Model", "Checkpoint", "Kernels", "Tokenizer", "HTTP", "JSON"],
                exclude: ["Playground/web"]),  // the page's sources, embedded by tools/playground/embed.py
        // Benchmark scoring (HellaSwag, ARC, SciQ) in-process or against running servers.
        .target(name: "Evaluation", dependencies: ["Engine", "Model", "Tokenizer", "JSON", "CZlib"]),
        .executableTarget(name: "polycom", dependencies: [
            "Server", "Engine", "Evaluation", "Model", "Checkpoint", "Kernels", "Tokenizer", "JSON", "Training",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .target(name: "TestSupport", dependencies: ["Kernels", "Checkpoint", "Model"], path: "Tests/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "Model", "TestSupport"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "Model", "TestSupport"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "JSON"]),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Checkpoint", "TestSupport"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Model", "Tokenizer", "JSON", "TestSupport"]),
        .testTarget(name: "ServerTests", dependencies: ["Server", "Engine", "Model", "Kernels", "Tokenizer", "JSON", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Model", "Checkpoint", "Kernels", "PolyKernels", "Tokenizer", "JSON", "TestSupport"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Engine", "Model", "Tokenizer", "JSON", "Server", "TestSupport"]),
        .testTarget(name: "polycomTests", dependencies: ["polycom", "Training", "Model", "Checkpoint", "Kernels", "JSON", "Server", "Tokenizer", "TestSupport"]),
    ]
)

// `make fuzz` only (POLYCOM_FUZZ=1, its own build path): libFuzzer targets, built with
// -sanitize=fuzzer,address. Absent from ordinary builds, which have no libFuzzer main.
if Context.environment["POLYCOM_FUZZ"] != nil {
    let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
        ("safetensors", ["Checkpoint", "Kernels"]), ("config", ["Checkpoint", "Model"]), ("tokenizer", ["Tokenizer"]),
        ("completions", ["Server", "Tokenizer"]), ("loglikelihood", ["Server", "Engine", "Tokenizer"]), ("http", ["HTTP"]),
        ("eval-rows", ["Evaluation"]), ("training-data", ["Training", "Tokenizer"]),
    ]
    package.targets.append(.target(name: "FuzzSupport", path: "tools/fuzz/Support"))
    package.targets += fuzzTargets.map { t in
        .executableTarget(name: "fuzz-" + t.name, dependencies: t.dependencies + ["FuzzSupport"], path: "tools/fuzz/" + t.name,
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])])
    }
}
