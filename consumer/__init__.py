"""The stream service: consume reviews, score them in micro-batches, publish results (``sentiment-consumer``)."""
