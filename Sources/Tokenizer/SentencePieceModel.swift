/// The fields of a SentencePiece `ModelProto` (sentencepiece_model.proto) the conversion to a
/// tokenizer.json pipeline needs. Field numbers are the .proto's; absent fields take its defaults.
struct SentencePieceModel {
    /// `SentencePiece.Type`.
    enum PieceType: Int32 {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    struct Piece {
        let piece: String
        let score: Float
        let type: PieceType
    }

    /// `TrainerSpec.ModelType`.
    enum ModelType: Int32 {
        case unigram = 1, bpe = 2, word = 3, char = 4
        var name: String { ["Unigram", "BPE", "Word", "Char"][Int(rawValue) - 1] }
    }

    var pieces: [Piece] = []
    var modelType: ModelType = .unigram
    var byteFallback = false
    var unkPiece = "<unk>"

    /// Parses a serialized ModelProto (the bytes of tokenizer.model).
    init(bytes: [UInt8]) throws {
        do {
            var message = ProtobufReader(bytes[...])
            while let (field, value) = try message.next() {
                switch field {
                case 1: pieces.append(try Self.piece(value, index: pieces.count))
                case 2: try readTrainerSpec(value)
                default: break  // normalizer_spec (unused by the Llama conversion), denormalizer, self-test data
                }
            }
        } catch let error as ProtobufReader.Malformed {
            throw TokenizerError.malformedSentencePiece(error.description)
        }
        if pieces.isEmpty { throw TokenizerError.malformedSentencePiece("no pieces (is this a SentencePiece model?)") }
    }

    private static func piece(_ value: ProtobufReader.Value, index: Int) throws -> Piece {
        guard var message = value.message else { throw ProtobufReader.Malformed(description: "piece \(index) is not a message") }
        var text: String?
        var score: Float = 0
        var type = PieceType.normal
        while let (field, value) = try message.next() {
            switch field {
            case 1: text = value.string
            case 2: score = value.float ?? score
            // An enum value this reader does not know reads as the default, as in protobuf.
            case 3: type = value.int32.flatMap(PieceType.init(rawValue:)) ?? .normal
            default: break
            }
        }
        guard let text else { throw ProtobufReader.Malformed(description: "piece \(index) has no text") }
        return Piece(piece: text, score: score, type: type)
    }

    private mutating func readTrainerSpec(_ value: ProtobufReader.Value) throws {
        guard var message = value.message else { throw ProtobufReader.Malformed(description: "trainer_spec is not a message") }
        while let (field, value) = try message.next() {
            switch field {
            case 3:
                guard let raw = value.int32, let type = ModelType(rawValue: raw) else {
                    throw ProtobufReader.Malformed(description: "unknown model_type")
                }
                modelType = type
            case 35: byteFallback = value.bool ?? byteFallback
            case 45: unkPiece = value.string ?? unkPiece
            default: break
            }
        }
    }
}
