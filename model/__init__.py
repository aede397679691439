"""The sentiment model: data readers, tokenizer, training, evaluation and the Predictor. Knows nothing of Kafka."""
