"""Lambda function delivery: entry point functions.delivery.handler.handler."""
