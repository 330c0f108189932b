"""Lambda function dlq_redriver: entry point functions.dlq_redriver.handler.handler."""
