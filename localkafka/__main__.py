from localkafka.cli import entry

entry()
