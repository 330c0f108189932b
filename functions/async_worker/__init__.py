"""Lambda function async_worker: entry point functions.async_worker.handler.handler."""
