"""Lambda function stream_processor: entry point functions.stream_processor.handler.handler."""
