"""What drives the engine: the command line, the HTTP API with its dashboard, the Kafka
consumer. Each parses its input, calls the application and renders the answer."""
