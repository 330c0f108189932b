"""Lambda function slow_api: entry point functions.slow_api.handler.handler."""
