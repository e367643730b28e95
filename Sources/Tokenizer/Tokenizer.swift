// The Tokenizer module: Hugging Face tokenizer.json in Swift (see issue 3).
