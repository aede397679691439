"""Send reviews to the input topic from files, stdin or the command line (``sentiment-producer``)."""
